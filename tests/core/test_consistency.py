"""Consistency models against the closed form of Gaussian data.

Data N(mu, s^2) per dimension: in ``y = x / alpha`` with noise level ``S = sigma / alpha`` the
probability-flow ODE is linear, ``y(S) - mu = sqrt(s^2 + S^2) u``, so the exact consistency function
is ``f*(x, t) = mu + s (y - mu) / sqrt(s^2 + S^2)`` and one evaluation at ``t_max`` samples exactly.
"""
import math

import pytest
import torch

from tests.helpers import gen, oracle
from zoo import core
from zoo.core.consistency import Consistency, curriculum, distance, grid, interval_probabilities, loss, solve
from zoo.core.mixture import GaussianMixture

F64 = torch.float64
DDPM = core.schedules.DDPM()
MU, S = 0.7, 0.4


def exact_f(x, t, schedule=DDPM):
    alpha, sigma = (v.reshape(-1, *([1] * (x.ndim - 1))).to(x) for v in schedule.alpha_sigma(torch.as_tensor(t, dtype=F64)))
    y, level = x / alpha, sigma / alpha
    return MU + S * (y - MU) / torch.sqrt(S * S + level * level)


class ExactNet(torch.nn.Module):
    """An x0-predicting network whose consistency function (scale ``scale``) is exactly f*."""

    def __init__(self, scale=1.0, schedule=DDPM):
        super().__init__()
        self.scale, self.schedule = scale, schedule
        self.probe = Consistency(core.Denoiser(lambda x, label: x, schedule, "x0"), scale=scale)

    def forward(self, x, label):
        t = self.schedule.t_of_noise_label(label)
        alpha, sigma = (v.reshape(-1, *([1] * (x.ndim - 1))).to(x) for v in self.schedule.alpha_sigma(t))
        c = self.probe.skip(sigma / alpha)
        free = (exact_f(x, t, self.schedule) - c * x / alpha) / (1 - c).clamp(min=1e-300)
        return torch.where(c < 1, free, torch.zeros_like(x))


def exact_consistency(scale=1.0):
    return Consistency(core.Denoiser(ExactNet(scale), DDPM, "x0"), scale=scale)


def gaussian_teacher():
    return oracle(GaussianMixture(torch.tensor([[MU, MU]], dtype=F64), torch.tensor([S], dtype=F64)), DDPM, "eps")


