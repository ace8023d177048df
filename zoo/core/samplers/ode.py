"""The reference solver: the probability-flow ODE integrated adaptively (Dormand-Prince 5(4)).

It integrates in the angle ``theta = atan2(sigma, alpha)`` on the normalised state
``z = x / sqrt(alpha^2 + sigma^2)``, where the ODE reads ``dz/dtheta = v`` (the v-prediction,
cos(theta) eps - sin(theta) x0) for every schedule and stays finite from pure noise
(theta = pi/2, alpha = 0) to clean data.  Only the grid's first and last positive times matter:
it integrates between them, then steps to clean data with ``x0`` if the grid ends at 0.
"""
from __future__ import annotations

import math

import torch

from ..integrate import dopri5
from .base import Grid, ddim_step, register, report


def theta_of_t(schedule, t: float) -> float:
    alpha, sigma = (v.item() for v in schedule.alpha_sigma(t))
    return math.atan2(sigma, alpha)


def t_of_theta(schedule, theta: float) -> float:
    if theta <= 0:
        return 0.0
    if theta >= math.pi / 2:
        return float(schedule.t_of_logsnr(-math.inf))
    return float(schedule.t_of_logsnr(2.0 * math.log(math.cos(theta) / math.sin(theta))))


def ode_velocity(denoiser, z: torch.Tensor, theta: float):
    """``(dz/dtheta, prediction)`` at angle ``theta``."""
    t = t_of_theta(denoiser.schedule, theta)
    alpha, sigma = (v.item() for v in denoiser.schedule.alpha_sigma(t))
    scale = math.hypot(alpha, sigma)
    pred = denoiser(z * scale, t)
    return pred.combine(c_x0=-sigma / scale, c_eps=alpha / scale), pred


def ode(denoiser, x, ts, *, rtol: float = 1e-5, atol: float = 1e-5, generator=None, callback=None):
    """Adaptive probability-flow ODE solve from ``ts[0]`` to the last positive time of ``ts``."""
    g = Grid(denoiser.schedule, ts)
    last = g.steps if g.ts[-1] > 0 else g.steps - 1
    sched = denoiser.schedule
    theta0, theta1 = theta_of_t(sched, g.ts[0]), theta_of_t(sched, g.ts[last])
    z = x / math.hypot(g.alpha[0], g.sigma[0])
    (z,) = dopri5(lambda th, ys: [ode_velocity(denoiser, ys[0], th)[0]], [z], theta0, theta1, rtol=rtol, atol=atol)
    x = z * math.hypot(g.alpha[last], g.sigma[last])
    if last < g.steps:
        pred = denoiser(x, g.ts[last])
        x = ddim_step(pred, g.alpha[-1], g.sigma[-1])
        report(callback, last, g.ts[last], x, pred)
    return x


register("ode", order=5, fn=ode)
