"""PriorGrad's data-dependent prior for a vocoder (Lee et al. 2022): noise N(0, diag(s)) with s from the mel.

s at each frame is the frame's energy, mean over mel bins of exp(log-mel)^2, divided by a reference energy
of the training data (its 99th percentile over frames, measured once and stored in the config's ``prior``),
clipped to [floor, 1] (the paper's floor: 0.1), and held over the frame's ``hop`` samples.  Loud frames get
unit variance, silence the floor: the noise already has the speech's envelope, so the network learns less.
"""
from __future__ import annotations

import torch

__all__ = ["frame_energy", "reference_energy", "prior_std"]

QUANTILE = 0.99


def frame_energy(mel: torch.Tensor) -> torch.Tensor:
    """Energy (B, frames) of log-mels (B, n_mels, frames): the mean over bins of the squared magnitude."""
    return mel.float().exp().pow(2).mean(-2)


def reference_energy(mels: torch.Tensor) -> float:
    """The energy a conditional prior is normalised by: the 99th percentile of the frames of mels (B, n_mels, F)."""
    return float(torch.quantile(frame_energy(mels).flatten(), QUANTILE))


def prior_std(mel: torch.Tensor, settings: dict, hop: int) -> torch.Tensor:
    """The prior's standard deviation (B, frames * hop) for log-mels (B, n_mels, frames); ``settings``: the
    config's ``prior`` (``floor``, ``energy``)."""
    variance = (frame_energy(mel) / float(settings["energy"])).clamp(float(settings["floor"]), 1.0)
    return variance.sqrt().repeat_interleave(hop, dim=-1)
