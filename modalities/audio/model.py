"""AudioModel: a ZooModel that vocodes mels, resynthesizes recordings and samples audio.

Sampling runs through the core; ``timesteps`` also takes three table names: ``"fast"``
(DiffWave's 6-level inference table, continuous noise labels between training steps),
``"training"`` (every level of the training table, i.e. ``linspace`` with as many steps) and
``"fitted"`` (the grid ``zoo fit-grid`` fitted to this model, ``sampling.fitted_grid`` in its config).
Long inputs are vocoded in chunks of ``chunk_frames`` frames, each seeing ``context`` extra
frames on both sides, and cross-faded over the context: memory stays bounded by the chunk.
``vocode_stream`` and ``resynthesize_stream`` take their input in pieces and yield the output in
pieces (resampling and the mel front end stream too, see stream.py), so nothing the length of the
recording is held at once.  A vocoder may sample mel-consistently (projection.py, GLA-Grad's idea):
``sampling.mel_projection`` in its config, or ``vocode(..., mel_projection=...)``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from zoo import core
from zoo.model import ZooModel

from .projection import SETTINGS as PROJECTION, MelProjection, check_settings
from .frontend import FrontEnd
from .prior import prior_std
from .stream import Buffer, blocks_of, mel_stream, resample_stream

__all__ = ["AudioModel", "FAST_BETAS", "TABLES"]

FAST_BETAS = (0.0001, 0.001, 0.01, 0.05, 0.2, 0.5)  # DiffWave's 6-step inference table (Kong et al. 2021, T_infer = 6)
TABLES = ("fast", "training", "fitted")  # the tables ``timesteps`` names: each fixes its own number of steps
LOG_MEL_CEILING = 8.0  # log-magnitudes above this mean dB, log10 or unnormalised input, not our front end


class AudioModel(ZooModel):
    """config["frontend"]: the mel front end (see frontend.py); config["network"]["unconditional"]: no mel."""

    def __init__(self, network, config: dict):
        super().__init__(network, config)
        if "frontend" not in self.config:
            raise ValueError("an audio model config needs a 'frontend' (the mel front end it was trained with)")
        self.frontend = FrontEnd(self.config["frontend"])
        self.config["frontend"] = self.frontend.config
        if self.config.get("sampling", {}).get("mel_projection") is not None:  # refused here when bad, stored whole
            self.config["sampling"]["mel_projection"] = self._mel_projection(None)

    def _mel_projection(self, asked) -> dict | None:
        """The mel-projection settings to vocode with (projection.py): ``asked`` None: the config's
        ``sampling.mel_projection`` (null: none); False: none; True: the defaults; a mapping: those settings."""
        asked = self.config.get("sampling", {}).get("mel_projection") if asked is None else asked
        if asked is None or asked is False:
            return None
        return check_settings(PROJECTION if asked is True else asked)

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
        if isinstance(timesteps, str) and timesteps == "fitted":
            grid = defaults.get("fitted_grid")
            if not grid:
                raise ValueError(f"{self.name} has no fitted grid (sampling.fitted_grid): fit one with `zoo fit-grid "
                                 f"FOLDER`, or choose other timesteps")
            return len(grid) - 1, torch.tensor(grid, dtype=torch.float64)
        return steps or defaults.get("steps", 6), timesteps

    @torch.no_grad()
    def prior_std(self, cond: dict, settings: dict) -> torch.Tensor:
        """PriorGrad's std (B, frames * hop) from ``cond["mel"]`` (B, n_mels, frames) (see prior.py)."""
        if "mel" not in cond:
            raise ValueError(f"{self.name}'s conditional prior is a function of the mel; the condition has {sorted(cond)}")
        return prior_std(cond["mel"], settings, self.frontend.hop)

    @property
    def conditional_prior(self) -> bool:
        return isinstance(self.config.get("prior"), dict)

    @torch.no_grad()
    def _run(self, x_T, *, steps, sampler, timesteps, generator, cond=None, return_info=False, prior=None,
             projected: tuple[torch.Tensor, dict] | None = None, **options):
        """``projected``: (log-mel (B, n_mels, frames), settings): sample through ``MelProjection``."""
        steps, timesteps = self._grid(steps, timesteps)
        sampler = sampler or self.config.get("sampling", {}).get("sampler", "ddpm")
        denoiser = self.denoiser(prior)
        if projected is not None:
            denoiser = MelProjection(denoiser, projected[0], self.frontend, projected[1])
        was_training = self.training
        self.eval()
        try:
            return core.sample(denoiser, x_T, sampler=sampler, steps=steps, timesteps=timesteps,
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
        if not torch.isfinite(mel).all():
            frame = int((~torch.isfinite(mel)).flatten(0, -2).any(0).nonzero()[0])
            raise ValueError(f"mel holds NaN or infinite values (first at frame {frame})")
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
        """mel (n_mels, frames) or (B, n_mels, frames) -> waveform (frames * hop,) or (B, frames * hop); with
        ``return_info``, also the sampler's info of the last chunk (every chunk takes the same steps).  The
        same as joining ``vocode_stream([mel])``.  ``mel_projection`` (in ``options``): None, the config's
        ``sampling.mel_projection``; False, none; True, projection.SETTINGS; a mapping, those settings."""
        mel = self.check_mel(mel, frontend)
        single = mel.dim() == 2
        infos = []
        pieces = list(self._vocode_chunks([mel[None] if single else mel], steps=steps, sampler=sampler,
                                          timesteps=timesteps, generator=generator, chunk_frames=chunk_frames,
                                          context=context, infos=infos, **options))
        out = torch.cat(pieces, dim=-1)
        out = out[0] if single else out
        return (out, infos[-1]) if return_info else out

    def vocode_stream(self, mels: Iterable[torch.Tensor], *, frontend: dict | None = None, **options
                      ) -> Iterator[torch.Tensor]:
        """Pieces (B, n_mels, f_i) of one mel, in order (any split) -> its waveform in pieces (B, s_i), the same
        samples as ``vocode`` of the joined mel; holds a chunk and its context, whatever the length.
        ``options``: ``vocode``'s (steps, sampler, timesteps, generator, chunk_frames, context, ...)."""
        checked = (self.check_mel(piece if piece.dim() == 3 else piece[None], frontend) for piece in mels)
        yield from self._vocode_chunks(checked, **options)

    def _vocode_chunks(self, mels, *, steps=None, sampler=None, timesteps=None, generator=None, chunk_frames: int = 128,
                       context: int = 12, infos: list | None = None, mel_projection: dict | bool | None = None,
                       **options) -> Iterator[torch.Tensor]:
        """The chunked vocoder: chunk c owns frames [c C, (c + 1) C) (C = chunk_frames), sees ``context`` more
        on each side and is cross-faded over them.  The noise is drawn in blocks of C hop samples, in order (the
        last one cut at the end once the end is known), so overlapping chunks share it and the result does not
        depend on how the mel arrives."""
        if not self.conditional:
            raise ValueError(f"{self.name} is unconditional: use sample(n, seconds=...), not vocode")
        if not (isinstance(chunk_frames, int) and chunk_frames >= 1 and isinstance(context, int) and context >= 0):
            raise ValueError(f"chunk_frames must be an integer >= 1 and context >= 0, got {chunk_frames!r}, {context!r}")
        hop, size = self.frontend.hop, chunk_frames * self.frontend.hop
        projection = self._mel_projection(mel_projection)
        param = next(self.network.parameters())
        frames, noise, out, weight = Buffer(), {}, Buffer(), Buffer()  # frames, noise blocks, sums, weights

        def window(start: int, total: int | None) -> None:
            lo, hi = max(0, start - context), start + chunk_frames + context
            hi = hi if total is None else min(hi, total)
            piece = frames.get(lo, hi).to(param.device)
            for block in range(lo * hop // size, (hi * hop - 1) // size + 1):  # the noise blocks it reads, drawn in order
                while block not in noise:  # the last block stops at the end (a one-chunk mel: one draw, as long as it)
                    b = len(noise)
                    noise[b] = self._noise((piece.shape[0], size if total is None else min(size, total * hop - b * size)),
                                           generator)
            x_T = torch.cat([noise[b] for b in range(lo * hop // size, (hi * hop - 1) // size + 1)], dim=-1)
            x_T = x_T[:, lo * hop - (lo * hop // size) * size:][:, : (hi - lo) * hop]
            prior = None
            if self.conditional_prior:
                prior = core.priors.Diagonal(self.prior_std({"mel": piece}, self.config["prior"]))
                x_T = x_T * prior.std.to(x_T.dtype)
            cond = {"conditioner": self.network.condition(piece.to(param.dtype))}
            projected = (piece, projection) if projection else None
            x, info = self._run(x_T, steps=steps, sampler=sampler, timesteps=timesteps, generator=generator, cond=cond,
                                return_info=True, prior=prior, projected=projected, **options)
            if infos is not None:
                infos.append(info)
            owned_end = start + chunk_frames if total is None else min(total, start + chunk_frames)
            ramp = _crossfade(hi - lo, start - lo, owned_end - lo, context, hop).to(x.device)
            grow = hi * hop - out.end
            out.add(torch.zeros(x.shape[0], grow, device=x.device))
            weight.add(torch.zeros(1, grow, device=x.device))
            out.get(lo * hop, hi * hop).add_(x.float() * ramp)
            weight.get(lo * hop, hi * hop).add_(ramp)

        def emit(until: int) -> torch.Tensor:
            """The samples before ``until`` (no later window reaches them), normalised by their weights."""
            done = out.get(out.start, until) / weight.get(weight.start, until).clamp_min(1e-8)
            out.drop_before(until)
            weight.drop_before(until)
            for block in [b for b in noise if noise[b] is not None and (b + 1) * size <= until]:
                noise[block] = None  # never read again
            return done

        start = 0
        for piece in mels:
            frames.add(piece)
            while frames.end >= start + chunk_frames + context:
                window(start, None)
                start += chunk_frames
                frames.drop_before(start - context)
                if (start - context) * hop > out.start:
                    yield emit((start - context) * hop)
        total = frames.end
        if total == 0:
            raise ValueError("mel has no frames")
        while start < total:
            window(start, total)
            start += chunk_frames
        if out.end > out.start:
            yield emit(out.end)

    def resynthesize(self, waveform, sample_rate: int, **options) -> torch.Tensor:
        """waveform (T,) or (B, T) at ``sample_rate`` -> the model's reconstruction at its own rate, same duration
        (the input is resampled, padded to whole frames, vocoded, and trimmed back); ``options`` go to ``vocode``
        (``return_info=True``: also the sampler's info).  The same as joining ``resynthesize_stream``."""
        waveform = torch.as_tensor(waveform, dtype=torch.float32)
        if waveform.dim() not in (1, 2):
            raise ValueError(f"waveform must be (T,) or (B, T) (mono), got shape {tuple(waveform.shape)}")
        return_info, infos = options.pop("return_info", False), []
        single = waveform.dim() == 1
        out = torch.cat(list(self.resynthesize_stream(blocks_of(waveform[None] if single else waveform), sample_rate,
                                                      infos=infos, **options)), dim=-1)
        out = out[0] if single else out
        return (out, infos[-1]) if return_info else out

    def resynthesize_stream(self, blocks: Iterable[torch.Tensor], sample_rate: int, **options) -> Iterator[torch.Tensor]:
        """Blocks (B, t_i) of one recording at ``sample_rate`` -> its reconstruction in blocks (B, s_i) at the
        model's rate, ``stream.resampled_length`` samples in all; each stage (resampling, the mel, the vocoder)
        holds a few blocks, whatever the length.  ``options``: ``vocode``'s."""
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        hop, seen = self.frontend.hop, [0]

        def finite(stream):
            for block in stream:
                if not torch.isfinite(block).all():
                    raise ValueError("the waveform holds NaN or infinite samples")
                yield block

        def counted(stream):  # the resampled samples, then zeros to a whole number of hops
            for block in stream:
                seen[0] += block.shape[-1]
                yield block.float()
            if seen[0] % hop:
                yield torch.zeros(block.shape[0], hop - seen[0] % hop)

        blocks = finite(blocks)
        resampled = resample_stream(blocks, sample_rate, self.sample_rate) if sample_rate != self.sample_rate else blocks
        pieces = self._vocode_chunks(mel_stream(self.frontend, counted(resampled)), **options)
        done, held = 0, None
        for piece in pieces:  # one piece held back: the last one loses the padding
            if held is not None:
                done += held.shape[-1]
                yield held
            held = piece
        if held is not None:
            yield held[..., : seen[0] - done]

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
