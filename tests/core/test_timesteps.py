import math

import diffusers
import pytest
import torch

from zoo import core
from zoo.core import schedules, timesteps

F64 = torch.float64


@pytest.mark.parametrize("steps", [1, 7, 10, 25, 50, 999])
@pytest.mark.parametrize("spacing, offset", [("leading", 0), ("leading", 1), ("trailing", 0)])
def test_leading_and_trailing_are_diffusers_ddim_steps(steps, spacing, offset):
    peer = diffusers.DDIMScheduler(timestep_spacing=spacing, steps_offset=offset)
    peer.set_timesteps(steps)
    ours = timesteps.make(schedules.DDPM(), steps, spacing, steps_offset=offset)
    want = torch.cat([(peer.timesteps.to(F64) + 1) / 1000, torch.zeros(1, dtype=F64)])
    torch.testing.assert_close(ours, want)


@pytest.mark.parametrize("sched", [schedules.DDPM(), schedules.EDM(), schedules.VP(), schedules.VE()],
                         ids=lambda s: s.name)
def test_linspace_logsnr_karras_span_t_max_to_t_min_then_zero(sched):
    for placement in ("linspace", "logsnr", "karras"):
        ts = timesteps.make(sched, 12, placement)
        assert ts.shape == (13,) and ts[0] == sched.t_max and ts[-1] == 0
        assert ts[-2].item() == pytest.approx(sched.t_min, rel=1e-12)
        assert (ts[1:] < ts[:-1]).all()
    lam = sched.logsnr(timesteps.make(sched, 12, "logsnr")[:-1])
    torch.testing.assert_close(lam.diff(), torch.full((11,), lam.diff().mean().item(), dtype=F64))


def test_karras_follows_its_formula():
    sched = schedules.EDM(sigma_min=0.002, sigma_max=80.0)
    n, rho = 18, 7.0
    ramp = torch.linspace(0, 1, n, dtype=F64)
    want = (80 ** (1 / rho) + ramp * (0.002 ** (1 / rho) - 80 ** (1 / rho))) ** rho  # Karras et al., eq. 5
    torch.testing.assert_close(sched.sigma(timesteps.make(sched, n, "karras")[:-1]), want)


def test_rectified_flow_linspace_is_uniform_to_zero():
    ts = timesteps.make(schedules.RectifiedFlow(), 4, "linspace")
    torch.testing.assert_close(ts, torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0], dtype=F64))


def test_tabulated_diffwave_fast_schedule():
    train = schedules.DDPM(betas=torch.linspace(1e-4, 0.05, 50))
    betas = [0.0001, 0.001, 0.01, 0.05, 0.2, 0.5]
    ts = timesteps.tabulated(train, betas)
    assert ts.shape == (7,) and ts[-1] == 0
    torch.testing.assert_close(train.alpha(ts[:-1].flip(0)) ** 2, torch.cumprod(1 - torch.tensor(betas, dtype=F64), 0))


def test_explicit_grid_gets_zero_appended():
    ts = timesteps.make(schedules.DDPM(), 3, torch.tensor([0.9, 0.5, 0.1]))
    torch.testing.assert_close(ts, torch.tensor([0.9, 0.5, 0.1, 0.0], dtype=F64))


