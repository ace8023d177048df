"""DDIM and its stochastic family, the Euler / Heun samplers of Karras et al. (2022), and
multistep consistency sampling (``consistency``, Song et al. 2023).

DDIM with ``eta`` (Song et al. 2021) covers three names: ``ddim`` (eta = 0), ``ddpm`` (eta = 1,
Ho et al. 2020's ancestral sampler: the posterior q(x_s | x_t, x0) between grid points) and
``euler_ancestral`` (k-diffusion's name; in ``sigma / alpha`` it steps to ``sigma_down`` and adds
``sigma_up`` of noise, which is the same update).  Euler in ``sigma / alpha`` is DDIM with
eta = 0; ``euler`` adds EDM's optional churn, ``heun`` its second-order correction.
"""
from __future__ import annotations

import math


from .base import Grid, ddim_step, lincomb, register, report


def ddim(denoiser, x, ts, *, eta: float = 0.0, generator=None, callback=None):
    """DDIM: ``x_s = alpha_s x0 + sqrt(sigma_s^2 - c^2) eps + c z`` with
    ``c = eta * sigma_s * sqrt(1 - exp(logsnr_t - logsnr_s))``.  One evaluation per step."""
    if not (eta >= 0):
        raise ValueError(f"eta must be >= 0, got {eta}")
    g = Grid(denoiser.schedule, ts)
    for i in range(g.steps):
        pred = denoiser(x, g.ts[i])
        x = ddim_update(denoiser, pred, g, i, eta, generator)
        report(callback, i, g.ts[i], x, pred)
    return x


def ddim_update(denoiser, pred, g: Grid, i: int, eta: float, generator):
    """The DDIM step from grid point ``i`` to ``i + 1`` given the prediction at ``i``."""
    a_s, s_s = g.alpha[i + 1], g.sigma[i + 1]
    c = 0.0
    if eta > 0 and s_s > 0:
        ratio = math.exp(2.0 * (g.lam[i] - g.lam[i + 1]))  # exp(logsnr_t - logsnr_s) <= 1
        c = min(eta * s_s * math.sqrt(max(1.0 - ratio, 0.0)), s_s)
    if c == 0.0:
        return ddim_step(pred, a_s, s_s)
    x = pred.combine(c_x0=a_s, c_eps=math.sqrt(s_s * s_s - c * c))
    return x.add_(denoiser.prior.noise(x, generator), alpha=c)


def consistency(denoiser, x, ts, *, generator=None, callback=None):
    """Multistep consistency sampling (Song et al. 2023, Algorithm 1): at each grid time predict
    ``x0``, then re-noise it to the next time with fresh noise, ``alpha' x0 + sigma' z``.  One
    evaluation per step; meant for consistency models (for others it is a crude ancestral sampler)."""
    g = Grid(denoiser.schedule, ts)
    for i in range(g.steps):
        pred = denoiser(x, g.ts[i])
        x = pred.x0
        if g.sigma[i + 1] > 0:
            x = (x * g.alpha[i + 1]).add_(denoiser.prior.noise(x, generator), alpha=g.sigma[i + 1])
        report(callback, i, g.ts[i], x, pred)
    return x


register("ddim", order=1, fn=ddim, defaults={"eta": 0.0})
register("consistency", order=1, stochastic=True, fn=consistency)
register("ddpm", order=1, stochastic=True, fn=ddim, defaults={"eta": 1.0}, fixed=("eta",))
register("euler_ancestral", order=1, stochastic=True, fn=ddim, defaults={"eta": 1.0})


def _churned(denoiser, g: Grid, i: int, x, churn, s_tmin, s_tmax, s_noise, generator):
    """EDM's stochastic churn: raise the noise level of ``x`` from sigma_i to sigma_i (1 + gamma)."""
    t, sig = g.ts[i], g.sigma_ve[i]
    gamma = min(churn / g.steps, math.sqrt(2.0) - 1.0) if churn > 0 and s_tmin <= sig <= s_tmax else 0.0
    if gamma == 0.0 or not math.isfinite(sig):
        return x, t, g.alpha[i], sig
    sched = denoiser.schedule
    t_hat = min(float(sched.t_of_sigma_ve(sig * (1.0 + gamma))), sched.t_max)
    a_hat, s_hat = (v.item() for v in sched.alpha_sigma(t_hat))
    sig_hat = s_hat / a_hat
    y = x / g.alpha[i]
    y.add_(denoiser.prior.noise(x, generator), alpha=s_noise * math.sqrt(max(sig_hat**2 - sig**2, 0.0)))
    return y * a_hat, t_hat, a_hat, sig_hat


def edm_sampler(denoiser, x, ts, *, second_order: bool, churn: float = 0.0, s_tmin: float = 0.0,
                s_tmax: float = math.inf, s_noise: float = 1.0, generator=None, callback=None):
    """Karras et al. (2022), Algorithm 2, in ``y = x / alpha`` with ``sigma = sigma / alpha``.

    Euler (``second_order=False``) or Heun: 2 evaluations per step except a step into clean data
    (or out of alpha = 0, where sigma / alpha is infinite), which is a first-order step.
    """
    g = Grid(denoiser.schedule, ts)
    for i in range(g.steps):
        if churn > 0:
            x, t, a_t, sig_t = _churned(denoiser, g, i, x, churn, s_tmin, s_tmax, s_noise, generator)
        else:
            t, a_t, sig_t = g.ts[i], g.alpha[i], g.sigma_ve[i]
        pred = denoiser(x, t)
        a_s, s_s, sig_s = g.alpha[i + 1], g.sigma[i + 1], g.sigma_ve[i + 1]
        x_next = ddim_step(pred, a_s, s_s)
        if second_order and s_s > 0 and a_t > 0:
            pred_next = denoiser(x_next, g.ts[i + 1])
            half = 0.5 * a_s * (sig_s - sig_t)  # y_s = y_t + (sig_s - sig_t) (eps_t + eps_s) / 2
            x_next = lincomb(pred.terms(c_x=a_s / a_t, c_eps=half) + pred_next.terms(c_eps=half))
        x = x_next
        report(callback, i, t, x, pred)
    return x


def euler(denoiser, x, ts, *, churn: float = 0.0, s_tmin: float = 0.0, s_tmax: float = math.inf,
          s_noise: float = 1.0, generator=None, callback=None):
    """Euler on the probability-flow ODE in sigma / alpha (= DDIM), with optional EDM churn."""
    if churn == 0:
        return ddim(denoiser, x, ts, generator=generator, callback=callback)
    return edm_sampler(denoiser, x, ts, second_order=False, churn=churn, s_tmin=s_tmin, s_tmax=s_tmax,
                       s_noise=s_noise, generator=generator, callback=callback)


def heun(denoiser, x, ts, *, churn: float = 0.0, s_tmin: float = 0.0, s_tmax: float = math.inf,
         s_noise: float = 1.0, generator=None, callback=None):
    """Heun's second-order method (EDM), with optional churn; NFE = 2 N - 1 on a grid ending at 0."""
    return edm_sampler(denoiser, x, ts, second_order=True, churn=churn, s_tmin=s_tmin, s_tmax=s_tmax,
                       s_noise=s_noise, generator=generator, callback=callback)


register("euler", order=1, fn=euler)
register("heun", order=2, fn=heun)