def test_the_boundary_condition_holds_exactly_for_any_network():
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 2).double()
    f = Consistency(core.Denoiser(lambda x, label: net(x), DDPM, "eps"), scale=3.0)
    x = torch.randn(5, 2, generator=gen(0), dtype=F64)
    alpha = float(DDPM.alpha(DDPM.t_min))
    torch.testing.assert_close(f(x, DDPM.t_min).x0, x / alpha, rtol=1e-12, atol=1e-12)
    per_example = torch.full((5,), DDPM.t_min, dtype=F64)
    torch.testing.assert_close(f(x, per_example).x0, x / alpha, rtol=1e-12, atol=1e-12)
    assert f.skip(f.s_min) == 1.0 and f.skip(10.0) < 1e-3
    # elsewhere it is the blend c x / alpha + (1 - c) D, with c ~ 1e-6 at t = 1: the network's own x0 prediction
    alpha_1, level_1 = float(DDPM.alpha(1.0)), float(DDPM.sigma_ve(1.0))
    c = f.skip(level_1)
    assert c < 1e-5
    torch.testing.assert_close(f(x, 1.0).x0, (1 - c) * f.base(x, 1.0).x0 + c * x / alpha_1, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_multistep_consistency_sampling_of_the_exact_function_draws_the_data_distribution(steps):
    f = exact_consistency()
    x_T = torch.randn(100_000, 2, generator=gen(1), dtype=F64)
    x, info = core.sample(f, x_T, sampler="consistency", steps=steps, generator=gen(2), return_info=True)
    assert info.nfe == steps
    assert float(x.mean()) == pytest.approx(MU, abs=0.005)
    assert float(x.std()) == pytest.approx(S, rel=0.01)
    if steps == 1:  # one evaluation: the deterministic ODE map of x_T, exactly
        torch.testing.assert_close(x, exact_f(x_T, DDPM.t_max), rtol=1e-9, atol=1e-9)


def test_the_teacher_solve_is_the_ode_map_between_two_noise_levels():
    teacher = gaussian_teacher()
    t_hi, t_lo = 0.6, 0.3
    x = torch.randn(1000, 2, generator=gen(3), dtype=F64) * float(DDPM.sigma(t_hi)) + float(DDPM.alpha(t_hi)) * MU
    (a_hi, a_lo), (s_hi, s_lo) = DDPM.alpha_sigma(torch.tensor([t_hi, t_lo], dtype=F64))
    level_hi, level_lo = float(s_hi / a_hi), float(s_lo / a_lo)
    expected = float(a_lo) * (MU + math.sqrt(S**2 + level_lo**2) / math.sqrt(S**2 + level_hi**2) * (x / float(a_hi) - MU))
    one_heun = solve(teacher, x, t_hi, t_lo, solver="heun", steps=1)
    fine = solve(teacher, x, t_hi, t_lo, solver="dpmpp_2m", steps=40)
    assert (fine - expected).abs().max() < 1e-3
    assert 10 * (fine - expected).abs().max() < (one_heun - expected).abs().max()
    with pytest.raises(ValueError, match="deterministic"):
        solve(teacher, x, t_hi, t_lo, solver="ddpm")


def test_distillation_loss_vanishes_at_the_exact_consistency_function_and_not_elsewhere():
    exact, teacher = exact_consistency(), gaussian_teacher()
    ts = grid(DDPM, 18)
    x0 = MU + S * torch.randn(512, 2, generator=gen(4), dtype=F64)
    noise = torch.randn(512, 2, generator=gen(5), dtype=F64)
    t_hi, t_lo = float(ts[5]), float(ts[6])
    kw = dict(teacher=teacher, solver="dpmpp_2m", solver_steps=40, kind="l2")
    assert float(loss(exact, exact, x0, noise, t_hi, t_lo, **kw).mean()) < 1e-8
    shifted = Consistency(core.Denoiser(lambda x, label: ExactNet()(x, label) + 0.1, DDPM, "x0"))
    wrong = float(loss(shifted, exact, x0, noise, t_hi, t_lo, **kw).mean())
    c = shifted.skip(float(DDPM.sigma_ve(t_hi)))
    assert wrong == pytest.approx((0.1 * (1 - c)) ** 2, rel=1e-3)
    with pytest.raises(ValueError, match="floats"):
        loss(exact, exact, x0, noise, ts[[5] * 512], ts[[6] * 512], teacher=teacher)


def test_consistency_training_loss_shrinks_with_the_interval_at_the_exact_function():
    exact = exact_consistency()
    ts = grid(DDPM, 641)
    x0 = MU + S * torch.randn(4096, 2, generator=gen(6), dtype=F64)
    noise = torch.randn(4096, 2, generator=gen(7), dtype=F64)
    coarse = float(loss(exact, exact, x0, noise, ts[300], ts[340], kind="l2").mean())
    fine = float(loss(exact, exact, x0, noise, ts[300], ts[301], kind="l2").mean())
    assert fine < coarse / 100  # the one-sample estimator's error is second order in the gap
    per_example = torch.full((4096,), float(ts[300]), dtype=F64)
    torch.testing.assert_close(loss(exact, exact, x0, noise, per_example, ts[[301] * 4096], kind="l2"),
                               loss(exact, exact, x0, noise, float(ts[300]), float(ts[301]), kind="l2"))


@pytest.mark.slow
def test_distilling_a_small_network_from_a_gaussian_teacher_samples_the_gaussian_in_one_step():
    """The student learns the consistency function of the teacher's discretised ODE (Heun, 2
    sub-steps on 17 intervals: std 0.409 for the true 0.4), with an EMA target (decay 0.9)."""
    import copy

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.SiLU(), torch.nn.Linear(64, 64), torch.nn.SiLU(),
                              torch.nn.Linear(64, 2)).double()
    target_net = copy.deepcopy(net).requires_grad_(False)

    def consistency(module):
        return Consistency(core.Denoiser(lambda x, label: module(torch.cat([x, label[:, None] / 1000.0], 1)), DDPM, "x0"))

    student, target = consistency(net), consistency(target_net)
    teacher, ts = gaussian_teacher(), grid(DDPM, 18)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g, steps = gen(8), 2000
    for step in range(steps):
        opt.param_groups[0]["lr"] = 1e-3 * (1 - step / steps)
        n = int(torch.randint(0, len(ts) - 1, (1,), generator=g))
        x0 = MU + S * torch.randn(256, 2, generator=g, dtype=F64)
        noise = torch.randn(256, 2, generator=g, dtype=F64)
        value = loss(student, target, x0, noise, float(ts[n]), float(ts[n + 1]), teacher=teacher, solver="heun",
                     solver_steps=2, kind="l2").mean()
        opt.zero_grad()
        value.backward()
        opt.step()
        with torch.no_grad():
            for t_param, param in zip(target_net.parameters(), net.parameters()):
                t_param.lerp_(param, 0.1)
    with torch.no_grad():
        x = core.sample(student, torch.randn(20_000, 2, generator=gen(9), dtype=F64), sampler="consistency", steps=1)
    assert float(x.mean()) == pytest.approx(MU, abs=0.06)  # 0.736 after 2000 steps; at initialisation 0.0
    assert float(x.std()) == pytest.approx(S, rel=0.1)


