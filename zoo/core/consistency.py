"""Consistency models: one network evaluation from noise to data (Song et al. 2023).

A consistency function ``f(x_t, t)`` maps every point of a probability-flow ODE trajectory to the
trajectory's end ``x0``.  It is parameterized on top of any denoiser so that the boundary
condition ``f(x, t_min) = x / alpha(t_min)`` holds exactly:

    f(x, t) = c_skip(s) * x / alpha + (1 - c_skip(s)) * D(x, t),
    c_skip(s) = sigma_data^2 / ((scale * (s - s_min))^2 + sigma_data^2),

with ``s = sigma / alpha`` the variance-exploding noise level, ``s_min`` its value at the
schedule's ``t_min`` and ``D`` the denoiser's x0 prediction.  ``scale = 1`` is Song et al.'s
c_skip; a larger scale makes the skip vanish sooner, as the latent consistency models of Luo et al.
(2023) do, so that a student started from its teacher's weights starts close to the teacher.

Training (both in :func:`loss`): pairs of adjacent noise levels ``t_hi > t_lo`` on a discretised
grid (:func:`grid`); the student's ``f(x_hi, t_hi)`` is pulled toward a target network's
``f(x_lo, t_lo)`` (no gradient through the target).
- distillation (CD): ``x_lo`` is one solve of the teacher's probability-flow ODE from ``x_hi``, by
  any deterministic zoo sampler (``solver``), optionally with classifier-free guidance baked in
  (guided distillation, Meng et al. 2023; Luo et al. 2023);
- training (CT): ``x_lo = alpha_lo x0 + sigma_lo z`` with the same ``x0`` and ``z`` as ``x_hi``,
  Song & Dhariwal (2024)'s improved recipe: pseudo-Huber distance, weights ``1 / (s_hi - s_lo)``,
  log-normal choice of the interval and a grid that doubles from ``s0`` to ``s1`` points
  (:func:`curriculum`).

Sampling is the ``consistency`` sampler (multistep consistency sampling, Song et al. 2023, Alg. 1):
predict ``x0``, re-noise it to the next grid time with fresh noise, predict again.
"""
from __future__ import annotations

import math

import torch

from .parameterization import DenoiserWrapper, Prediction
from .samplers import get as get_sampler
from .timesteps import make as make_timesteps

__all__ = ["Consistency", "grid", "curriculum", "interval_probabilities", "distance", "loss", "DISTANCES"]

DISTANCES = ("l2", "pseudo_huber")


class Consistency(DenoiserWrapper):
    """The consistency function over ``base`` (a denoiser): see the module docstring.

    Calling it returns a :class:`Prediction` whose ``x0`` is ``f(x, t)``, so every sampler and
    guidance wrapper takes it like any denoiser."""

    @property
    def sigma_data(self) -> float:
        return self._sigma_data

    def __init__(self, base, *, sigma_data: float = 0.5, scale: float = 1.0):
        super().__init__(base)
        if not sigma_data > 0 or not scale > 0:
            raise ValueError(f"sigma_data and scale must be > 0, got sigma_data={sigma_data}, scale={scale}")
        self._sigma_data, self.scale = float(sigma_data), float(scale)
        self.s_min = float(base.schedule.sigma_ve(base.schedule.t_min))

    def skip(self, s):
        """c_skip at the variance-exploding noise level ``s`` (float or tensor): 1 at ``s_min``, -> 0."""
        gap = self.scale * (s - self.s_min)
        return self.sigma_data ** 2 / (gap * gap + self.sigma_data ** 2)

    def __call__(self, x, t, **cond) -> Prediction:
        pred = self.base(x, t, **cond)
        alpha, sigma = pred.alpha, pred.sigma
        if isinstance(alpha, float):
            c = self.skip(sigma / alpha) if alpha > 0 else 0.0
            f = pred.x0 if c == 0.0 else torch.add(pred.x0 * (1.0 - c), x, alpha=c / alpha)
        else:
            safe = alpha.clamp(min=torch.finfo(alpha.dtype).tiny)
            c = torch.where(alpha > 0, self.skip(sigma / safe), torch.zeros_like(alpha))
            f = (1.0 - c) * pred.x0 + c * x / safe
        return Prediction.from_x0(x, f, alpha, sigma, pred.t, pred.schedule)


def grid(schedule, points: int, placement: str = "karras", rho: float = 7.0) -> torch.Tensor:
    """The discretisation of a consistency model: ``points`` times (float64, decreasing) from the
    schedule's ``t_max`` to its ``t_min`` (the boundary), so ``points - 1`` intervals."""
    if not isinstance(points, int) or points < 2:
        raise ValueError(f"a consistency grid needs at least 2 points, got {points!r}")
    return make_timesteps(schedule, points, placement, rho=rho)[:-1]


