"""Mel-consistent sampling: the vocoder's x0 prediction made to agree with the mel it was asked for.

GLA-Grad (Liu et al. 2024, arXiv:2402.15516) puts Griffin-Lim's projections into the reverse
diffusion: at each step the predicted clean waveform x0 is moved onto signals whose spectrogram
fits the condition.  Here the constraint is the conditioning mel itself.  Each iteration takes
the STFT of x0 (the front end's window and hop, framed as the front end frames; see
``FrontEnd.pad``), rescales every bin's magnitude by the mel filterbank's average of
target mel / current mel over the filters that cover the bin (one multiplicative update toward
F |X| = exp(log-mel), F the front end's filterbank), keeps the phase, and inverts the STFT.
Bins no filter covers (above f_max) keep the network's magnitudes.  Unlike the pseudo-inverse
the Griffin-Lim baseline starts from, the rescaling keeps the fine structure the network put
inside each mel band (harmonics); the network supplies what Griffin-Lim lacks (a phase
consistent with speech, the band above f_max), the constraint what an under-trained network
lacks (the spectral envelope the mel fixes).  ``momentum`` a > 0 is the fast Griffin-Lim of
Perraudin et al. (2013): the consistent spectrum t_n is extrapolated to t_n + a (t_n - t_(n-1)).

Settings (a model's ``sampling.mel_projection``, or ``vocode(mel_projection=...)``): ``iterations``
(>= 1), ``momentum`` in [0, 1), ``below``: only at steps with t <= below (t in [0, 1]).
"""
from __future__ import annotations

import torch

from zoo.core.parameterization import DenoiserWrapper, Prediction

__all__ = ["SETTINGS", "check_settings", "project", "MelProjection"]

SETTINGS = {"iterations": 32, "momentum": 0.99, "below": 1.0}


def check_settings(settings) -> dict:
    """A ``sampling.mel_projection`` mapping with every key known and in range, defaults filled in."""
    if not isinstance(settings, dict):
        raise ValueError(f"sampling.mel_projection must be a mapping of {sorted(SETTINGS)} or null, got {settings!r}")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f"sampling.mel_projection: unknown keys {unknown} (known: {sorted(SETTINGS)})")
    s = {**SETTINGS, **settings}
    if isinstance(s["iterations"], bool) or not isinstance(s["iterations"], int) or s["iterations"] < 1:
        raise ValueError(f"sampling.mel_projection.iterations must be an integer >= 1, got {s['iterations']!r}")
    if not isinstance(s["momentum"], (int, float)) or not 0.0 <= s["momentum"] < 1.0:
        raise ValueError(f"sampling.mel_projection.momentum must be in [0, 1), got {s['momentum']!r}")
    if not isinstance(s["below"], (int, float)) or not 0.0 <= s["below"] <= 1.0:
        raise ValueError(f"sampling.mel_projection.below must be in [0, 1], got {s['below']!r}")
    return {"iterations": s["iterations"], "momentum": float(s["momentum"]), "below": float(s["below"])}


def project(x0: torch.Tensor, mel: torch.Tensor, frontend, iterations: int = 32, momentum: float = 0.99
            ) -> torch.Tensor:
    """x0 (B, frames * hop) and its log-mel target (B, n_mels, frames) of ``frontend`` -> x0 after
    ``iterations`` mel-consistency iterations (see the module), same shape and dtype.  The STFT frames
    are the front end's (``frontend.pad`` samples reflected onto each end, no centring), so a signal whose
    mel is ``mel`` (and above the log floor) is left as it is."""
    c = frontend.config
    if x0.dim() != 2 or mel.dim() != 3 or mel.shape[0] != x0.shape[0] or mel.shape[1] != c["n_mels"] \
            or x0.shape[-1] != mel.shape[-1] * c["hop_length"]:
        raise ValueError(f"project needs x0 (B, frames * {c['hop_length']}) and its log-mel (B, {c['n_mels']}, "
                         f"frames), got {tuple(x0.shape)} and {tuple(mel.shape)}")
    n_fft, hop, pad, length = c["n_fft"], c["hop_length"], frontend.pad, x0.shape[-1]
    window = torch.hann_window(c["win_length"], device=x0.device)
    left = (n_fft - len(window)) // 2  # a shorter window sits in the middle of the frame, as torch.stft puts it
    window = torch.nn.functional.pad(window, (left, n_fft - len(window) - left))
    filters = frontend.filterbank.to(x0.device)  # (n_fft // 2 + 1, n_mels)
    covered = filters.sum(1)[:, None]  # (bins, 1): 0 above f_max
    target = mel.float().exp().to(x0.device)
    frames = mel.shape[-1]
    span = (frames - 1) * hop + n_fft  # the padded samples the frames cover
    fold = dict(output_size=(1, span), kernel_size=(1, n_fft), stride=(1, hop))
    envelope = torch.nn.functional.fold((window ** 2)[None, :, None].expand(1, n_fft, frames), **fold)[0, 0, 0]

    def onto_mel(spec):  # the mel constraint: each bin's magnitude rescaled, its phase kept
        mel_now = torch.einsum("fm,bft->bmt", filters, spec.abs()).clamp_min(1e-8)
        gain = torch.einsum("fm,bmt->bft", filters, target / mel_now) / covered.clamp_min(1e-12)
        return spec * torch.where(covered > 0, gain, torch.ones_like(gain))

    def spectrum(samples):  # (B, length) -> (B, bins, frames), the front end's frames
        padded = torch.nn.functional.pad(samples[:, None], (pad, pad), mode="reflect")[:, 0]
        return torch.stft(padded[:, :span], n_fft, hop, window=window, center=False, return_complex=True)

    def waveform(spec):  # least-squares inverse: windowed overlap-add over the window's squared envelope
        pieces = torch.fft.irfft(spec, n=n_fft, dim=1) * window[:, None]
        added = torch.nn.functional.fold(pieces, **fold)[:, 0, 0]
        return (added / envelope.clamp_min(1e-8))[:, pad: pad + length]

    consistent = extrapolated = spectrum(x0.float())
    for _ in range(iterations - 1):
        previous, consistent = consistent, spectrum(waveform(onto_mel(extrapolated)))
        extrapolated = consistent + momentum * (consistent - previous) if momentum else consistent
    return waveform(onto_mel(extrapolated)).to(x0.dtype)


class MelProjection(DenoiserWrapper):
    """A denoiser whose x0 (B, frames * hop) is ``project``-ed onto ``mel`` (B, n_mels, frames) at the steps
    with t <= ``settings["below"]``; the noise estimate follows from x.  ``settings``: see ``check_settings``."""

    def __init__(self, base, mel: torch.Tensor, frontend, settings: dict):
        super().__init__(base)
        self.mel, self.frontend, self.settings = mel, frontend, check_settings(settings)

    def __call__(self, x, t, **cond) -> Prediction:
        pred = self.base(x, t, **cond)
        if float(torch.as_tensor(t).max()) > self.settings["below"]:
            return pred
        return pred.with_x0(project(pred.x0, self.mel, self.frontend, self.settings["iterations"],
                                    self.settings["momentum"]))
