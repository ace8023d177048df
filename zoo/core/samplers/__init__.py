"""Samplers: plain functions over a denoiser, a registry of names, and :func:`sample`.

>>> x0 = sample(denoiser, x_T, sampler="dpmpp_2m", steps=10, timesteps="logsnr")
"""
from __future__ import annotations

import functools
import inspect
import logging
import math
import weakref
from dataclasses import dataclass

import torch

from .. import timesteps as _timesteps
from ..parameterization import DenoiserWrapper
from . import deis, dpm_solver, first_order, ode, plms, sde, unipc  # noqa: F401  (registers the samplers)
from .base import get, names, register

__all__ = ["sample", "names", "get", "register", "SampleInfo", "optimize_grid", "refine_grid"]
log = logging.getLogger("zoo")


@dataclass
class SampleInfo:
    """What a sampling run did: ``nfe`` = network evaluations as the sampler made them."""

    sampler: str
    nfe: int
    ts: torch.Tensor
    options: dict


class _Counting(DenoiserWrapper):
    def __init__(self, base):
        super().__init__(base)
        self.calls = 0

    def __call__(self, x, t, **cond):
        self.calls += 1
        return self.base(x, t, **cond)


def _finite(x: torch.Tensor) -> bool:
    """NaN and inf survive a sum: one pass instead of an elementwise isfinite."""
    return math.isfinite(torch.sum(x, dtype=torch.float64 if x.dtype == torch.float64 else torch.float32).item())


def _check_state(x_T) -> None:
    if not isinstance(x_T, torch.Tensor) or not x_T.is_floating_point():
        raise ValueError(f"x_T must be a floating-point tensor, got {type(x_T).__name__}")
    if x_T.ndim < 2 or x_T.shape[0] == 0:
        raise ValueError(f"x_T must have shape (B, ...) with B >= 1 and at least one feature dimension, "
                         f"got {tuple(x_T.shape)}")
    if not _finite(x_T):
        raise ValueError("x_T contains NaN or inf")


@functools.lru_cache(maxsize=None)
def _options(name: str) -> tuple:
    """The keyword options a sampler accepts (besides generator and callback)."""
    params = inspect.signature(get(name).fn).parameters
    return tuple(p for p, v in params.items()
                 if v.kind == inspect.Parameter.KEYWORD_ONLY and p not in ("generator", "callback"))


_OPTIMIZED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _optimized(denoiser, bound, sampler: str, steps: int, shape: tuple, opts: dict) -> torch.Tensor:
    """``optimize_grid`` for this denoiser, sampler, step count and state shape (B, ...), once.

    It fits on B fresh noise draws (so conditions bound for this batch fit too); for a small B
    call ``optimize_grid`` with a larger ``batch`` yourself and pass its grid."""
    per_denoiser = _OPTIMIZED.setdefault(denoiser, {})
    key = (sampler, steps, shape, tuple(sorted(opts.items())))
    if key not in per_denoiser:
        log.info("fitting a %d-step grid for %s to this model (timesteps='optimized'); cached for the session",
                 steps, sampler)
        per_denoiser[key] = optimize_grid(bound, steps, sampler, shape=shape[1:], batch=shape[0], **opts)
    return per_denoiser[key].clone()


def sample(denoiser, x_T: torch.Tensor, *, sampler: str = "unipc", steps: int = 10,
           timesteps=None, generator: torch.Generator | None = None, callback=None,
           return_info: bool = False, cond: dict | None = None, t_max: float | None = None,
           t_min: float | None = None, rho: float = 7.0, **opts):
    """Draw samples by walking ``x_T`` from noise to data.

    x_T: (B, ...) the state at the grid's first time (``t_max``, default 1), e.g.
        ``sigma(t_max) * noise``; for variance-preserving schedules plain standard noise.
    sampler: a name from :func:`names`; ``opts`` are its options (``eta``, ``order``, ...).
    steps: sampler steps N; the grid has N + 1 times ending at t = 0.
    timesteps: a placement name from ``zoo.core.timesteps`` or an explicit tensor of t values;
        default: the schedule's (``"logsnr"``; ``"linspace"`` for rectified flow).
        ``"optimized"`` fits a grid to this denoiser and sampler on first use
        (``optimize_grid`` on B fresh noise draws; thousands of evaluations) and reuses it.
    cond: condition tensors passed to the model at every evaluation.
    Returns the samples (B, ...) and, with ``return_info``, a :class:`SampleInfo`.
    """
    spec = get(sampler)
    _check_state(x_T)
    for key in opts:
        if key not in _options(sampler):
            allowed = [p for p in _options(sampler) if p not in spec.fixed]
            raise ValueError(f"sampler {sampler!r} has no option {key!r}; its options are {allowed}")
        if key in spec.fixed:
            raise ValueError(f"sampler {sampler!r} fixes {key}={spec.defaults[key]!r}; use another sampler to change it")
    options = {**spec.defaults, **opts}
    bound = denoiser.bind(**cond) if cond else denoiser
    if isinstance(timesteps, str) and timesteps == "optimized":
        ts = _optimized(denoiser, bound, sampler, steps, tuple(x_T.shape), opts)
    else:
        ts = _timesteps.make(denoiser.schedule, steps, timesteps, t_max=t_max, t_min=t_min, rho=rho)
    denoiser = bound
    counted = _Counting(denoiser)
    with torch.no_grad():
        x = spec.fn(counted, x_T, ts, generator=generator, callback=callback, **options)
    if not _finite(x):
        raise ValueError(f"sampling with {sampler!r} produced NaN or inf; check the model and the schedule")
    if return_info:
        return x, SampleInfo(sampler, counted.calls, ts, options)
    return x


