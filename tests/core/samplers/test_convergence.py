"""Deterministic samplers converge to the probability-flow ODE solution at their order.

The data is a smooth 2-D ring mixture with an exact denoiser; the reference is the adaptive
Dormand-Prince solution in float64 (rtol 1e-11) from the same noise to the last trained level,
followed by the same final step to clean data as every sampler takes.  The error falls as
``N^-order``; the orders asserted are the ones the algorithms reach in practice (a multistep
method started at first order, like DPM-Solver++(3M) and PLMS, is globally second order; UniPC's
corrector adds one order; UniPC-3 sits between orders 3 and 4 at these step counts).
"""
import math

import pytest
import torch

from tests.helpers import noise, oracle
from zoo import core
from zoo.core import schedules

ORDERS = [
    ("ddim", {}, 1), ("euler", {}, 1), ("heun", {}, 2), ("dpmpp_2m", {}, 2), ("dpmpp_3m", {}, 2), ("dpmpp_2s", {}, 2),
    ("deis", {}, 2), ("deis", {"order": 3}, 3), ("unipc", {"order": 1}, 2), ("unipc", {}, 3), ("unipc", {"order": 3}, 3.5),
    ("plms", {}, 2),
]
CONFIGS = {
    "ddpm-eps": (schedules.DDPM(), "eps", {}),
    "edm-F": (schedules.EDM(), "edm", {}),
    "flow": (schedules.RectifiedFlow(), "flow", {"t_max": 1 - 1e-3, "t_min": 1e-3}),
}


@pytest.fixture(scope="module")
def problems():
    mixture = core.mixture.GaussianMixture.ring(std=0.3)
    out = {}
    for key, (sched, prediction, bounds) in CONFIGS.items():
        den = oracle(mixture, sched, prediction)
        grid = core.timesteps.make(sched, 2, "logsnr", **bounds)
        x_T = noise(128, seed=3) * float(sched.sigma(grid[0]))
        ref = core.sample(den, x_T, sampler="ode", timesteps=torch.stack([grid[0], grid[-2], grid[-1]]),
                          rtol=1e-11, atol=1e-11)
        out[key] = (den, x_T, ref, bounds)
    return out


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("name, options, order", ORDERS, ids=[f"{n}{o.get('order', '')}" for n, o, _ in ORDERS])
def test_error_falls_at_the_samplers_order(problems, config, name, options, order):
    den, x_T, ref, bounds = problems[config]
    errors = []
    for steps in (64, 256):
        x = core.sample(den, x_T, sampler=name, steps=steps, timesteps="logsnr", **bounds, **options)
        errors.append((x - ref).norm(dim=1).max().item())
    slope = math.log(errors[1] / errors[0]) / math.log(4)
    assert -order - 0.35 < slope < -order + 0.3, (errors, slope)


def test_ode_reference_is_converged(problems):
    den, x_T, ref, bounds = problems["ddpm-eps"]
    grid = core.timesteps.make(den.schedule, 2, "logsnr")
    loose = core.sample(den, x_T, sampler="ode", timesteps=torch.stack([grid[0], grid[-2], grid[-1]]),
                        rtol=1e-8, atol=1e-8)
    assert (loose - ref).abs().max().item() < 1e-6
