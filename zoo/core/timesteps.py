"""Timestep placements: where a sampler with N steps evaluates the network.

A grid is one float64 tensor of ``N + 1`` times, strictly decreasing, ending at ``t = 0`` (clean
data).  Every sampler walks it and evaluates the model at exactly the ``t`` it steps from, so the
noise level the network sees is the one the update uses.

Placements:
- ``"linspace"``: uniform in ``t`` from ``t_max`` down to the schedule's ``t_min`` (the last trained
  level), then ``0``; for schedules with ``t_min = 0`` (rectified flow) simply ``N + 1`` points.
- ``"logsnr"``: uniform in log-SNR between ``t_max`` and ``t_min`` (Lu et al. 2022), then ``0``.
- ``"karras"``: ``sigma = sigma / alpha`` spaced by Karras et al. (2022), ``rho = 7``, then ``0``.
- ``"leading"``, ``"trailing"``: the integer table steps of DDIM / diffusers (discrete schedules),
  ``steps_offset`` as there; they may end above ``t_min`` and then jump to clean data.
- an explicit tensor of ``t`` values (``0`` is appended if missing);
- :func:`tabulated`: a table of noise levels such as DiffWave's 6-step fast schedule;
- ``"optimized"`` in ``core.sample``: a grid fitted to one model and sampler (``samplers.optimize_grid``).
"""
from __future__ import annotations

import functools

import torch

from .schedules import DDPM, Schedule

__all__ = ["make", "names", "tabulated", "validate"]

_F64 = torch.float64
PLACEMENTS = ("linspace", "logsnr", "karras", "leading", "trailing")


def names() -> list[str]:
    return list(PLACEMENTS)


def _finite_logsnr(schedule: Schedule, t_hi: float, t_lo: float, placement: str):
    lam = schedule.logsnr(torch.tensor([t_hi, t_lo], dtype=_F64))
    if not torch.isfinite(lam).all():
        raise ValueError(
            f"the {placement!r} placement needs a finite noise level at both ends, but {type(schedule).__name__} has "
            f"log-SNR {lam[0].item()} at t_max={t_hi} and {lam[1].item()} at t_min={t_lo}; pass t_max=/t_min= inside "
            f"(0, 1) or use 'linspace'")
    return lam


def _append_zero(ts: torch.Tensor) -> torch.Tensor:
    return ts if ts[-1] == 0 else torch.cat([ts, ts.new_zeros(1)])


