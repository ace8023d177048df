"""Parameterizations: what the network predicts, and the :class:`Denoiser` that hides it.

A network predicts one of
- ``"eps"``: the noise (Ho et al. 2020);
- ``"x0"``: the clean data;
- ``"v"``: ``alpha * eps - sigma * x0`` (Salimans & Ho 2022);
- ``"flow"``: the velocity ``dx_t/dt = alpha'(t) x0 + sigma'(t) eps`` (Lipman et al. 2023);
- ``"edm"``: ``F`` of Karras et al. (2022), with ``D(y) = c_skip y + c_out F(c_in y, c_noise)`` in
  the variance-exploding variable ``y = x / alpha`` and ``sigma = sigma(t) / alpha(t)``.

Given the state ``x`` every one of these is an affine function of the raw output, so a
:class:`Prediction` keeps ``x``, the raw output and two pairs of coefficients, and hands out
``x0``, ``eps``, ``v``, ``score`` and ``velocity`` on demand.  Samplers never ask what the net
predicts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch

from .priors import Isotropic
from .schedules import Schedule

__all__ = ["PREDICTIONS", "Prediction", "Denoiser", "DenoiserWrapper", "coefficients"]

PREDICTIONS = ("eps", "x0", "v", "flow", "edm")


def coefficients(kind: str, alpha, sigma, dalpha=None, dsigma=None, sigma_data: float = 0.5):
    """Coefficients that recover ``x0`` and ``eps`` from ``(x, raw)`` for a prediction kind.

    Returns ``(x0_coef, eps_coef, input_scale)`` with ``x0 = x0_coef[0] x + x0_coef[1] raw``,
    ``eps = eps_coef[0] x + eps_coef[1] raw`` and the network fed ``input_scale * x``.
    Works on floats and on tensors alike.
    """
    if kind == "eps":
        return (1 / alpha, -sigma / alpha), (0.0 * alpha, 1.0 + 0.0 * alpha), 1.0 + 0.0 * alpha
    if kind == "x0":
        return (0.0 * alpha, 1.0 + 0.0 * alpha), (1 / sigma, -alpha / sigma), 1.0 + 0.0 * alpha
    if kind == "v":
        n = alpha * alpha + sigma * sigma
        return (alpha / n, -sigma / n), (sigma / n, alpha / n), 1.0 + 0.0 * alpha
    if kind == "flow":
        det = alpha * dsigma - sigma * dalpha
        return (dsigma / det, -sigma / det), (-dalpha / det, alpha / det), 1.0 + 0.0 * alpha
    if kind == "edm":
        s = sigma / alpha  # variance-exploding noise level
        c_skip = sigma_data**2 / (s * s + sigma_data**2)
        c_out = s * sigma_data / (s * s + sigma_data**2) ** 0.5
        c_in = 1 / (s * s + sigma_data**2) ** 0.5
        return (c_skip / alpha, c_out), ((1 - c_skip) / sigma, -alpha * c_out / sigma), c_in / alpha
    raise ValueError(f"unknown prediction {kind!r}; choose one of {PREDICTIONS}")


class Prediction:
    """The denoiser's answer at ``(x, t)``: ``x0``, ``eps``, ``v``, ``score`` and ``velocity``.

    All tensors have ``x``'s shape (B, ...).  ``alpha`` and ``sigma`` are floats (one ``t`` for
    the batch) or tensors broadcastable to ``x`` (one ``t`` per example).
    """

    def __init__(self, x, raw, x0_coef, eps_coef, alpha, sigma, t=None, schedule: Schedule | None = None):
        self.x, self.raw = x, raw
        self._x0_coef, self._eps_coef = x0_coef, eps_coef
        self.alpha, self.sigma = alpha, sigma
        self.t, self.schedule = t, schedule
        self._cache: dict[str, torch.Tensor] = {}

    @classmethod
    def from_x0(cls, x, x0, alpha, sigma, t=None, schedule=None) -> "Prediction":
        return cls(x, x0, (0.0, 1.0), (1 / sigma, -alpha / sigma), alpha, sigma, t, schedule)

    @classmethod
    def from_eps(cls, x, eps, alpha, sigma, t=None, schedule=None) -> "Prediction":
        return cls(x, eps, (1 / alpha, -sigma / alpha), (0.0, 1.0), alpha, sigma, t, schedule)

    def with_x0(self, x0: torch.Tensor) -> "Prediction":
        """The same state and time with another ``x0`` (``eps`` follows from ``x``)."""
        return Prediction.from_x0(self.x, x0, self.alpha, self.sigma, self.t, self.schedule)

    def with_eps(self, eps: torch.Tensor) -> "Prediction":
        """The same state and time with another ``eps`` (``x0`` follows from ``x``)."""
        return Prediction.from_eps(self.x, eps, self.alpha, self.sigma, self.t, self.schedule)

    def terms(self, c_x=0.0, c_x0=0.0, c_eps=0.0) -> list:
        """``c_x * x + c_x0 * x0 + c_eps * eps`` as [(coef, x), (coef, raw)]: the same sum over the
        two tensors the prediction really holds (see ``samplers.base.lincomb``)."""
        return [(c_x + c_x0 * self._x0_coef[0] + c_eps * self._eps_coef[0], self.x),
                (c_x0 * self._x0_coef[1] + c_eps * self._eps_coef[1], self.raw)]

    def combine(self, c_x=0.0, c_x0=0.0, c_eps=0.0) -> torch.Tensor:
        """``c_x * x + c_x0 * x0 + c_eps * eps`` in two passes over memory."""
        (a, x), (b, raw) = self.terms(c_x, c_x0, c_eps)
        if isinstance(b, float):
            return torch.add(x * a, raw, alpha=b)
        return x * a + raw * b

    def _get(self, key, c_x0, c_eps):
        """A cached view; the raw output itself when it already is the answer (treat as read-only)."""
        if key not in self._cache:
            (a, _), (b, _) = self.terms(0.0, c_x0, c_eps)
            is_raw = isinstance(a, float) and isinstance(b, float) and a == 0.0 and b == 1.0
            self._cache[key] = self.raw if is_raw else self.combine(0.0, c_x0, c_eps)
        return self._cache[key]

    @property
    def x0(self) -> torch.Tensor:
        """The denoised estimate E[x0 | x_t]."""
        return self._get("x0", 1.0, 0.0)

    @property
    def eps(self) -> torch.Tensor:
        """The noise estimate E[eps | x_t]."""
        return self._get("eps", 0.0, 1.0)

    @property
    def v(self) -> torch.Tensor:
        """``alpha * eps - sigma * x0``."""
        return self._get("v", -self.sigma, self.alpha)

    @property
    def score(self) -> torch.Tensor:
        """grad_x log p_t(x) = -eps / sigma."""
        return self._get("score", 0.0, -1 / self.sigma)

    @property
    def velocity(self) -> torch.Tensor:
        """dx_t/dt of the probability-flow ODE: ``alpha'(t) x0 + sigma'(t) eps``."""
        if self.schedule is None or self.t is None:
            raise ValueError("this Prediction was built without its schedule and t, so it has no velocity")
        dalpha, dsigma = _scalar_or_tensor(self.schedule.derivatives, self.t, self.x)
        return self._get("velocity", dalpha, dsigma)

    def target(self, kind: str, sigma_data: float = 0.5) -> torch.Tensor:
        """This prediction in the parameterization ``kind`` (what a network of that kind outputs)."""
        if kind == "x0":
            return self.x0
        if kind == "eps":
            return self.eps
        if kind == "v":
            return self.v
        if kind == "flow":
            return self.velocity
        if kind == "edm":
            (skip, out), _, _ = coefficients("edm", self.alpha, self.sigma, sigma_data=sigma_data)
            return (self.x0 - self.x * skip) / out
        raise ValueError(f"unknown prediction {kind!r}; choose one of {PREDICTIONS}")


def _scalar_or_tensor(fn, t, like: torch.Tensor):
    """Evaluate a schedule function at ``t``: floats for a float ``t``, else (B, 1, ...) tensors."""
    if isinstance(t, float):
        return tuple(v.item() for v in fn(t))
    shape = (-1,) + (1,) * (like.ndim - 1)
    return tuple(v.reshape(shape).to(device=like.device, dtype=like.dtype) for v in fn(t))


@dataclass(frozen=True, eq=False)
class Denoiser:
    """A network bound to a schedule and a parameterization.

    ``model(x_in, noise_label, **cond) -> tensor`` with ``x_in`` shaped like the state (B, ...)
    and ``noise_label`` of shape (B,).  Calling the denoiser with a state ``x`` (B, ...) and a time
    ``t`` (a float, or a tensor of shape () or (B,)) returns a :class:`Prediction`.
    """

    model: Callable[..., torch.Tensor]
    schedule: Schedule
    prediction: str = "eps"
    prior: Any = field(default_factory=Isotropic)
    sigma_data: float = 0.5
    cond: dict = field(default_factory=dict)
    _scalar_cache: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {self.prediction!r}; choose one of {PREDICTIONS}")
        if not isinstance(self.schedule, Schedule):
            raise ValueError(f"schedule must be a zoo.core.schedules.Schedule, got {type(self.schedule).__name__}")
        if self.prior.periodic and (self.prediction != "eps" or float(self.schedule.alpha_sigma(0.5)[0]) != 1.0):
            raise ValueError(f"a periodic prior ({self.prior!r}) needs an 'eps' prediction on a variance-exploding "
                             f"schedule (alpha = 1, e.g. EDM), so that x0 = x - sigma eps turns with x; got "
                             f"{self.prediction!r} on {type(self.schedule).__name__}")

    def bind(self, **cond) -> "Denoiser":
        """A copy that passes ``cond`` (merged over the current one) to the model at every call."""
        return replace(self, cond={**self.cond, **cond})

    def with_prior(self, prior) -> "Denoiser":
        return replace(self, prior=prior)  # a new instance: __post_init__ checks the prior again

    def _scalar_coefficients(self, t: float):
        """(alpha, sigma, label, x0_coef, eps_coef, input_scale) as floats, computed once per t."""
        cached = self._scalar_cache.get(t)
        if cached is None:
            alpha, sigma = self.schedule.alpha_sigma(t)
            dalpha, dsigma = self.schedule.derivatives(t)
            # float64 tensors, so that a division by zero gives inf instead of raising
            x0_coef, eps_coef, scale = coefficients(self.prediction, alpha, sigma, dalpha, dsigma, self.sigma_data)
            coefs = tuple(float(c) for c in (*x0_coef, *eps_coef, scale))
            _check_coefficients(self.prediction, torch.tensor(coefs), t)
            cached = (alpha.item(), sigma.item(), self.schedule.noise_label(t).item(), coefs[:2], coefs[2:4], coefs[4])
            if len(self._scalar_cache) < 65536:
                self._scalar_cache[t] = cached
        return cached

    def _tensor_coefficients(self, t: torch.Tensor, x: torch.Tensor):
        """The same per example: tensors of shape (B, 1, ...) in x's dtype, labels (B,)."""
        t = t.detach().to("cpu", torch.float64)
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must be a float or a tensor of shape () or ({x.shape[0]},), got shape {tuple(t.shape)}")
        alpha, sigma = self.schedule.alpha_sigma(t)
        dalpha, dsigma = self.schedule.derivatives(t)
        x0_coef, eps_coef, scale = coefficients(self.prediction, alpha, sigma, dalpha, dsigma, self.sigma_data)
        coefs = torch.stack([torch.as_tensor(c, dtype=torch.float64).expand(x.shape[0])
                             for c in (*x0_coef, *eps_coef, scale, alpha, sigma)])
        _check_coefficients(self.prediction, coefs[:5], t)
        coefs = coefs.to(device=x.device, dtype=x.dtype).reshape(7, -1, *([1] * (x.ndim - 1)))
        a0, b0, a1, b1, scale, alpha, sigma = coefs
        return t, alpha, sigma, self.schedule.noise_label(t), (a0, b0), (a1, b1), scale

    def __call__(self, x: torch.Tensor, t, **cond) -> Prediction:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2:
            raise ValueError(f"the state x must be a floating-point tensor of shape (B, ...), got "
                             f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
        batch = x.shape[0]
        if cond or self.cond:
            cond = {**self.cond, **cond}
            for key, value in cond.items():
                if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] != batch:
                    raise ValueError(f"condition {key!r} has batch size {value.shape[0]} but x has {batch}")
        label_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        if isinstance(t, torch.Tensor) and t.ndim == 0:
            t = float(t)
        if isinstance(t, (float, int)):
            t = float(t)
            alpha, sigma, label, x0_coef, eps_coef, scale = self._scalar_coefficients(t)
            labels = torch.full((batch,), label, dtype=label_dtype, device=x.device)
            x_in = x if scale == 1.0 else x * scale
        else:
            t, alpha, sigma, labels, x0_coef, eps_coef, scale = self._tensor_coefficients(torch.as_tensor(t), x)
            labels = labels.to(device=x.device, dtype=label_dtype)
            x_in = x * scale
        raw = self.model(x_in, labels, **cond)
        if not isinstance(raw, torch.Tensor) or raw.shape != x.shape:
            raise ValueError(f"the model returned shape {tuple(getattr(raw, 'shape', ()))} for an input of shape "
                             f"{tuple(x.shape)}; a '{self.prediction}' prediction must match its input")
        # one reduction (NaN and inf survive a sum); on accelerators left to the caller, to avoid a sync
        if raw.device.type == "cpu" and not math.isfinite(torch.sum(raw, dtype=_sum_dtype(raw)).item()):
            raise ValueError(f"the model returned NaN or inf at t={_describe(t)}")
        return Prediction(x, self.prior.project(raw), x0_coef, eps_coef, alpha, sigma, t, self.schedule)


