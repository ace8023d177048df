"""Stochastic samplers of the reverse SDE (Song et al. 2021) and annealed Langevin dynamics.

- ``euler_maruyama``: the reverse-time SDE ``dx = [f x - g^2 score] dt + g dW`` in ``t``, with
  ``f = alpha'/alpha`` and ``g^2 = 2 sigma sigma' - 2 f sigma^2``.
- ``pc``: predictor-corrector: ``n_corrector`` Langevin steps at each level, then an ancestral
  (DDPM) predictor step to the next level.
- ``langevin``: annealed Langevin dynamics (Song & Ermon 2019) on each level's marginal, with
  the step size set by a target signal-to-noise ratio (Song & Ermon 2020).
Every one steps into clean data with ``x0``, so no residual noise is left.
"""
from __future__ import annotations

import math


from .base import Grid, ddim_step, register, report
from .first_order import ddim_update


def _require_signal(g: Grid, name: str) -> None:
    if g.alpha[0] <= 0:
        raise ValueError(f"{name} needs alpha(t) > 0 at the first step (its drift is alpha'/alpha); "
                         f"start below t = 1 (t_max=...) or use ddpm / dpmpp_2m_sde")


def euler_maruyama(denoiser, x, ts, *, generator=None, callback=None):
    """Euler-Maruyama on the reverse SDE; one evaluation per step."""
    sched = denoiser.schedule
    g = Grid(sched, ts)
    _require_signal(g, "euler_maruyama")
    for i in range(g.steps):
        t, s = g.ts[i], g.ts[i + 1]
        pred = denoiser(x, t)
        if g.sigma[i + 1] == 0:
            x = ddim_step(pred, g.alpha[i + 1], 0.0)
        else:
            dalpha, dsigma = (v.item() for v in sched.derivatives(t))
            a, sig, dt = g.alpha[i], g.sigma[i], t - s
            f = dalpha / a
            g2 = max(2.0 * sig * dsigma - 2.0 * f * sig * sig, 0.0)
            # x - dt (f x - g^2 score), score = -eps / sigma
            x = pred.combine(c_x=1.0 - f * dt, c_eps=-dt * g2 / sig)
            x.add_(denoiser.prior.noise(x, generator), alpha=math.sqrt(g2 * dt))
        report(callback, i, t, x, pred)
    return x


def langevin_step(denoiser, x, t: float, snr: float, generator):
    """One Langevin step on p_t: ``x + e score + sqrt(2 e) z`` with ``e = 2 (snr sigma_t)^2``; returns (x, pred).

    For a Gaussian p_t of variance sigma_t^2 this makes the drift ``snr`` times the noise, the
    target signal-to-noise ratio of Song & Ermon (2020), with no dependence on the batch.
    """
    if not snr > 0:
        raise ValueError(f"snr must be > 0, got {snr}")
    pred = denoiser(x, t)
    step = 2.0 * (snr * pred.sigma) ** 2
    x = pred.combine(c_x=1.0, c_eps=-step / pred.sigma)  # x + step * score
    return x.add_(denoiser.prior.noise(x, generator), alpha=math.sqrt(2.0 * step)), pred


def pc(denoiser, x, ts, *, snr: float = 0.16, n_corrector: int = 1, generator=None, callback=None):
    """Predictor-corrector: ``n_corrector`` Langevin steps, then a DDPM step, at every level."""
    if n_corrector < 0:
        raise ValueError(f"n_corrector must be >= 0, got {n_corrector}")
    g = Grid(denoiser.schedule, ts)
    for i in range(g.steps):
        t = g.ts[i]
        for _ in range(n_corrector):
            x, _ = langevin_step(denoiser, x, t, snr, generator)
        pred = denoiser(x, t)
        x = ddim_update(denoiser, pred, g, i, 1.0, generator)
        report(callback, i, t, x, pred)
    return x


def langevin(denoiser, x, ts, *, snr: float = 0.3, n_inner: int = 5, generator=None, callback=None):
    """Annealed Langevin dynamics: ``n_inner`` steps at each positive level, then ``x0``."""
    if n_inner < 1:
        raise ValueError(f"n_inner must be >= 1, got {n_inner}")
    g = Grid(denoiser.schedule, ts)
    levels = [t for t in g.ts if t > 0]
    pred = None
    for i, t in enumerate(levels):
        for _ in range(n_inner):
            x, pred = langevin_step(denoiser, x, t, snr, generator)
        report(callback, i, t, x, pred)
    if g.ts[-1] == 0:
        x = ddim_step(denoiser(x, levels[-1]), 1.0, 0.0)
    return x


register("euler_maruyama", order=1, stochastic=True, fn=euler_maruyama)
register("pc", order=1, stochastic=True, fn=pc)
register("langevin", order=1, stochastic=True, fn=langevin)