def make(schedule: Schedule, steps: int, placement=None, *, t_max: float | None = None,
         t_min: float | None = None, rho: float = 7.0, steps_offset: int = 0) -> torch.Tensor:
    """The grid of ``steps + 1`` times (float64, decreasing, last = 0) for ``steps`` sampler steps.

    ``placement`` None takes the schedule's ``default_timesteps`` ("logsnr"; "linspace" for
    rectified flow)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if placement is None:
        placement = schedule.default_timesteps
    if not isinstance(placement, str):  # explicit times
        return validate(_append_zero(torch.as_tensor(placement, dtype=_F64).flatten()))
    return _named(schedule, steps, placement, t_max, t_min, rho, steps_offset).clone()


@functools.lru_cache(maxsize=256)
def _named(schedule: Schedule, steps: int, placement: str, t_max, t_min, rho, steps_offset) -> torch.Tensor:
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown timestep placement {placement!r}; choose one of {list(PLACEMENTS)} or pass a tensor")
    hi = schedule.t_max if t_max is None else float(t_max)
    lo = schedule.t_min if t_min is None else float(t_min)
    if not (0 <= lo < hi <= 1):
        raise ValueError(f"need 0 <= t_min < t_max <= 1, got t_min={lo}, t_max={hi}")

    if placement in ("leading", "trailing"):
        if not isinstance(schedule, DDPM):
            raise ValueError(f"the {placement!r} placement picks steps of a discrete table; {type(schedule).__name__} "
                             f"is continuous: use 'linspace', 'logsnr' or 'karras'")
        T = schedule.num_steps
        if steps > T:
            raise ValueError(f"cannot take {steps} steps on a table of {T}")
        if placement == "leading":  # DDIM's spacing: multiples of T // N, counted from the clean end
            idx = torch.arange(steps - 1, -1, -1, dtype=_F64) * (T // steps) + steps_offset
        else:  # Lin et al. 2024, Table 2: counted from the noisy end
            idx = torch.round(torch.arange(T, 0, -T / steps, dtype=_F64)) - 1
        return validate(_append_zero((idx + 1) / T))

    if placement == "linspace":
        if lo == 0:
            return validate(torch.linspace(hi, 0.0, steps + 1, dtype=_F64))
        return validate(_append_zero(torch.linspace(hi, lo, steps, dtype=_F64) if steps > 1 else torch.tensor([hi], dtype=_F64)))

    if steps == 1:
        return validate(torch.tensor([hi, 0.0], dtype=_F64))
    if not torch.isfinite(schedule.logsnr(hi)):
        # no signal at t_max (zero terminal SNR, rectified flow at t = 1): the first step is a
        # uniform-t step, the rest follow the placement
        second = hi - (hi - lo) / (steps - 1) if steps > 2 else lo
        if steps == 2:
            return validate(torch.tensor([hi, lo, 0.0], dtype=_F64))
        rest = _named(schedule, steps - 1, placement, second, lo, rho, steps_offset)
        return torch.cat([torch.tensor([hi], dtype=_F64), rest])
    lam = _finite_logsnr(schedule, hi, lo, placement)
    if placement == "logsnr":
        lams = torch.linspace(lam[0].item(), lam[1].item(), steps, dtype=_F64)
    else:  # karras: uniform in sigma^(1/rho)
        s_hi, s_lo = torch.exp(-0.5 * lam)
        ramp = torch.linspace(0, 1, steps, dtype=_F64)
        sig = (s_hi ** (1 / rho) + ramp * (s_lo ** (1 / rho) - s_hi ** (1 / rho))) ** rho
        lams = -2.0 * torch.log(sig)
    ts = schedule.t_of_logsnr(lams)
    ts[0], ts[-1] = hi, lo  # exact ends despite round trips
    return validate(_append_zero(ts))


def tabulated(schedule: Schedule, betas=None, *, alphas_cumprod=None) -> torch.Tensor:
    """The grid for a table of inference noise levels, e.g. DiffWave's fast schedule.

    ``betas`` (S,) define ``alphas_cumprod = cumprod(1 - betas)`` for S steps, listed from the
    cleanest to the noisiest as in DiffWave; each level is placed at the ``t`` where the
    schedule has that ``alpha^2`` (fractional steps of a DDPM table).  Returns (S + 1,) times.
    """
    if (betas is None) == (alphas_cumprod is None):
        raise ValueError("give exactly one of betas= or alphas_cumprod=")
    if betas is not None:
        betas = torch.as_tensor(betas, dtype=_F64).flatten()
        if ((betas <= 0) | (betas >= 1)).any():
            raise ValueError(f"betas must lie in (0, 1), got {betas.tolist()}")
        alphas_cumprod = torch.cumprod(1 - betas, 0)
    a2 = torch.as_tensor(alphas_cumprod, dtype=_F64).flatten()
    if ((a2 <= 0) | (a2 >= 1)).any():
        raise ValueError(f"alphas_cumprod must lie in (0, 1), got {a2.tolist()}")
    ts = schedule.t_of_logsnr(torch.log(a2) - torch.log1p(-a2)).flip(0)
    return validate(_append_zero(ts))


def validate(ts: torch.Tensor) -> torch.Tensor:
    """Check that a grid is 1-D, within [0, 1] and strictly decreasing; return it as float64."""
    ts = torch.as_tensor(ts, dtype=_F64)
    if ts.ndim != 1 or ts.numel() < 2:
        raise ValueError(f"a timestep grid must be 1-D with at least 2 entries, got shape {tuple(ts.shape)}")
    if not torch.isfinite(ts).all() or (ts < 0).any() or (ts > 1).any():
        raise ValueError(f"timesteps must lie in [0, 1], got {ts.tolist()}")
    if not (ts[1:] < ts[:-1]).all():
        bad = int(torch.nonzero(ts[1:] >= ts[:-1])[0])
        raise ValueError(f"timesteps must be strictly decreasing (noisy to clean); t[{bad}]={ts[bad].item()} "
                         f"is followed by t[{bad + 1}]={ts[bad + 1].item()}")
    return ts
