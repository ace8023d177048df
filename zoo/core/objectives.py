"""Training objectives: noise the data, ask the denoiser, compare with a target.

``loss`` draws times (uniform, log-normal or logit-normal), noise through the prior, forms
``x_t = alpha x0 + sigma eps``, and compares the denoiser's prediction with the target of a
parameterization (by default the one the network predicts: "just predict the noise").  The
weighting is stated in x0 terms and converted to the target's units, so one definition serves
every target: uniform (the "simple" loss in the target's units), min-SNR-gamma (Hang et al.
2023) and EDM's lambda(sigma) (Karras et al. 2022).

``x0_loss`` adds a term on the prediction's x0 (e.g. ``stft_loss``, the multi-resolution STFT loss
of Yamamoto et al. 2020 on a waveform), to each example's loss after the weighting.
"""
from __future__ import annotations


import torch

from .parameterization import PREDICTIONS, coefficients
from .schedules import DDPM, Schedule

__all__ = ["sample_time", "loss", "stft_loss", "target_scale", "drop_condition", "TIME_SAMPLING", "WEIGHTINGS"]

TIME_SAMPLING = ("uniform", "lognormal", "logit_normal")
WEIGHTINGS = ("uniform", "min_snr", "edm")
_F64 = torch.float64


def sample_time(schedule: Schedule, n: int, method: str = "uniform", *, generator=None,
                p_mean: float = -1.2, p_std: float = 1.2, logit_mean: float = 0.0, logit_std: float = 1.0) -> torch.Tensor:
    """n training times (float64, CPU) in (0, 1].

    uniform: the table steps of a DDPM schedule, else uniform in [t_min, t_max];
    lognormal: ``ln(sigma / alpha) ~ N(p_mean, p_std^2)`` (EDM);
    logit_normal: ``logit(t) ~ N(logit_mean, logit_std^2)`` (Esser et al. 2024, rectified flow).
    """
    if method == "uniform":
        if isinstance(schedule, DDPM):
            return (torch.randint(0, schedule.num_steps, (n,), generator=generator) + 1).to(_F64) / schedule.num_steps
        return schedule.t_min + (schedule.t_max - schedule.t_min) * torch.rand(n, generator=generator, dtype=_F64)
    if method == "lognormal":
        log_sigma = p_mean + p_std * torch.randn(n, generator=generator, dtype=_F64)
        return schedule.t_of_logsnr(-2.0 * log_sigma).clamp(min=1e-12)
    if method == "logit_normal":
        return torch.sigmoid(logit_mean + logit_std * torch.randn(n, generator=generator, dtype=_F64))
    raise ValueError(f"unknown time sampling {method!r}; choose one of {TIME_SAMPLING}")


def target_scale(kind: str, schedule: Schedule, t: torch.Tensor, sigma_data: float = 0.5) -> torch.Tensor:
    """k(t) with ``target error = k(t) * x0 error`` at fixed x_t, so that
    ``weight_in_target_units = weight_in_x0_units / k^2``."""
    alpha, sigma = schedule.alpha_sigma(t)
    if kind == "x0":
        return torch.ones_like(alpha)
    if kind == "eps":
        return alpha / sigma
    if kind == "v":
        return (alpha * alpha + sigma * sigma) / sigma
    if kind == "flow":
        dalpha, dsigma = schedule.derivatives(t)
        return dalpha - dsigma * alpha / sigma
    if kind == "edm":
        (_, c_out), _, _ = coefficients("edm", alpha, sigma, sigma_data=sigma_data)
        return 1.0 / c_out
    raise ValueError(f"unknown target {kind!r}; choose one of {PREDICTIONS}")


def _weight(weighting: str, kind: str, schedule: Schedule, t, gamma: float, sigma_data: float) -> torch.Tensor:
    if weighting == "uniform":
        return torch.ones_like(t)
    snr = torch.exp(schedule.logsnr(t))
    if weighting == "min_snr":
        w_x0 = torch.clamp(snr, max=gamma)
    elif weighting == "edm":
        s2 = 1.0 / snr  # (sigma / alpha)^2
        w_x0 = (s2 + sigma_data**2) / (s2 * sigma_data**2)
    else:
        raise ValueError(f"unknown weighting {weighting!r}; choose one of {WEIGHTINGS}")
    return w_x0 / target_scale(kind, schedule, t, sigma_data) ** 2


