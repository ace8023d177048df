import math

import pytest
import torch

from tests.helpers import gen, oracle
from zoo import core
from zoo.core import priors, schedules

F64 = torch.float64
CONFIGS = [(schedules.DDPM(), "eps"), (schedules.VP(), "v"), (schedules.EDM(), "edm"), (schedules.RectifiedFlow(), "flow")]


@pytest.mark.parametrize("sched, prediction", CONFIGS, ids=lambda c: getattr(c, "name", c))
def test_gaussian_data_matches_closed_form(sched, prediction):
    gauss = core.mixture.GaussianMixture([[0.3, -0.2, 0.5]], [[0.5, 1.0, 0.8]])
    x = gauss.sample(32, gen(0))
    ll = core.log_likelihood(oracle(gauss, sched, prediction), x)
    exact = gauss.log_prob(x)
    assert ((ll - exact).abs() / exact.abs()).max().item() < 0.01


@pytest.mark.parametrize("sched, prediction", CONFIGS, ids=lambda c: getattr(c, "name", c))
def test_mixture_matches_exact_density(ring, sched, prediction):
    x = ring.sample(16, gen(1))
    ll = core.log_likelihood(oracle(ring, sched, prediction), x, rtol=1e-6, atol=1e-6)
    assert (ll - ring.log_prob(x)).abs().max().item() < 1e-3


def test_hutchinson_is_unbiased(ring):
    x = ring.sample(6, gen(2))
    den = oracle(ring, schedules.DDPM())
    runs = torch.stack([core.log_likelihood(den, x, method="hutchinson", generator=gen(k)) for k in range(24)])
    se = runs.std(0) / math.sqrt(len(runs))
    assert ((runs.mean(0) - ring.log_prob(x)).abs() < 4 * se + 1e-3).all()
    assert (runs.std(0) > 0).all()  # the probes really are random (the ring's Jacobian is not diagonal)


def test_zero_centre_of_mass_gaussian_on_its_subspace():
    """Data N(0, s^2 P) on the zero-mean subspace of N points in 3-D has density of dimension (N-1) 3."""
    s, n = 0.7, 5
    prior = priors.ZeroCoM()

    def exact_x0(x_in, label, sched):
        t = sched.t_of_noise_label(label.to(F64))
        a, sig = (v[:, None, None] for v in sched.alpha_sigma(t))
        return a * s**2 / (a * a * s**2 + sig * sig) * x_in

    sched = schedules.DDPM()
    den = core.Denoiser(lambda x, label: exact_x0(x, label, sched), sched, "x0", prior=prior)
    x = prior.project(torch.randn(4, n, 3, generator=gen(3), dtype=F64) * s)
    ll = core.log_likelihood(den, x)
    d = (n - 1) * 3
    want = -0.5 * x.flatten(1).pow(2).sum(1) / s**2 - d / 2 * math.log(2 * math.pi * s**2)
    assert ((ll - want).abs() / want.abs()).max().item() < 0.01


def test_ddpm_elbo_matches_its_expectation_for_gaussian_data():
    """For 1-D Gaussian data the expected discrete ELBO of the exact denoiser has a closed form:
    every KL term is c0^2 Var(x0 | x_t) / (2 var), the decoder term uses Var(x0 | x_1)."""
    s = 0.6
    gauss = core.mixture.GaussianMixture([[0.0]], s)
    sched = schedules.DDPM()
    x = gauss.sample(4000, gen(4))
    got = core.elbo(oracle(gauss, sched), x, generator=gen(5))
    a2 = sched.alphas_cumprod.tolist()
    post_var = lambda a: s * s * (1 - a) / (a * s * s + 1 - a)  # noqa: E731  Var(x0 | x_t)
    expected = -0.5 * (a2[-1] * s * s - a2[-1] - math.log(1 - a2[-1]))
    beta0 = 1 - a2[0]
    expected += -0.5 * post_var(a2[0]) / beta0 - 0.5 * math.log(2 * math.pi * beta0)
    for i in range(1, len(a2)):
        beta = 1 - a2[i] / a2[i - 1]
        var = (1 - a2[i - 1]) / (1 - a2[i]) * beta
        c0 = math.sqrt(a2[i - 1]) * beta / (1 - a2[i])
        expected -= 0.5 * c0 * c0 * post_var(a2[i]) / var
    se = got.std().item() / math.sqrt(len(got))
    assert abs(got.mean().item() - expected) < 4 * se
    exact = gauss.log_prob(x).mean().item()
    assert got.mean().item() < exact  # a bound


def test_bits_per_dim():
    nats = torch.tensor([-math.log(2) * 3072 * 3.0])
    torch.testing.assert_close(core.bits_per_dim(nats, 3072), torch.tensor([3.0], dtype=F64))


def test_bad_input():
    den = oracle(core.mixture.GaussianMixture.ring(), schedules.EDM(), "edm")
    with pytest.raises(ValueError, match="needs a DDPM table"):
        core.elbo(den, torch.zeros(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="NaN"):
        core.log_likelihood(den, torch.full((2, 2), float("nan"), dtype=F64))
    with pytest.raises(ValueError, match="divergence method"):
        core.log_likelihood(den, torch.zeros(2, 2, dtype=F64), method="skilling")