def curriculum(step: int, total_steps: int, s0: int = 10, s1: int = 1280) -> int:
    """Grid points at training step ``step`` of ``total_steps`` (Song & Dhariwal 2024, eq. 8):
    ``min(s0 * 2^floor(step / K'), s1) + 1`` with ``K' = floor(total / (log2(s1 / s0) + 1))``."""
    if not 1 <= s0 <= s1:
        raise ValueError(f"need 1 <= s0 <= s1, got s0={s0}, s1={s1}")
    stage = max(1, math.floor(total_steps / (math.log2(s1 / s0) + 1)))
    return min(s0 * 2 ** (step // stage), s1) + 1


def interval_probabilities(schedule, ts: torch.Tensor, p_mean: float = -1.1, p_std: float = 2.0) -> torch.Tensor:
    """P(interval i = (ts[i], ts[i+1])) when ``ln s ~ N(p_mean, p_std^2)`` (Song & Dhariwal 2024):
    the normal's mass between the interval's two ``ln s`` values; shape (len(ts) - 1,)."""
    log_s = torch.log(schedule.sigma_ve(ts))
    cdf = 0.5 * (1 + torch.erf((log_s - p_mean) / (math.sqrt(2.0) * p_std)))
    mass = (cdf[:-1] - cdf[1:]).clamp(min=0)
    if not mass.sum() > 0:
        raise ValueError("the log-normal interval distribution puts no mass on this grid")
    return mass / mass.sum()


def distance(a: torch.Tensor, b: torch.Tensor, kind: str = "pseudo_huber", c: float | None = None) -> torch.Tensor:
    """Per-example distance (B,) between (B, ...) tensors: mean squared error (``l2``) or the
    pseudo-Huber ``sqrt(||a - b||^2 + c^2) - c`` with ``c = 0.00054 sqrt(d)`` unless given (iCT)."""
    diff = (a - b).flatten(1)
    diff = diff.to(torch.promote_types(diff.dtype, torch.float32))  # bf16 under autocast: sum in fp32
    if kind == "l2":
        return diff.pow(2).mean(1)
    if kind == "pseudo_huber":
        c = 0.00054 * math.sqrt(diff.shape[1]) if c is None else float(c)
        return torch.sqrt(diff.pow(2).sum(1) + c * c) - c
    raise ValueError(f"unknown consistency distance {kind!r}; choose one of {DISTANCES}")


def _noised(schedule, x0, noise, t):
    """alpha(t) x0 + sigma(t) noise for a float t or per-example times (B,)."""
    alpha, sigma = schedule.alpha_sigma(torch.as_tensor(t, dtype=torch.float64))
    shape = (-1,) + (1,) * (x0.ndim - 1)
    return x0 * alpha.reshape(shape).to(x0) + noise * sigma.reshape(shape).to(x0)


def solve(teacher, x: torch.Tensor, t_hi: float, t_lo: float, *, solver: str = "heun", steps: int = 1) -> torch.Tensor:
    """The teacher's probability-flow ODE from ``x`` at ``t_hi`` to ``t_lo`` (floats), by the zoo
    sampler ``solver`` on ``steps`` steps uniform in log-SNR (any deterministic sampler; a
    multistep one warms up inside the interval)."""
    spec = get_sampler(solver)
    if spec.stochastic:
        raise ValueError(f"the teacher's solver must be deterministic (an ODE solver); {solver!r} is stochastic")
    ts = make_timesteps(teacher.schedule, steps + 1, "logsnr", t_max=t_hi, t_min=t_lo)[:-1] if steps > 1 else \
        torch.tensor([t_hi, t_lo], dtype=torch.float64)
    return spec.fn(teacher, x, ts, **spec.defaults)


def loss(student, target, x0: torch.Tensor, noise: torch.Tensor, t_hi, t_lo, *, teacher=None, solver: str = "heun",
         solver_steps: int = 1, cond: dict | None = None, teacher_cond: dict | None = None, kind: str = "pseudo_huber",
         huber_c: float | None = None, weighting: str = "uniform") -> torch.Tensor:
    """Per-example consistency loss (B,) between adjacent times ``t_hi > t_lo``.

    student, target: :class:`Consistency` denoisers (the target's output carries no gradient).
    x0, noise: (B, ...) data and noise; ``x_hi = alpha_hi x0 + sigma_hi noise``.
    teacher: a denoiser for distillation (``x_lo`` = its ODE solve from ``x_hi``; ``t_hi``, ``t_lo``
    floats, one interval per batch, since a sampler steps its batch on one grid); None for
    consistency training (``x_lo`` = the same x0 and noise at ``t_lo``; per-example (B,) times allowed).
    teacher_cond: the teacher's condition (default ``cond``), e.g. unused when the teacher is guided.
    weighting: ``uniform`` (Song et al. 2023) or ``inverse_gap``: ``1 / (s_hi - s_lo)`` (iCT).
    """
    schedule = student.schedule
    cond = cond or {}
    x_hi = _noised(schedule, x0, noise, t_hi)
    with torch.no_grad():
        if teacher is None:
            x_lo = _noised(schedule, x0, noise, t_lo)
        else:
            if not isinstance(t_hi, float) or not isinstance(t_lo, float):
                raise ValueError("consistency distillation takes one interval per batch: t_hi and t_lo must be floats")
            bound = teacher.bind(**(cond if teacher_cond is None else teacher_cond))
            x_lo = solve(bound, x_hi, t_hi, t_lo, solver=solver, steps=solver_steps)
        goal = target(x_lo, t_lo, **cond).x0.detach()
    out = student(x_hi, t_hi, **cond).x0
    per_example = distance(out, goal, kind, huber_c)
    if weighting == "uniform":
        return per_example
    if weighting == "inverse_gap":
        gap = schedule.sigma_ve(torch.as_tensor(t_hi, dtype=torch.float64)) - schedule.sigma_ve(
            torch.as_tensor(t_lo, dtype=torch.float64))
        return per_example / gap.to(per_example)
    raise ValueError(f"unknown consistency weighting {weighting!r}; choose 'uniform' or 'inverse_gap'")