@pytest.mark.parametrize("call, message", [
    (lambda: timesteps.make(schedules.DDPM(), 0), "steps must be an integer >= 1"),
    (lambda: timesteps.make(schedules.DDPM(), 2.5), "steps must be an integer"),
    (lambda: timesteps.make(schedules.DDPM(), 5, "cosine"), "unknown timestep placement 'cosine'"),
    (lambda: timesteps.make(schedules.DDPM(), 5, torch.tensor([0.5, 0.7])), "strictly decreasing"),
    (lambda: timesteps.make(schedules.DDPM(), 5, torch.tensor([1.5, 0.7])), "within|in \\[0, 1\\]"),
    (lambda: timesteps.make(schedules.EDM(), 5, "leading"), "discrete table"),
    (lambda: timesteps.make(schedules.RectifiedFlow(), 5, "karras"), "finite noise level"),
    (lambda: timesteps.make(schedules.DDPM(), 5, "linspace", t_max=0.1, t_min=0.5), "t_min < t_max"),
    (lambda: timesteps.tabulated(schedules.DDPM(), [0.5, 1.5]), "betas must lie in"),
])
def test_bad_grids_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_rectified_flow_karras_inside_bounds():
    ts = timesteps.make(schedules.RectifiedFlow(), 6, "karras", t_max=0.999, t_min=0.001)
    assert ts[0].item() == pytest.approx(0.999) and ts[-2].item() == pytest.approx(0.001) and ts[-1] == 0
    assert not math.isnan(ts.sum().item())


def test_optimized_grid_beats_the_default_on_fresh_noise():
    from tests.helpers import noise, oracle

    ring = core.mixture.GaussianMixture.ring()
    den = oracle(ring, schedules.DDPM())
    grid = core.samplers.optimize_grid(den, 6, "dpmpp_2m", shape=(2,), batch=64, sweeps=1)
    default = timesteps.make(den.schedule, 6)
    assert grid.shape == (7,) and grid[0] == default[0] and grid[-2] == default[-2] and grid[-1] == 0
    x_T = noise(1000, seed=11)  # not the noise it was fitted on
    ref = core.sample(den, x_T, sampler="ode", timesteps=default[[0, -2, -1]], rtol=1e-9, atol=1e-9)
    err = {name: (core.sample(den, x_T, sampler="dpmpp_2m", steps=6, timesteps=g) - ref).norm(dim=1).mean().item()
           for name, g in [("optimized", grid), ("logsnr", default)]}
    assert err["optimized"] < 0.7 * err["logsnr"]


def test_optimized_in_sample_is_fitted_once_per_denoiser():
    from tests.helpers import noise, oracle

    ring = core.mixture.GaussianMixture.ring()
    calls = []
    base = oracle(ring, schedules.DDPM())
    den = core.Denoiser(lambda x, label: calls.append(1) or base.model(x, label), base.schedule, "eps")
    core.sample(den, noise(8), sampler="ddim", steps=3, timesteps="optimized")
    first = len(calls)
    _, info = core.sample(den, noise(8), sampler="ddim", steps=3, timesteps="optimized", return_info=True)
    assert first > 50 and len(calls) == first + 3 and info.nfe == 3


def test_optimize_refuses_stochastic_samplers():
    from tests.helpers import oracle

    den = oracle(core.mixture.GaussianMixture.ring(), schedules.DDPM())
    with pytest.raises(ValueError, match="deterministic"):
        core.samplers.optimize_grid(den, 5, "ddpm", shape=(2,))


def test_refine_grid_finds_the_minimum_of_a_known_error_and_keeps_only_improvements():
    start = torch.tensor([0.9, 0.7, 0.5, 0.3, 0.1, 0.0], dtype=F64)
    target = torch.tensor([0.8, 0.45, 0.35, 0.2, 0.02, 0.0], dtype=F64)  # inside the neighbours' brackets
    calls = []

    def error(grid):
        calls.append(1)
        return (grid - target).pow(2).sum().item()
    grid = core.samplers.refine_grid(start, error, range(5), sweeps=3, iterations=20)
    torch.testing.assert_close(grid, target, atol=2e-3, rtol=0)
    assert len(calls) == 3 * 5 * 22 + 1 and start[0] == 0.9  # the input is not changed
    # a start that the error would push later stays where it was; a grid already best is returned as it was
    late = core.samplers.refine_grid(start, lambda g: -g[0].item(), [0], sweeps=1, iterations=10)
    assert late[0] == 0.9
    assert torch.equal(core.samplers.refine_grid(target, error, range(5), sweeps=1), target)
