"""DPM-Solver++ (Lu et al. 2022, arXiv:2211.01095): exponential integrators on the data prediction.

With ``lam = log(alpha / sigma)`` and ``h = lam_s - lam_t`` a step from t to s is
``x_s = (sigma_s / sigma_t) x_t + alpha_s (1 - e^{-h}) D`` where ``D`` extrapolates the ``x0``
predictions of the last steps (2M: "midpoint" form, 3M: third order); the SDE variant
(``dpmpp_2m_sde``) adds ``sigma_s sqrt(1 - e^{-2h})`` of fresh noise.  ``dpmpp_2s`` is the
single-step second-order solver with its midpoint at ``lam_t + h / 2``.
"""
from __future__ import annotations

import math

from .base import Grid, ddim_step, finite, lincomb, multistep_order, register, report


def _multistep(denoiser, x, ts, *, order, sde, lower_order_final=True, generator=None, callback=None):
    g = Grid(denoiser.schedule, ts)
    history: list[tuple[float, object]] = []  # (lam, x0) of previous steps, newest last
    for i in range(g.steps):
        t = g.ts[i]
        pred = denoiser(x, t)
        lam_t, lam_s = g.lam[i], g.lam[i + 1]
        a_s, s_s = g.alpha[i + 1], g.sigma[i + 1]
        if not finite(lam_t):  # alpha = 0: earlier outputs say nothing about the path from here
            history.clear()
        p = multistep_order(i, g.steps, order, len(history), lower_order_final)
        if not finite(lam_s):  # into clean data: e^{-h} = 0, only the first-order step is defined
            p = 1
        h = lam_s - lam_t
        rho = math.exp(-h)  # e^{-h}
        if sde:  # x_s = (s_s/s_t) e^{-h} x + alpha_s (1 - e^{-2h}) D + sigma_s sqrt(1 - e^{-2h}) z
            c_x, c_d = (s_s / g.sigma[i]) * rho, a_s * (1.0 - rho * rho)
            noise_std = s_s * math.sqrt(max(1.0 - rho * rho, 0.0))
        else:  # x_s = (s_s/s_t) x + alpha_s (1 - e^{-h}) D
            c_x, c_d, noise_std = s_s / g.sigma[i], a_s * (1.0 - rho), 0.0
        if p == 1:
            # both forms with x written as alpha_t x0 + sigma_t eps (exact also from alpha_t = 0)
            x_next = pred.combine(c_x0=a_s, c_eps=s_s * rho) if sde else ddim_step(pred, a_s, s_s)
        else:
            x0 = pred.x0
            (lam1, m1) = history[-1]
            r0 = (lam_t - lam1) / h
            if p == 2:
                k = 0.5 / r0  # D = x0 + (x0 - m1) / (2 r0)
                x_next = lincomb([(c_x, x), (c_d * (1 + k), x0), (-c_d * k, m1)])
            else:
                (lam2, m2) = history[-2]
                r1 = (lam1 - lam2) / h
                # D0 = x0; D1_0 = (x0 - m1) / r0; D1_1 = (m1 - m2) / r1;
                # D1 = D1_0 + r0 / (r0 + r1) (D1_0 - D1_1); D2 = (D1_0 - D1_1) / (r0 + r1)
                em1 = math.expm1(-h)
                c1 = a_s * (em1 / h + 1.0)
                c2 = -a_s * ((em1 + h) / (h * h) - 0.5)
                k0 = c1 * (1 + r0 / (r0 + r1)) + c2 / (r0 + r1)  # weight of D1_0
                k1 = -c1 * r0 / (r0 + r1) - c2 / (r0 + r1)  # weight of D1_1
                x_next = lincomb([(c_x, x), (c_d + k0 / r0, x0), (-k0 / r0 + k1 / r1, m1), (-k1 / r1, m2)])
        if noise_std > 0:
            x_next.add_(denoiser.prior.noise(x_next, generator), alpha=noise_std)
        if finite(lam_t):
            history.append((lam_t, pred.x0))
            del history[:-2]
        x = x_next
        report(callback, i, t, x, pred)
    return x


def dpmpp_2m(denoiser, x, ts, *, lower_order_final: bool = True, generator=None, callback=None):
    """DPM-Solver++(2M): second-order multistep, one evaluation per step."""
    return _multistep(denoiser, x, ts, order=2, sde=False, lower_order_final=lower_order_final,
                      generator=generator, callback=callback)


def dpmpp_3m(denoiser, x, ts, *, lower_order_final: bool = True, generator=None, callback=None):
    """DPM-Solver++(3M): third-order multistep, one evaluation per step."""
    return _multistep(denoiser, x, ts, order=3, sde=False, lower_order_final=lower_order_final,
                      generator=generator, callback=callback)


def dpmpp_2m_sde(denoiser, x, ts, *, lower_order_final: bool = True, generator=None, callback=None):
    """SDE-DPM-Solver++(2M) (Lu et al. 2022, midpoint form): samples the reverse SDE."""
    return _multistep(denoiser, x, ts, order=2, sde=True, lower_order_final=lower_order_final,
                      generator=generator, callback=callback)


def dpmpp_2s(denoiser, x, ts, *, r: float = 0.5, generator=None, callback=None):
    """DPM-Solver++(2S): single-step, second order, 2 evaluations per step (1 into clean data).

    The extra evaluation sits at ``lam_t + r h``."""
    if not (0 < r < 1):
        raise ValueError(f"r must lie in (0, 1), got {r}")
    sched = denoiser.schedule
    g = Grid(sched, ts)
    for i in range(g.steps):
        t = g.ts[i]
        pred = denoiser(x, t)
        lam_t, lam_s = g.lam[i], g.lam[i + 1]
        if not (finite(lam_t) and finite(lam_s)):
            x = ddim_step(pred, g.alpha[i + 1], g.sigma[i + 1])
        else:
            h = lam_s - lam_t
            t_mid = float(sched.t_of_logsnr(2.0 * (lam_t + r * h)))
            a_m, s_m = (v.item() for v in sched.alpha_sigma(t_mid))
            u = ddim_step(pred, a_m, s_m)
            pred_mid = denoiser(u, t_mid)
            a_s, s_s = g.alpha[i + 1], g.sigma[i + 1]
            c_d = a_s * -math.expm1(-h)
            k = 0.5 / r  # D = (1 - 1/(2r)) x0 + 1/(2r) x0_mid
            x = pred.combine(c_x=s_s / g.sigma[i], c_x0=c_d * (1 - k)).add_(pred_mid.x0, alpha=c_d * k)
        report(callback, i, t, x, pred)
    return x


register("dpmpp_2m", order=2, fn=dpmpp_2m)
register("dpmpp_3m", order=3, fn=dpmpp_3m)
register("dpmpp_2m_sde", order=1, stochastic=True, fn=dpmpp_2m_sde)
register("dpmpp_2s", order=2, fn=dpmpp_2s)
