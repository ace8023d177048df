"""Every sampler draws through the denoiser's prior: with noise N(0, diag(s^2)) and the exact denoiser of
Gaussian data N(0, diag(c^2)), samples come out with std c, whatever s is (a sampler that drew standard
normal noise would not)."""
import pytest
import torch

from zoo import core
from zoo.core.parameterization import coefficients

F64 = torch.float64
DATA_STD = torch.tensor([0.5, 0.5, 0.5], dtype=F64)
NOISE_STD = torch.tensor([0.3, 1.0, 2.0], dtype=F64)


def exact_gaussian(schedule):
    """The eps-prediction network of x_t = alpha x0 + sigma eps, x0 ~ N(0, c^2), eps ~ N(0, s^2), per dimension."""
    def net(x_in, label):
        t = schedule.t_of_noise_label(label.to(F64))
        alpha, sigma = schedule.alpha_sigma(t)
        da, ds = schedule.derivatives(t)
        x0_coef, _, scale = coefficients("eps", alpha, sigma, da, ds)
        x = x_in.to(F64) / scale[:, None]
        a, s = alpha[:, None], sigma[:, None]
        x0 = a * DATA_STD**2 * x / (a**2 * DATA_STD**2 + s**2 * NOISE_STD**2)
        return ((x0 - x0_coef[0][:, None] * x) / x0_coef[1][:, None]).to(x_in.dtype)
    return net


def draw(sampler, steps, sampling_prior):
    schedule, n = core.schedules.DDPM(), 20000
    prior = core.priors.Diagonal(NOISE_STD.expand(n, 3))
    denoiser = core.Denoiser(exact_gaussian(schedule), schedule, "eps", prior=sampling_prior or prior)
    g = torch.Generator().manual_seed(0)
    x_T = prior.noise(torch.empty(n, 3, dtype=F64), g) * float(schedule.sigma(schedule.t_max))
    return core.sample(denoiser, x_T, sampler=sampler, steps=steps, generator=g)


# first-order samplers need more steps for the same discretisation error (as with standard normal noise)
@pytest.mark.parametrize("sampler, steps", [("ddim", 200), ("ddpm", 200), ("euler", 200), ("dpmpp_2m", 50),
                                            ("unipc", 50), ("heun", 50), ("dpmpp_2m_sde", 50)])
def test_samplers_draw_through_a_diagonal_prior(sampler, steps):
    torch.testing.assert_close(draw(sampler, steps, None).std(0), DATA_STD, rtol=0.04, atol=0)


def test_a_stochastic_sampler_drawing_standard_noise_instead_misses():
    x = draw("ddpm", 200, core.priors.Isotropic())
    assert not torch.allclose(x.std(0), DATA_STD, rtol=0.1, atol=0), x.std(0)
