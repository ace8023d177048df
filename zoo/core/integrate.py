"""An adaptive Runge-Kutta integrator (Dormand & Prince 1980, order 5(4)) over lists of tensors.

Used as the reference solver of the probability-flow ODE and by the likelihood.  The step is
shared by the batch and controlled by the worst example's error.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

__all__ = ["dopri5"]

_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)
_E = tuple(b5 - b4 for b5, b4 in zip(_B5, _B4))


def _axpy(ys, ks, coefs, h):
    out = []
    for j, y in enumerate(ys):
        acc = y.clone()
        for c, k in zip(coefs, ks):
            if c != 0.0:
                acc.add_(k[j], alpha=h * c)
        out.append(acc)
    return out


def _error_norm(ys, ys_new, errs, rtol, atol) -> float:
    """max over the batch of the RMS of err / (atol + rtol * max(|y|, |y_new|))."""
    total, count = 0.0, 0
    for y, yn, e in zip(ys, ys_new, errs):
        scale = atol + rtol * torch.maximum(y.abs(), yn.abs())
        total = total + (e / scale).pow(2).reshape(e.shape[0], -1).sum(1)
        count += e[0].numel()
    return float(torch.sqrt(total / count).max())


def dopri5(f: Callable[[float, list], list], ys: Sequence[torch.Tensor], s0: float, s1: float, *,
           rtol: float = 1e-5, atol: float = 1e-5, first_step: float | None = None,
           max_steps: int = 100_000, callback: Callable[[float], None] | None = None) -> list[torch.Tensor]:
    """Integrate ``dy/ds = f(s, y)`` from ``s0`` to ``s1`` (either direction); ``ys`` is a list of
    tensors with a common batch dimension.  Returns the state at ``s1``.  ``callback(fraction)``, if
    given, is called after each accepted step with the fraction of the span covered (0 to 1)."""
    ys = [y.clone() for y in ys]
    span = s1 - s0
    if span == 0:
        return ys
    direction = 1.0 if span > 0 else -1.0
    h = direction * (first_step if first_step is not None else 0.01 * abs(span))
    s = s0
    k1 = f(s, ys)
    for _ in range(max_steps):
        if direction * (s + h - s1) > 0:
            h = s1 - s
        ks = [k1]
        for stage in range(1, 7):
            ks.append(f(s + _C[stage] * h, _axpy(ys, ks, _A[stage], h)))
        ys_new = _axpy(ys, ks, _B5, h)  # the 7th stage was evaluated at ys_new (FSAL)
        errs = _axpy([torch.zeros_like(y) for y in ys], ks, _E, h)
        err = _error_norm(ys, ys_new, errs, rtol, atol)
        if err <= 1.0 or abs(h) < 1e-14 * max(1.0, abs(s)):
            s, ys, k1 = s + h, ys_new, ks[6]
            if callback is not None:
                callback(min(1.0, (s - s0) / span))
            if direction * (s - s1) >= 0:
                return ys
        factor = 0.9 * err ** -0.2 if err > 0 else 10.0
        h *= min(10.0, max(0.2, factor))
    raise RuntimeError(f"dopri5 did not reach s={s1} in {max_steps} steps (stuck at s={s})")
