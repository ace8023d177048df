"""Bits per audio sample of held-out clips, through the core's probability-flow ODE likelihood.

``log p(x)`` comes from ``zoo.core.log_likelihood`` (Hutchinson divergence estimate, dopri5 in
the ODE's angle variable) on the model's own denoiser and prior: for a vocoder the density is
conditional on the clip's mel (the network's ``conditioner``, computed once from the mel of the
whole clip, then cut to the frames of the crop, as vocoding the whole clip would see them); for
an unconditional model it is the plain density.

The clips are the first ``CLIPS`` held-out utterances of the model's data file (the fixed split
of data.py), each cropped to its centre ``CROP_FRAMES`` frames of the front end (22 x 256 = 5,632
samples, 0.26 s at 22,050 Hz; the crop starts on a frame boundary).  Short crops and loose
tolerances keep the cost small (30-45 CPU-seconds per released model on one thread, 43-49 network
evaluations with their backward passes); they are the protocol, given in the results.  Measured
on audio/diffwave: another probe seed moves the mean by 0.02 bits, rtol = atol = 1e-4 by 0.004.

Bits per sample treat the clips as 16-bit audio: a density over [-1, 1] turned into the
probability of one quantisation bin of width 2 / 2^16 is ``p * 2^-15``, so
``bits = -log p / (T ln 2) + 15`` (``zoo.core.likelihood.bits_per_dim`` with offset 15).  The
stored clips are int16 / 32767, so the bin is 1 / 32767 and the exact offset 14.99996: the
difference is below the estimator's noise.  No dequantisation noise is added.
"""
from __future__ import annotations

import torch

from zoo import core
from zoo.evaluation import ode_progress

__all__ = ["CLIPS", "CROP_FRAMES", "RTOL", "ATOL", "PROBES", "BITS", "centre_crops", "log_likelihood",
           "bits_per_sample"]

CLIPS = 4
CROP_FRAMES = 22
RTOL = ATOL = 1e-3
PROBES = 1
BITS = 16


def centre_crops(model, clips: list[torch.Tensor], frames: int = CROP_FRAMES
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """clips [(T_i,)] -> their centre crops x (n, frames * hop) and, for a vocoder, the mels of those
    frames (n, n_mels, frames) taken from the mel of each whole clip (None for an unconditional model).
    A crop starts on a frame boundary; a clip shorter than the crop is refused."""
    hop = model.frontend.hop
    length = frames * hop
    xs, mels = [], []
    for i, clip in enumerate(clips):
        clip = clip[: len(clip) - len(clip) % hop]
        if len(clip) < length:
            raise ValueError(f"held-out clip {i} has {len(clip)} samples, fewer than the {length} of a likelihood crop")
        first = (len(clip) // hop - frames) // 2
        xs.append(clip[first * hop: first * hop + length])
        if model.conditional:
            with torch.no_grad():
                mels.append(model.frontend(clip)[:, first: first + frames])
    return torch.stack(xs), (torch.stack(mels) if mels else None)


def log_likelihood(model, x: torch.Tensor, mel: torch.Tensor | None = None, *, rtol: float = RTOL, atol: float = ATOL,
                   probes: int = PROBES, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    """log p(x | mel) (or log p(x) for an unconditional model) in nats per clip (n,), and the solver's info.

    x: (n, T) waveforms in [-1, 1]; mel: (n, n_mels, T // hop) for a vocoder (the network's condition)."""
    if model.conditional and mel is None:
        raise ValueError(f"{model.name} is a vocoder: its likelihood is conditional on a mel (n, n_mels, frames)")
    if not model.conditional and mel is not None:
        raise ValueError(f"{model.name} is unconditional: its likelihood takes no mel")
    param = next(model.network.parameters())
    x = x.to(param.device, param.dtype)
    was_training = model.training
    model.eval()
    try:
        prior = model.prior({"mel": mel.to(param.device)}) if model.conditional_prior else None  # PriorGrad's
        denoiser = model.denoiser(prior)
        if mel is not None:
            with torch.no_grad():
                denoiser = denoiser.bind(conditioner=model.network.condition(model.check_mel(mel).to(param.device,
                                                                                                   param.dtype)))
        with ode_progress(f"{model.name}: likelihood of {len(x)} clips") as advance:
            return core.log_likelihood(denoiser, x, method="hutchinson", num_probes=probes, rtol=rtol, atol=atol,
                                       generator=generator, return_info=True, callback=advance)
    finally:
        model.train(was_training)


def bits_per_sample(model, clips: list[torch.Tensor], *, seed: int = 0, frames: int = CROP_FRAMES,
                    rtol: float = RTOL, atol: float = ATOL, probes: int = PROBES) -> dict:
    """The likelihood results of the evaluation: ``bits_per_sample`` (the mean over the clips' centre
    crops, see the module docstring) with the protocol beside it (clips, crop length, tolerances,
    probes, network evaluations); the Hutchinson probes are drawn from a generator seeded ``seed``.
    A consistency model has no probability-flow ODE: its value is then "not computed: <why>"."""
    if model.is_consistency:
        return {"bits_per_sample": "not computed: a consistency model has no probability-flow ODE"}
    x, mel = centre_crops(model, clips, frames)
    nats, info = log_likelihood(model, x, mel, rtol=rtol, atol=atol, probes=probes,
                                generator=torch.Generator().manual_seed(seed))
    bits = core.likelihood.bits_per_dim(nats.cpu(), x.shape[1], offset=BITS - 1)
    if not torch.isfinite(bits).all():
        return {"bits_per_sample": f"not computed: the ODE gave a non-finite log-likelihood ({bits.tolist()})"}
    return {"bits_per_sample": float(bits.mean()), "likelihood_clips": len(x),
            "likelihood_seconds": round(x.shape[1] / model.sample_rate, 4), "likelihood_rtol": rtol,
            "likelihood_atol": atol, "likelihood_probes": probes, "likelihood_nfe": int(info["nfe"])}

