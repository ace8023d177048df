"""AudioModel: a ZooModel that vocodes mels, resynthesizes recordings and samples audio.

Sampling runs through the core; ``timesteps`` also takes two DiffWave names: ``"fast"``
(the paper's 6-level inference table, continuous noise labels between training steps) and
``"training"`` (every level of the training table, i.e. ``linspace`` with as many steps).
Long inputs are vocoded in chunks of ``chunk_frames`` frames, each seeing ``context`` extra
frames on both sides, and cross-faded over the context: memory stays bounded by the chunk.
"""
from __future__ import annotations

import torch
import torchaudio

from zoo import core
from zoo.model import ZooModel

from .frontend import FrontEnd

__all__ = ["AudioModel", "FAST_BETAS", "TABLES"]

FAST_BETAS = (0.0001, 0.001, 0.01, 0.05, 0.2, 0.5)  # DiffWave's 6-step inference table (Kong et al. 2021, T_infer = 6)
TABLES = ("fast", "training")  # the DiffWave tables ``timesteps`` names: each fixes its own number of steps
LOG_MEL_CEILING = 8.0  # log-magnitudes above this mean dB, log10 or unnormalised input, not our front end


class AudioModel(ZooModel):
    """config["frontend"]: the mel front end (see frontend.py); config["network"]["unconditional"]: no mel."""

    def __init__(self, network, config: dict):
        super().__init__(network, config)
        if "frontend" not in self.config:
            raise ValueError("an audio model config needs a 'frontend' (the mel front end it was trained with)")
        self.frontend = FrontEnd(self.config["frontend"])
        self.config["frontend"] = self.frontend.config

    @property
    def sample_rate(self) -> int:
        return self.frontend.sample_rate

    @property
    def conditional(self) -> bool:
        return not self.config.get("network", {}).get("unconditional", False)

    def _grid(self, steps, timesteps):
        defaults = self.config.get("sampling", {})
        timesteps = timesteps if timesteps is not None else defaults.get("timesteps")
        if isinstance(timesteps, str) and timesteps == "fast":
            return len(FAST_BETAS), core.timesteps.tabulated(self.schedule, betas=FAST_BETAS)
        if isinstance(timesteps, str) and timesteps == "training":
            return self.schedule.num_steps, "linspace"
        return steps or defaults.get("steps", 6), timesteps

    @torch.no_grad()
    def _run(self, x_T, *, steps, sampler, timesteps, generator, cond=None, return_info=False, **options):
        steps, timesteps = self._grid(steps, timesteps)
        sampler = sampler or self.config.get("sampling", {}).get("sampler", "ddpm")
        was_training = self.training
        self.eval()
        try:
            return core.sample(self.denoiser(), x_T, sampler=sampler, steps=steps, timesteps=timesteps,
                               generator=generator, cond=cond, return_info=return_info, **options)
        finally:
            self.train(was_training)

    def check_mel(self, mel: torch.Tensor, frontend: dict | None = None) -> torch.Tensor:
        """mel (n_mels, frames) or (B, n_mels, frames) as a float tensor, refused with the reason when it
        does not fit this model's front end (bins, value range, or the producer's front end settings)."""
        mel = torch.as_tensor(mel)
        if not mel.is_floating_point() or mel.dim() not in (2, 3):
            raise ValueError(f"mel must be a float tensor (n_mels, frames) or (B, n_mels, frames), got "
                             f"{mel.dtype} of shape {tuple(mel.shape)}")
        if mel.shape[-1] < 1:
            raise ValueError("mel has no frames")
        ours = self.frontend.config
        if frontend is not None:
            differ = {k: (frontend[k], ours[k]) for k in ours if k != "hash" and k in frontend and frontend[k] != ours[k]}
            if differ:
                raise ValueError("the mel's front end differs from this model's: " +
                                 ", ".join(f"{k} {a!r} (model: {b!r})" for k, (a, b) in differ.items()))
        bins = mel.shape[-2]
        if bins != ours["n_mels"]:
            hint = " (a (frames, n_mels) array needs transposing)" if mel.shape[-1] == ours["n_mels"] else ""
            raise ValueError(f"mel has {bins} bins; this model's front end has {ours['n_mels']}{hint}")
        low, high = float(mel.min()), float(mel.max())
        if low < self.frontend.log_floor - 1e-3 or high > LOG_MEL_CEILING:
            raise ValueError(f"mel values span [{low:.2f}, {high:.2f}]; this model's front end gives natural-log "
                             f"magnitudes in [{self.frontend.log_floor:.2f}, about 4] (log(clamp(x, "
                             f"{ours['log_clamp']}))): dB, log10 or a different clamp do not fit")
        return mel.float()

    def vocode(self, mel, *, steps: int | None = None, sampler: str | None = None, timesteps=None,
               generator: torch.Generator | None = None, frontend: dict | None = None, chunk_frames: int = 128,
               context: int = 12, return_info: bool = False, **options):
        """mel (n_mels, frames) or (B, n_mels, frames) -> waveform (frames * hop,) or (B, frames * hop);
        with ``return_info``, also the sampler's info of the last chunk (every chunk takes the same steps)."""
        if not self.conditional:
            raise ValueError(f"{self.name} is unconditional: use sample(n, seconds=...), not vocode")
        mel = self.check_mel(mel, frontend)
        single = mel.dim() == 2
        mel = (mel[None] if single else mel).to(next(self.network.parameters()).device)
        batch, _, frames = mel.shape
        hop = self.frontend.hop
        noise = self._noise((batch, frames * hop), generator)
        out = torch.zeros(batch, frames * hop, device=mel.device)
        weight = torch.zeros(frames * hop, device=mel.device)
        for start in range(0, frames, chunk_frames):
            lo, hi = max(0, start - context), min(frames, start + chunk_frames + context)
            piece = mel[..., lo:hi]
            cond = {"conditioner": self.network.condition(piece.to(next(self.network.parameters()).dtype))}
            x, info = self._run(noise[:, lo * hop: hi * hop], steps=steps, sampler=sampler, timesteps=timesteps,
                                generator=generator, cond=cond, return_info=True, **options)
            ramp = _crossfade(hi - lo, start - lo, min(frames, start + chunk_frames) - lo, context, hop).to(out.device)
            out[:, lo * hop: hi * hop] += x.float() * ramp
            weight[lo * hop: hi * hop] += ramp
        out = out / weight.clamp_min(1e-8)
        out = out[0] if single else out
        return (out, info) if return_info else out

    def resynthesize(self, waveform, sample_rate: int, **options) -> torch.Tensor:
        """waveform (T,) or (B, T) at ``sample_rate`` -> the model's reconstruction at its own rate, same duration
        (the input is resampled, padded to whole frames, vocoded, and trimmed back); ``options`` go to ``vocode``
        (``return_info=True``: also the sampler's info)."""
        waveform = torch.as_tensor(waveform, dtype=torch.float32)
        if waveform.dim() not in (1, 2):
            raise ValueError(f"waveform must be (T,) or (B, T) (mono), got shape {tuple(waveform.shape)}")
        if not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if sample_rate != self.sample_rate:
            waveform = torchaudio.functional.resample(waveform, sample_rate, self.sample_rate)
        length, hop = waveform.shape[-1], self.frontend.hop
        padded = torch.nn.functional.pad(waveform, (0, (-length) % hop))
        out = self.vocode(self.frontend(padded), **options)
        if options.get("return_info"):
            return out[0][..., :length], out[1]
        return out[..., :length]

    def _noise(self, shape, generator):
        z = torch.randn(shape, generator=generator, dtype=torch.float32)
        param = next(self.network.parameters())
        return (z * float(self.schedule.sigma(self.schedule.t_max))).to(param.device, param.dtype)

    def sample(self, n: int = 1, *, seconds: float | None = None, steps: int | None = None, sampler: str | None = None,
               timesteps=None, generator: torch.Generator | None = None, return_info: bool = False, **options):
        """n unconditional clips (n, seconds * sample_rate); a vocoder needs a mel: use vocode/resynthesize."""
        if self.conditional:
            raise ValueError(f"{self.name} is a mel vocoder: call vocode(mel) or resynthesize(waveform, sr)")
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        length = self.sample_shape[0] if seconds is None else int(round(seconds * self.sample_rate))
        if length < 1:
            raise ValueError(f"seconds must be positive, got {seconds!r}")
        return self._run(self._noise((n, length), generator), steps=steps, sampler=sampler, timesteps=timesteps,
                         generator=generator, return_info=return_info, **options)


def _crossfade(length_frames: int, keep_lo: int, keep_hi: int, context: int, hop: int) -> torch.Tensor:
    """Weights (length_frames * hop,) for one chunk that owns frames [keep_lo, keep_hi) and sees ``context``
    more on each side: 1 inside, linear ramps across the inner half of the context around each boundary
    (so neighbouring chunks sum to 1 there), 0 over the outer half, where the chunk's edge shows."""
    t = torch.arange(length_frames * hop, dtype=torch.float32) / hop
    half = max(context / 2, 1 / hop)
    rise = ((t - (keep_lo - half / 2)) / half).clamp(0, 1) if keep_lo > 0 else torch.ones_like(t)
    fall = (((keep_hi + half / 2) - t) / half).clamp(0, 1) if keep_hi < length_frames else torch.ones_like(t)
    return torch.minimum(rise, fall)
