"""UniPC (Zhao et al. 2023, arXiv:2302.04867): a unified predictor-corrector on the data prediction.

Each step predicts with UniP-p from the ``x0`` outputs of the last p steps, evaluates the model
at the prediction, and the next step first corrects that state with UniC using the new output,
so the corrector costs no evaluation.  ``B(h) = e^h - 1`` ("bh2") or ``h`` ("bh1").
"""
from __future__ import annotations

import math

import torch

from .base import Grid, finite, lincomb, multistep_order, register, report


def _phi_weights(h: float, order: int, variant: str):
    """``b_k = k! * hh * phi_{k+1}(hh) / B(h)`` for k = 1..order with hh = -h, and ``B(h)``."""
    hh = -h
    big_b = math.expm1(hh) if variant == "bh2" else hh
    weights, term, factorial = [], math.expm1(hh) / hh - 1.0, 1.0  # term_k = hh * phi_{k+1}(hh)
    for k in range(1, order + 1):
        weights.append(term * factorial / big_b)
        factorial *= k + 1
        term = term / hh - 1.0 / factorial
    return weights, big_b


def _update(x_start, m_start, older, lam_start, lam_end, a_end, s_end, s_start, order, variant, m_end=None):
    """One UniP step (``m_end`` None) or UniC correction (``m_end`` = output at the predicted state).

    older: [(lam, x0)] of earlier steps, newest first; order: the predictor's order of this step.
    """
    h = lam_end - lam_start
    c_x, c_m = s_end / s_start, -a_end * math.expm1(-h)  # first-order part: (s'/s) x + alpha'(1 - e^{-h}) m
    rks = [(lam_j - lam_start) / h for lam_j, _ in older[: order - 1]]
    if m_end is None and order == 1:
        return lincomb([(c_x, x_start), (c_m, m_start)])
    weights, big_b = _phi_weights(h, order, variant)
    # rho = 1/2 for a second-order predictor and a first-order corrector, as in the paper's code
    if m_end is None:
        nodes, rhs = rks, weights[: order - 1]
    else:
        nodes, rhs = rks + [1.0], weights
    if len(nodes) == 1:
        rhos = [0.5]
    else:
        R = torch.tensor([[r**k for r in nodes] for k in range(len(nodes))], dtype=torch.float64)
        rhos = torch.linalg.solve(R, torch.tensor(rhs, dtype=torch.float64)).tolist()
    scale = -a_end * big_b
    # sum_j rho_j D1_j with D1_j = (m_j - m_start) / r_j; the corrector's last node is D1 = m_end - m_start
    terms = [(c_x, x_start)]
    others = [m for _, m in older[: order - 1]] + ([m_end] if m_end is not None else [])
    weights_m = [scale * rho / r for rho, r in zip(rhos, nodes)]
    terms += list(zip(weights_m, others))
    terms.append((c_m - sum(weights_m), m_start))
    return lincomb(terms)


def unipc(denoiser, x, ts, *, order: int = 2, variant: str = "bh2", corrector: bool = True,
          lower_order_final: bool = True, generator=None, callback=None):
    """UniPC-p with data prediction; ``order`` 1-3; NFE = steps."""
    if order not in (1, 2, 3):
        raise ValueError(f"unipc order must be 1, 2 or 3, got {order}")
    if variant not in ("bh1", "bh2"):
        raise ValueError(f"unipc variant must be 'bh1' or 'bh2', got {variant!r}")
    g = Grid(denoiser.schedule, ts)
    history: list[tuple[float, torch.Tensor]] = []  # (lam, x0) newest first, excluding the current step
    prev = None  # (x_start, lam index, order) of the previous step, for the corrector
    for i in range(g.steps):
        t = g.ts[i]
        pred = denoiser(x, t)
        m = pred.x0
        if corrector and prev is not None:
            x_prev, p_prev = prev
            m_prev = history[0][1]
            x = _update(x_prev, m_prev, history[1:], g.lam[i - 1], g.lam[i], g.alpha[i], g.sigma[i],
                        g.sigma[i - 1], p_prev, variant, m_end=m)
        if not finite(g.lam[i]):
            history.clear()
        p = multistep_order(i, g.steps, order, len(history), lower_order_final)
        if not finite(g.lam[i + 1]):
            p = 1
        x_next = _update(x, m, history, g.lam[i], g.lam[i + 1], g.alpha[i + 1], g.sigma[i + 1], g.sigma[i],
                         p, variant)
        if finite(g.lam[i]):
            history.insert(0, (g.lam[i], m))
            del history[order:]
            prev = (x, p)
        else:
            prev = None
        x = x_next
        report(callback, i, t, x, pred)
    return x


register("unipc", order=3, fn=unipc)