def _sum_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _describe(t) -> str:
    return f"{t:.6g}" if isinstance(t, float) else f"[{t.min().item():.4g}..{t.max().item():.4g}]"


def _check_coefficients(kind: str, coefs: torch.Tensor, t) -> None:
    if not torch.isfinite(coefs).all():
        raise ValueError(
            f"a '{kind}' prediction cannot be turned into x0 and eps at t={_describe(t)}: "
            f"eps needs alpha(t) > 0 (zero-terminal-SNR and rectified-flow schedules reach alpha = 0 at t = 1: "
            f"use 'v', 'x0' or 'flow' there), x0 needs sigma(t) > 0 (t = 0 is clean data)")


class DenoiserWrapper:
    """Base of guidance wrappers: a denoiser that forwards ``schedule``, ``prior``, ``prediction`` and
    ``sigma_data`` to ``base``."""

    def __init__(self, base):
        self.base = base

    @property
    def sigma_data(self) -> float:
        return self.base.sigma_data

    @property
    def schedule(self) -> Schedule:
        return self.base.schedule

    @property
    def prior(self):
        return self.base.prior

    @property
    def prediction(self) -> str:
        return self.base.prediction

    def __call__(self, x, t, **cond) -> Prediction:
        raise NotImplementedError

    def bind(self, **cond) -> "DenoiserWrapper":
        """A denoiser that passes ``cond`` to this one at every call."""
        return _Bound(self, cond)


class _Bound(DenoiserWrapper):
    def __init__(self, base, cond: dict):
        super().__init__(base)
        self.cond = cond

    def __call__(self, x, t, **cond) -> Prediction:
        return self.base(x, t, **{**self.cond, **cond})
