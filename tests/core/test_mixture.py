import math

import pytest
import torch
from scipy import stats

from zoo.core import mixture

F64 = torch.float64


def test_log_prob_matches_scipy():
    mix = mixture.GaussianMixture([[0.0, 0.0], [2.0, 1.0]], [[0.5, 1.0], [0.3, 0.3]], weights=[0.25, 0.75])
    x = torch.randn(20, 2, dtype=F64)
    want = [math.log(0.25 * stats.multivariate_normal([0, 0], [0.25, 1.0]).pdf(r)
                     + 0.75 * stats.multivariate_normal([2, 1], [0.09, 0.09]).pdf(r)) for r in x.numpy()]
    torch.testing.assert_close(mix.log_prob(x), torch.tensor(want, dtype=F64))


@pytest.mark.parametrize("alpha, sigma", [(0.9, 0.4), (0.3, 0.95), (1.0, 2.0), (0.05, 1.0)])
def test_denoiser_is_tweedies_formula(ring, alpha, sigma):
    """E[x0 | x_t] = (x_t + sigma^2 grad log p_t(x_t)) / alpha, with the gradient by autograd."""
    x = (torch.randn(64, 2, dtype=F64) * 1.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(ring.log_prob_t(x, alpha, sigma).sum(), x)
    want = (x + sigma**2 * grad) / alpha
    torch.testing.assert_close(ring.denoise(x.detach(), alpha, sigma), want.detach())


def test_class_conditional_denoiser_and_exact_classifier(ring):
    x = torch.randn(16, 2, dtype=F64)
    label = torch.full((16,), 3)
    one_component = mixture.GaussianMixture(ring.means[3:4], 0.1)
    torch.testing.assert_close(ring.denoise(x, 0.7, 0.7, label), one_component.denoise(x, 0.7, 0.7))
    log_p = ring.class_log_probs(x, 0.7, 0.7)
    torch.testing.assert_close(log_p.exp().sum(1), torch.ones(16, dtype=F64))


@pytest.mark.slow
def test_sliced_wasserstein_of_shifted_gaussians():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, 2, generator=g, dtype=F64)
    shift = torch.tensor([0.3, -0.4], dtype=F64)
    # W2 between N(0, I) and N(m, I) along unit direction u is |m.u|; E_u[(m.u)^2] = |m|^2 / 2 in 2-D
    sw = mixture.sliced_wasserstein(x, x + shift, projections=2000, generator=g)
    assert sw == pytest.approx(0.5 / math.sqrt(2), rel=0.03)
    assert mixture.sliced_wasserstein(x, x.clone()) == 0.0


def test_bad_mixtures_raise():
    with pytest.raises(ValueError, match="\\(K, D\\)"):
        mixture.GaussianMixture([0.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="> 0"):
        mixture.GaussianMixture([[0.0]], 0.0)
    with pytest.raises(ValueError, match="dimension"):
        mixture.sliced_wasserstein(torch.zeros(3, 2), torch.zeros(3, 3))