def drop_condition(cond: dict, p: float, *, null: dict | None = None, generator=None) -> dict:
    """Classifier-free dropout: replace each example's condition by its null value with probability p.

    Integer tensors (class labels) become ``null[key]`` (required for them, e.g. the null class
    index); float tensors become ``null[key]`` or zeros.  Non-tensor entries pass through.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"condition dropout probability must lie in [0, 1], got {p}")
    null = null or {}
    out = {}
    for key, value in cond.items():
        if not isinstance(value, torch.Tensor) or value.ndim == 0 or p == 0.0:
            out[key] = value
            continue
        drop = (torch.rand(value.shape[0], generator=generator) < p).to(value.device)
        drop = drop.reshape(-1, *([1] * (value.ndim - 1)))
        if key in null:
            replacement = torch.as_tensor(null[key], dtype=value.dtype, device=value.device)
        elif value.is_floating_point():
            replacement = torch.zeros((), dtype=value.dtype, device=value.device)
        else:
            raise ValueError(f"condition {key!r} holds integers: give its null value, e.g. null={{{key!r}: num_classes}}")
        out[key] = torch.where(drop, replacement, value)
    return out


def _true_target(kind, schedule, t, x0, noise, x_t, alpha, sigma, sigma_data):
    if kind == "x0":
        return x0
    if kind == "eps":
        return noise
    if kind == "v":
        return alpha * noise - sigma * x0
    if kind == "flow":
        dalpha, dsigma = (v.reshape(alpha.shape).to(x0.device, x0.dtype) for v in schedule.derivatives(t))
        return dalpha * x0 + dsigma * noise
    if kind == "edm":
        (skip, out), _, _ = coefficients("edm", alpha, sigma, sigma_data=sigma_data)
        return (x0 - x_t * skip) / out
    raise ValueError(f"unknown target {kind!r}; choose one of {PREDICTIONS}")


def stft_loss(estimate: torch.Tensor, reference: torch.Tensor, ffts=(512, 1024, 2048), eps: float = 1e-5) -> torch.Tensor:
    """Multi-resolution STFT loss (B,) between waveforms estimate (B, T) and reference (B, T).

    For each FFT size N (Hann window of N samples, hop N // 4, centred frames): the spectral
    convergence ||S - S'||_F / ||S||_F plus the mean |log S - log S'| of the magnitudes, clamped at
    ``eps``; averaged over the resolutions.  Computed in float32 whatever the inputs' dtype.
    """
    if estimate.ndim != 2 or estimate.shape != reference.shape:
        raise ValueError(f"stft_loss takes two waveforms (B, T) of one shape, got {tuple(estimate.shape)} and "
                         f"{tuple(reference.shape)}")
    if estimate.shape[1] < max(ffts) // 2 + 1:
        raise ValueError(f"stft_loss: waveforms of {estimate.shape[1]} samples are too short for an FFT of {max(ffts)} "
                         f"(reflect padding needs more than {max(ffts) // 2})")
    total = 0.0
    for n in ffts:
        window = torch.hann_window(n, device=estimate.device)
        est, ref = (torch.stft(x.float(), n, hop_length=n // 4, window=window, return_complex=True).abs()
                    for x in (estimate, reference))
        convergence = (est - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1).clamp_min(eps)
        log_distance = (est.clamp_min(eps).log() - ref.clamp_min(eps).log()).abs().flatten(1).mean(1)
        total = total + convergence + log_distance
    return total / len(ffts)


def loss(denoiser, x0: torch.Tensor, *, cond: dict | None = None, target: str | None = None,
         weighting: str = "uniform", time_sampling: str = "uniform", norm: str = "l2", min_snr_gamma: float = 5.0,
         mask: torch.Tensor | None = None, t: torch.Tensor | None = None, noise: torch.Tensor | None = None,
         x0_loss=None, generator=None, **time_options) -> torch.Tensor:
    """Per-example diffusion loss (B,).

    x0: (B, ...) clean data.  target: parameterization of the regression target (default: the
    denoiser's own).  mask: (B, ...) prefix-shaped, 1 = element counts (padding excluded).
    t: (B,) times, else drawn with ``time_sampling``; noise: (B, ...), else drawn from the prior.
    x0_loss: ``f(x0_estimate (B, ...), x0 (B, ...)) -> (B,)``, added to the weighted loss.
    """
    if not isinstance(x0, torch.Tensor) or x0.ndim < 2 or not x0.is_floating_point():
        raise ValueError(f"x0 must be a floating-point tensor of shape (B, ...), got {tuple(getattr(x0, 'shape', ()))}")
    if not torch.isfinite(x0).all():
        raise ValueError("x0 contains NaN or inf")
    if norm not in ("l2", "l1"):
        raise ValueError(f"norm must be 'l2' or 'l1', got {norm!r}")
    kind = target or denoiser.prediction
    schedule = denoiser.schedule
    batch = x0.shape[0]
    if t is None:
        t = sample_time(schedule, batch, time_sampling, generator=generator, **time_options)
    t = torch.as_tensor(t, dtype=_F64).cpu()
    if t.shape != (batch,):
        raise ValueError(f"t must have shape ({batch},), got {tuple(t.shape)}")
    if noise is None:
        noise = denoiser.prior.noise(x0, generator)
    elif noise.shape != x0.shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)} but x0 has {tuple(x0.shape)}")
    shape = (-1,) + (1,) * (x0.ndim - 1)
    alpha, sigma = (v.reshape(shape).to(x0.device, x0.dtype) for v in schedule.alpha_sigma(t))
    if denoiser.prior.periodic and (kind != "eps" or not bool((alpha == 1).all())):
        raise ValueError(f"a periodic prior ({denoiser.prior!r}) trains a noise ('eps') target on a variance-exploding "
                         f"schedule (alpha = 1); got target {kind!r} on {type(schedule).__name__}")
    x0 = denoiser.prior.project(x0)
    x_t = alpha * x0 + sigma * noise
    pred = denoiser(x_t, t, **(cond or {}))
    sigma_data = denoiser.sigma_data
    truth = (denoiser.prior.eps_target(noise, sigma) if kind == "eps"
             else _true_target(kind, schedule, t, x0, noise, x_t, alpha, sigma, sigma_data))
    err = pred.target(kind, sigma_data) - truth
    err = denoiser.prior.whiten(err)  # a non-standard prior's inverse-covariance metric (PriorGrad)
    err = err.pow(2) if norm == "l2" else err.abs()
    if mask is not None:
        m = mask.to(err.dtype).reshape(*mask.shape, *([1] * (err.ndim - mask.ndim))).expand_as(err)
        per_example = (err * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)
    else:
        per_example = err.flatten(1).mean(1)
    w = _weight(weighting, kind, schedule, t, min_snr_gamma, sigma_data).to(per_example.device, per_example.dtype)
    if x0_loss is None:
        return w * per_example
    return w * per_example + x0_loss(pred.x0, x0).to(per_example.dtype)