def test_the_curriculum_doubles_from_s0_to_s1():
    # Song & Dhariwal (2024): K = 400,000 steps, s0 = 10, s1 = 1280 -> K' = 50,000
    assert [curriculum(k, 400_000) for k in (0, 49_999, 50_000, 100_000, 399_999)] == [11, 11, 21, 41, 1281]
    with pytest.raises(ValueError, match="s0"):
        curriculum(0, 10, s0=20, s1=10)


def test_log_normal_interval_probabilities_peak_where_the_normal_does():
    ts = grid(DDPM, 200)
    p = interval_probabilities(DDPM, ts, p_mean=-1.1, p_std=2.0)
    assert p.shape == (199,) and float(p.sum()) == pytest.approx(1.0)
    levels = DDPM.sigma_ve(ts)
    centre = torch.sqrt(levels[:-1] * levels[1:])
    mean_log = float((p * torch.log(centre)).sum())
    assert mean_log == pytest.approx(-1.1, abs=0.2)  # the grid clips little of N(-1.1, 2^2) between 0.01 and 157


def test_pseudo_huber_is_quadratic_near_zero_and_linear_far_away():
    a = torch.zeros(2, 100, dtype=F64)
    b = torch.tensor([[1e-5] * 100, [10.0] * 100], dtype=F64)
    c = 0.00054 * 10
    near, far = distance(a, b, "pseudo_huber")
    assert float(near) == pytest.approx(100 * 1e-10 / (2 * c), rel=1e-3)
    assert float(far) == pytest.approx(100.0 - c, rel=1e-6)
    torch.testing.assert_close(distance(a, b, "l2"), torch.tensor([1e-10, 100.0], dtype=F64))
    with pytest.raises(ValueError, match="distance"):
        distance(a, b, "lpips")


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="at least 2"):
        grid(DDPM, 1)
    with pytest.raises(ValueError, match="scale"):
        Consistency(gaussian_teacher(), scale=0.0)
    exact = exact_consistency()
    x = torch.zeros(4, 2, dtype=F64)
    with pytest.raises(ValueError, match="weighting"):
        loss(exact, exact, x, x, 0.5, 0.4, weighting="snr")
