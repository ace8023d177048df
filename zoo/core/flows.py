"""Flow matching tools: how straight a sampler's trajectories are, and reflow couplings.

Rectified flow (Liu et al. 2023) and flow matching (Lipman et al. 2023) are the
``RectifiedFlow`` schedule (``alpha = 1 - t``, ``sigma = t``) with the ``flow`` prediction (the
velocity ``dx_t/dt``), trained by ``objectives.loss`` and sampled by any ODE sampler.  The fewer
steps a sampler needs, the straighter the trajectories: straight paths are integrated exactly by
one Euler step.  Reflow trains a new flow on pairs (noise x_T, the first flow's sample from it)
instead of independent pairs, which straightens them; ``couple`` makes those pairs, and a data set
whose batches carry ``"noise"`` next to ``"x"`` trains on them (``zoo.train``).

``straightness`` (Liu et al. 2023, eq. 5, for any schedule): along the probability-flow ODE from
``t = 1`` to ``0``, the mean over time of ``|| (x_1 - x_0) - v(x_t, t) ||^2`` per dimension, where
``x_1 - x_0`` is the straight displacement per unit time of the trajectory and ``v = -dx_t/dt``
its velocity toward the data: 0 for straight lines.
"""
from __future__ import annotations

import torch

from .samplers import get, sample

__all__ = ["straightness", "couple"]


@torch.no_grad()
def straightness(denoiser, x_T: torch.Tensor, *, steps: int = 100, t_max: float = 1.0, t_min: float = 0.0,
                 cond: dict | None = None) -> dict:
    """Straightness of the ODE trajectories from x_T (B, ...) at ``t_max`` to ``t_min`` (module
    docstring), integrated with ``steps`` Euler steps on a uniform grid in t.

    Returns {"straightness": mean squared deviation per dimension, "relative": the same divided by
    the mean squared displacement per dimension (scale-free, 0 = straight), "x0": the end points}."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not 0.0 <= t_min < t_max <= 1.0:
        raise ValueError(f"need 0 <= t_min < t_max <= 1, got t_min={t_min}, t_max={t_max}")
    ts = torch.linspace(t_max, t_min, steps + 1, dtype=torch.float64).tolist()
    x, velocities = x_T, []
    for t, t_next in zip(ts[:-1], ts[1:]):
        v = denoiser(x, t, **(cond or {})).velocity
        velocities.append(v)
        x = x + (t_next - t) * v
    span = t_max - t_min
    straight = (x_T - x) / span  # the constant velocity (per unit time, toward noise) of the straight path
    deviation = torch.stack([(straight - v).pow(2).flatten(1).mean(1) for v in velocities]).mean(0)
    scale = straight.pow(2).flatten(1).mean(1).clamp(min=1e-30)
    return {"straightness": float(deviation.mean()), "relative": float((deviation / scale).mean()), "x0": x}


@torch.no_grad()
def couple(denoiser, x_T: torch.Tensor, *, sampler: str = "heun", steps: int = 32, **options) -> tuple:
    """Reflow pairs: (x_T, the ODE sample from it) for training the next flow on them
    (``sampler`` must be deterministic: the pair is the ODE's coupling)."""

    if get(sampler).stochastic:
        raise ValueError(f"reflow pairs need a deterministic (ODE) sampler; {sampler!r} is stochastic")
    return x_T, sample(denoiser, x_T, sampler=sampler, steps=steps, **options)
