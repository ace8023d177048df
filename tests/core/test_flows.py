import math

import pytest
import torch

from tests.helpers import gen
from zoo import core
from zoo.core.flows import couple, straightness
from zoo.core.mixture import GaussianMixture

F64 = torch.float64
FLOW = core.schedules.RectifiedFlow()


def exact_flow(mixture):
    return core.Denoiser(mixture.model(FLOW, "flow"), FLOW, "flow")


def test_straightness_of_a_gaussian_flow_matches_its_closed_form():
    """Data N(mu, s^2 I): the ODE path from u at t = 1 is x(t) = (1 - t) mu + r(t) u with
    r(t) = sqrt((1 - t)^2 s^2 + t^2), so the deviation from the straight path is (1 - s - r'(t)) u."""
    s, mu = 0.5, torch.tensor([[2.0, -1.0]], dtype=F64)
    den = exact_flow(GaussianMixture(mu, torch.tensor([s], dtype=F64)))
    u = torch.randn(4000, 2, generator=gen(0), dtype=F64)
    measured = straightness(den, u, steps=400)
    t = torch.linspace(0, 1, 400_001, dtype=F64)[1:-1]
    r_prime = (t - (1 - t) * s**2) / torch.sqrt((1 - t) ** 2 * s**2 + t**2)
    expected = float(((1 - s - r_prime) ** 2).mean() * u.pow(2).mean())
    assert measured["straightness"] == pytest.approx(expected, rel=0.02)
    torch.testing.assert_close(measured["x0"], mu + s * u, rtol=0, atol=2e-2)  # the ODE end point (Euler error)


def test_a_point_mass_flows_straight_and_a_ring_does_not():
    u = torch.randn(2000, 2, generator=gen(1), dtype=F64)
    point = exact_flow(GaussianMixture(torch.tensor([[1.0, 1.0]], dtype=F64), torch.tensor([1e-4], dtype=F64)))
    assert straightness(point, u, steps=50)["relative"] < 1e-6
    ring = straightness(exact_flow(GaussianMixture.ring()), u, steps=50)
    assert ring["relative"] > 0.01 and math.isfinite(ring["straightness"])


def test_reflow_pairs_are_the_ode_coupling_and_training_on_them_uses_their_noise():
    den = exact_flow(GaussianMixture.ring())
    x_T = torch.randn(64, 2, generator=gen(2), dtype=F64)
    noise, x0 = couple(den, x_T, steps=16)
    assert noise is x_T
    torch.testing.assert_close(x0, core.sample(den, x_T, sampler="heun", steps=16))
    with pytest.raises(ValueError, match="deterministic"):
        couple(den, x_T, sampler="euler_ancestral")
    with pytest.raises(ValueError, match="steps"):
        straightness(den, x_T, steps=0)
