"""DEIS (Zhang & Chen 2023, arXiv:2204.13902), the log-rho multistep variant.

In ``y = x / alpha`` and ``rho = sigma / alpha`` the probability-flow ODE is ``dy/drho = eps``.
DEIS fits a polynomial in ``log rho`` through the last ``p`` noise predictions and integrates it
exactly over the step: ``y_s = y_t + sum_j w_j eps_j`` with ``w_j = int l_j(log rho) d rho``.
"""
from __future__ import annotations

import math

from .base import Grid, ddim_step, finite, lincomb, multistep_order, register, report


def _poly_mul(p: list[float], q: list[float]) -> list[float]:
    out = [0.0] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def _int_poly_exp(coeffs: list[float], delta: float) -> float:
    """int_0^delta q(v) e^v dv for q = sum coeffs[k] v^k, via e^v sum_k (-1)^k q^(k)(v)."""
    def antiderivative(v: float) -> float:
        total, deriv, sign = 0.0, list(coeffs), 1.0
        while deriv:
            total += sign * sum(c * v**k for k, c in enumerate(deriv))
            deriv = [k * c for k, c in enumerate(deriv)][1:]
            sign = -sign
        return math.exp(v) * total
    return antiderivative(delta) - antiderivative(0.0)


def exp_lagrange_weights(nodes: list[float], delta: float) -> list[float]:
    """``w_j = int_0^delta l_j(v) e^v dv`` for the Lagrange basis ``l_j`` on ``nodes``."""
    weights = []
    for j, vj in enumerate(nodes):
        basis = [1.0]
        for k, vk in enumerate(nodes):
            if k != j:
                basis = _poly_mul(basis, [-vk / (vj - vk), 1.0 / (vj - vk)])
        weights.append(_int_poly_exp(basis, delta))
    return weights


def deis(denoiser, x, ts, *, order: int = 2, lower_order_final: bool = True, generator=None, callback=None):
    """DEIS-p (log-rho polynomial), ``order`` 1-3, one evaluation per step."""
    if order not in (1, 2, 3):
        raise ValueError(f"deis order must be 1, 2 or 3, got {order}")
    g = Grid(denoiser.schedule, ts)
    history: list[tuple[float, object]] = []  # (log rho, eps) of previous steps, newest first
    for i in range(g.steps):
        t = g.ts[i]
        pred = denoiser(x, t)
        log_rho = math.log(g.sigma_ve[i]) if finite(g.sigma_ve[i]) else math.inf
        if not finite(log_rho):
            history.clear()
        p = multistep_order(i, g.steps, order, len(history), lower_order_final)
        if g.sigma_ve[i + 1] == 0:
            p = 1
        if p == 1:
            x_next = ddim_step(pred, g.alpha[i + 1], g.sigma[i + 1])
        else:
            points = [(log_rho, pred.eps)] + history[: p - 1]
            nodes = [u - log_rho for u, _ in points]
            delta = math.log(g.sigma_ve[i + 1]) - log_rho
            weights = exp_lagrange_weights(nodes, delta)
            a_s, rho_t = g.alpha[i + 1], g.sigma_ve[i]
            x_next = lincomb([(a_s / g.alpha[i], x)] + [(a_s * rho_t * w, e) for w, (_, e) in zip(weights, points)])
        if finite(log_rho):
            history.insert(0, (log_rho, pred.eps))
            del history[order:]
        x = x_next
        report(callback, i, t, x, pred)
    return x


register("deis", order=3, fn=deis)
