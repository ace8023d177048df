"""PLMS, the pseudo linear multistep method of PNDM (Liu et al. 2022, arXiv:2202.09778).

Adams-Bashforth combinations of the last noise predictions (orders 2-4), each applied with the
DDIM transfer ``x_s = (alpha_s / alpha_t) x + (sigma_s - alpha_s sigma_t / alpha_t) e'``.  The
first step is a Heun-like pseudo step (two evaluations, averaged noise), so NFE = steps + 1.
"""
from __future__ import annotations

from .base import Grid, lincomb, register, report

# Adams-Bashforth weights on eps_i, eps_{i-1}, ... by order
_ADAMS_BASHFORTH = {1: (1.0,), 2: (1.5, -0.5), 3: (23 / 12, -16 / 12, 5 / 12), 4: (55 / 24, -59 / 24, 37 / 24, -9 / 24)}


def _transfer(x, weighted_eps, g: Grid, i: int):
    """The DDIM step from grid point i with the noise estimate sum(w e) of [(w, e), ...]."""
    a_t, s_t, a_s, s_s = g.alpha[i], g.sigma[i], g.alpha[i + 1], g.sigma[i + 1]
    k = s_s - a_s * s_t / a_t
    return lincomb([(a_s / a_t, x)] + [(k * w, e) for w, e in weighted_eps])


def plms(denoiser, x, ts, *, lower_order_final: bool = True, generator=None, callback=None):
    """PLMS (4th-order Adams-Bashforth on eps).  ``lower_order_final=False`` keeps the full order
    on the last steps, as diffusers' PNDMScheduler does."""
    g = Grid(denoiser.schedule, ts)
    if g.alpha[0] == 0:
        raise ValueError("plms extrapolates eps and needs alpha(t) > 0 at the first step; "
                         "start below t = 1 or use ddim / dpmpp_2m / unipc")
    history = []  # eps of previous steps, newest first
    for i in range(g.steps):
        t = g.ts[i]
        pred = denoiser(x, t)
        eps = pred.eps
        if i == 0 and g.steps > 1:  # pseudo improved-Euler start
            trial = _transfer(x, [(1.0, eps)], g, 0)
            combined = [(0.5, eps), (0.5, denoiser(trial, g.ts[1]).eps)]
        else:
            order = min(len(history) + 1, 4)
            if lower_order_final:
                order = min(order, g.steps - i)
            combined = list(zip(_ADAMS_BASHFORTH[order], [eps] + history[: order - 1]))
        history.insert(0, eps)
        del history[3:]
        x = _transfer(x, combined, g, i)
        report(callback, i, t, x, pred)
    return x


register("plms", order=4, fn=plms)
