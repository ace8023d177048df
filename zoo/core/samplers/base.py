"""The sampler registry and the helpers every sampler shares.

A sampler is a plain function ``fn(denoiser, x, ts, *, generator=None, callback=None, **opts)``
that walks the grid ``ts`` (float64, decreasing) from the state ``x`` at ``ts[0]`` and returns
the state at ``ts[-1]``.  It evaluates the denoiser at exactly the ``t`` it steps from, draws
noise only through ``denoiser.prior`` and only where the update uses it, and calls
``callback({"i", "t", "x", "x0"})`` after each step.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import torch

__all__ = ["register", "names", "get", "SamplerSpec", "Grid", "ddim_step", "multistep_order", "report"]


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    fn: Callable
    order: int
    stochastic: bool
    defaults: dict = field(default_factory=dict)
    fixed: tuple = ()  # options the name pins (ddpm is ddim with eta=1)


_REGISTRY: dict[str, SamplerSpec] = {}


def register(name: str, *, order: int, stochastic: bool = False, defaults: dict | None = None, fixed=(),
             fn: Callable | None = None):
    """Register ``fn`` (or the decorated function) under ``name`` with option ``defaults``."""
    def add(f):
        if name in _REGISTRY:
            raise ValueError(f"sampler {name!r} is already registered")
        _REGISTRY[name] = SamplerSpec(name, f, order, stochastic, dict(defaults or {}), tuple(fixed))
        return f
    return add(fn) if fn is not None else add


def names() -> list[str]:
    """Every registered sampler name."""
    return sorted(_REGISTRY)


def get(name: str) -> SamplerSpec:
    if name not in _REGISTRY:
        close = [n for n in _REGISTRY if n.startswith(str(name)[:3])]
        hint = f" (did you mean {close}?)" if close else ""
        raise ValueError(f"unknown sampler {name!r}{hint}; choose one of {names()}")
    return _REGISTRY[name]


class Grid:
    """Per-step schedule numbers for a grid, as Python floats (no tensor work inside loops).

    ``lam`` is half the log-SNR, ``log(alpha / sigma)``: +inf at t = 0, -inf where alpha = 0.
    ``sigma_ve`` is ``sigma / alpha`` (inf where alpha = 0).  Built once per (schedule, grid).
    """

    def __new__(cls, schedule, ts: torch.Tensor):
        return _grid(schedule, tuple(ts.tolist()))

    @classmethod
    def _build(cls, schedule, ts: tuple):
        self = object.__new__(cls)
        self.ts = list(ts)
        alpha, sigma = schedule.alpha_sigma(torch.tensor(ts, dtype=torch.float64))
        self.alpha, self.sigma = alpha.tolist(), sigma.tolist()
        self.lam = (torch.log(alpha) - torch.log(sigma)).tolist()
        self.sigma_ve = (sigma / alpha).tolist()
        self.steps = len(ts) - 1
        return self


@functools.lru_cache(maxsize=256)
def _grid(schedule, ts: tuple) -> Grid:
    return Grid._build(schedule, ts)


def ddim_step(pred, alpha_next: float, sigma_next: float) -> torch.Tensor:
    """The first-order step of every solver: ``alpha' x0 + sigma' eps`` (Song et al. 2021).

    Exact in every schedule (also from alpha = 0) and lands on ``x0`` when ``sigma' = 0``.
    """
    return pred.combine(c_x0=alpha_next, c_eps=sigma_next)


def multistep_order(i: int, steps: int, order: int, history: int, lower_order_final: bool) -> int:
    """Order of step ``i`` of a multistep solver: warm up on the outputs kept so far and, with
    ``lower_order_final``, never use more points than steps remain (the last step is first order)."""
    p = min(order, history + 1)
    if lower_order_final:
        p = min(p, steps - i)
    return max(p, 1)


def report(callback, i: int, t: float, x: torch.Tensor, pred) -> None:
    if callback is not None:
        callback({"i": i, "t": t, "x": x, "x0": pred.x0})


def lincomb(terms) -> torch.Tensor:
    """sum(c * tensor) over ``terms`` = [(c, tensor), ...] with float c, in one allocation."""
    (c0, t0), *rest = terms
    out = t0 * c0
    for c, t in rest:
        if c != 0.0:
            out.add_(t, alpha=c)
    return out


def finite(value: float) -> bool:
    return math.isfinite(value)