def optimize_grid(denoiser, steps: int, sampler: str = "unipc", *, shape: tuple, batch: int = 256, sweeps: int = 3,
             iterations: int = 8, seed: int = 0, rtol: float = 1e-6, **sampler_options) -> torch.Tensor:
    """A grid for one model and one deterministic sampler, fitted from the model alone.

    Draws ``batch`` prior samples of ``shape`` (a fixed seed), solves their probability-flow ODE
    with the adaptive reference solver, and moves the free times of the schedule's default grid
    one at a time (golden-section search between its neighbours, ``sweeps`` passes) to minimise
    the mean L2 distance between ``sampler``'s result and the ODE's.  The first time, the last
    trained level (``t_min`` when positive) and 0 stay fixed.  Costs about
    ``sweeps * (steps - 2) * (iterations + 2) * steps`` evaluations of the model on ``batch``.
    Returns (steps + 1,) times for ``core.sample(..., timesteps=grid)``.
    """
    spec = get(sampler)
    if spec.stochastic or sampler == "ode":
        raise ValueError(f"optimize fits deterministic samplers against the ODE; {sampler!r} is not one")
    sched = denoiser.schedule
    ts = _timesteps.make(sched, steps)
    # the last trained level stays put; a schedule trained down to t = 0 lets it move too
    free = list(range(1, steps - 1 if sched.t_min > 0 else steps))
    t_last = sched.t_min if sched.t_min > 0 else 1e-6
    g = torch.Generator().manual_seed(seed)
    x_T = denoiser.prior.noise(torch.empty(batch, *shape, dtype=torch.float64), g) * float(sched.sigma(ts[0]))
    ref = _run(denoiser, x_T, "ode", torch.tensor([ts[0].item(), t_last, 0.0], dtype=torch.float64), rtol=rtol, atol=rtol)

    def error(grid):
        x = _run(denoiser, x_T, sampler, grid, **sampler_options)
        return (x - ref).flatten(1).norm(dim=1).mean().item()

    return refine_grid(ts, error, free, sweeps=sweeps, iterations=iterations)


def refine_grid(ts: torch.Tensor, error, free, *, sweeps: int = 3, iterations: int = 8) -> torch.Tensor:
    """The grid ``ts`` (S + 1,) (decreasing times) with the times at the indices ``free`` moved, one at a time
    (golden-section search between its neighbours, ``sweeps`` passes), to lower ``error(grid) -> float``;
    a move is kept only when it lowers the error.  Index 0 (the start) only moves down, between
    ``ts[1]`` and where it was.  Costs ``sweeps * len(free) *
    (iterations + 2) + 1`` calls of ``error``."""
    ts = ts.clone()
    best = error(ts)
    ratio = (math.sqrt(5) - 1) / 2
    top = ts[0].item()
    for _ in range(sweeps):
        for i in free:
            lo, hi = ts[i + 1].item(), (ts[i - 1].item() if i > 0 else top)

            def at(value):
                trial = ts.clone()
                trial[i] = value
                return error(trial)
            a, b = lo, hi
            c, d = b - ratio * (b - a), a + ratio * (b - a)
            fc, fd = at(c), at(d)
            for _ in range(iterations):
                if fc < fd:
                    b, d, fd = d, c, fc
                    c = b - ratio * (b - a)
                    fc = at(c)
                else:
                    a, c, fc = c, d, fd
                    d = a + ratio * (b - a)
                    fd = at(d)
            value, err = (c, fc) if fc < fd else (d, fd)
            if err < best and lo < value < hi:
                ts[i], best = value, err
    return _timesteps.validate(ts)


def _run(denoiser, x_T, name, grid, **options):
    spec = get(name)
    with torch.no_grad():
        return spec.fn(denoiser, x_T, grid, **{**spec.defaults, **options})
