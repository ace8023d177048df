import math

import pytest
import torch
from scipy import stats

from zoo.core import priors

F64 = torch.float64


def test_isotropic_log_prob_matches_scipy():
    x = torch.randn(4, 3, 2, dtype=F64)
    want = [stats.multivariate_normal(mean=[0] * 6, cov=0.7**2).logpdf(r.flatten().numpy()) for r in x]
    torch.testing.assert_close(priors.Isotropic().log_prob(x, 0.7), torch.tensor(want, dtype=F64))


def test_masked_noise_is_zero_on_padding_and_counts_real_dims():
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    prior = priors.Masked(mask)
    z = prior.noise(torch.empty(2, 3, 4), torch.Generator().manual_seed(0))
    assert (z[0, 2] == 0).all() and (z[1, 1:] == 0).all() and (z[0, :2] != 0).all()
    assert prior.num_dims(z).tolist() == [8.0, 4.0]
    x = torch.randn(2, 3, 4, dtype=F64) * mask[..., None]
    want = [stats.multivariate_normal(mean=[0] * 8).logpdf(x[0, :2].flatten().numpy()),
            stats.multivariate_normal(mean=[0] * 4).logpdf(x[1, :1].flatten().numpy())]
    torch.testing.assert_close(prior.log_prob(x, 1.0), torch.tensor(want, dtype=F64))


def test_zero_centre_of_mass_noise_and_density():
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    prior = priors.ZeroCentreOfMass(mask)
    z = prior.noise(torch.empty(2, 4, 3, dtype=F64), torch.Generator().manual_seed(1))
    torch.testing.assert_close((z * mask[..., None]).sum(1), torch.zeros(2, 3, dtype=F64))
    assert (z[1, 3] == 0).all()
    assert prior.num_dims(z).tolist() == [9.0, 6.0]
    # projected noise has covariance P: each coordinate's variance is (N - 1) / N
    full = priors.ZeroCentreOfMass().noise(torch.empty(20000, 4, 3, dtype=F64), torch.Generator().manual_seed(2))
    assert full.var(0).mean().item() == pytest.approx(3 / 4, rel=0.02)
    # density on the (N-1) D dimensional subspace
    lp = prior.log_prob(z, 2.0)
    sq = z.flatten(1).pow(2).sum(1)
    want = -0.5 * sq / 4 - torch.tensor([9.0, 6.0], dtype=F64) * (math.log(2.0) + 0.5 * math.log(2 * math.pi))
    torch.testing.assert_close(lp, want)


def test_projection_is_idempotent_and_removes_translation():
    prior = priors.ZeroCoM()
    x = torch.randn(3, 5, 3, dtype=F64)
    p = prior.project(x)
    torch.testing.assert_close(prior.project(p), p)
    torch.testing.assert_close(prior.project(x + torch.tensor([1.0, -2.0, 3.0], dtype=F64)), p)


def test_bad_masks_raise():
    with pytest.raises(ValueError, match="mask of shape \\(2, 3\\) does not fit data of shape \\(2, 4, 3\\)"):
        priors.Masked(torch.ones(2, 3)).noise(torch.empty(2, 4, 3))
    with pytest.raises(ValueError, match="\\(B, N, D\\) or \\(B, N, \\.\\.\\., D\\), got \\(2, 3\\)"):
        priors.ZeroCoM().project(torch.randn(2, 3))


def test_zero_centre_of_mass_over_residues_and_atoms():
    """A protein's backbone (B, L, 4, 3): the centre is over every atom of the real residues."""
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    prior = priors.ZeroCentreOfMass(mask)
    x = torch.randn(2, 3, 4, 3, generator=torch.Generator().manual_seed(3), dtype=F64)
    p = prior.project(x)
    torch.testing.assert_close(p[0].reshape(-1, 3).mean(0), torch.zeros(3, dtype=F64))
    torch.testing.assert_close(p[1, :2].reshape(-1, 3).mean(0), torch.zeros(3, dtype=F64))
    assert (p[1, 2] == 0).all()
    torch.testing.assert_close(p[1, :2], x[1, :2] - x[1, :2].reshape(-1, 3).mean(0))  # the plain definition
    assert prior.num_dims(x).tolist() == [(12 - 1) * 3, (8 - 1) * 3]
    # the same as the flat (B, L * 4, 3) set with the mask repeated over the atoms
    flat = priors.ZeroCentreOfMass(mask.repeat_interleave(4, 1)).project(x.reshape(2, 12, 3))
    torch.testing.assert_close(p.reshape(2, 12, 3), flat)


def test_diagonal_density_noise_and_whitening_against_closed_forms():
    std = torch.tensor([[0.3, 1.0, 2.0], [0.5, 0.5, 4.0]], dtype=F64)
    prior = priors.Diagonal(std)
    x = torch.randn(2, 3, dtype=F64)
    want = [stats.multivariate_normal(mean=[0] * 3, cov=torch.diag((0.7 * s) ** 2).numpy()).logpdf(r.numpy())
            for r, s in zip(x, std)]
    torch.testing.assert_close(prior.log_prob(x, 0.7), torch.tensor(want, dtype=F64))
    torch.testing.assert_close(prior.whiten(x), x / std)
    z = prior.noise(torch.empty(2, 3, 40000, dtype=F64), torch.Generator().manual_seed(0))  # std broadcast over the rest
    torch.testing.assert_close(z.std(-1), std, rtol=0.02, atol=0)
    masked = priors.Diagonal(std[:, :2], mask=torch.tensor([[1, 1], [1, 0]]))
    y = masked.noise(torch.empty(2, 2, 5), torch.Generator().manual_seed(1))
    assert (y[1, 1] == 0).all() and (y[0] != 0).all() and masked.num_dims(y).tolist() == [10.0, 5.0]


@pytest.mark.parametrize("std, message", [(torch.tensor([[0.0, 1.0]]), "positive"),
                                          (torch.tensor([[float("nan"), 1.0]]), "finite"),
                                          (torch.tensor(1.0), "batch dimension")])
def test_a_bad_diagonal_std_is_refused(std, message):
    with pytest.raises(ValueError, match=message):
        priors.Diagonal(std)


def test_a_conditional_prior_needs_its_std_and_a_known_spec():
    assert isinstance(priors.from_config({"name": "conditional", "floor": 0.1}, std=torch.ones(2, 3)), priors.Diagonal)
    with pytest.raises(ValueError, match="needs the condition"):
        priors.from_config({"name": "conditional"})
    with pytest.raises(ValueError, match="a prior is one of"):
        priors.from_config({"name": "elsewhere"})
    with pytest.raises(ValueError, match="does not fit data"):
        priors.Diagonal(torch.ones(2, 4)).noise(torch.empty(2, 3))


# ------------------------------------------------------------------------------------------------ the torus

def test_torus_log_prob_is_a_wrapped_normal_density():
    torus = priors.Torus()
    grid = torch.linspace(-math.pi, math.pi, 20001, dtype=F64)[:-1]
    for std in (0.3, 1.0, 3.0):
        density = torus.log_prob(grid[:, None], std).exp()
        torch.testing.assert_close(density.sum() * (2 * math.pi / len(grid)), torch.tensor(1.0, dtype=F64))
    x = torch.tensor([[0.05, -0.1]], dtype=F64)  # narrow: the Gaussian itself
    want = stats.norm(scale=0.1).logpdf(x.numpy()).sum()
    torch.testing.assert_close(torus.log_prob(x, 0.1), torch.tensor([want], dtype=F64))
    # periodic, and uniform (-log 2 pi per angle) once wide
    torch.testing.assert_close(torus.log_prob(x + 2 * math.pi, 0.7), torus.log_prob(x, 0.7))
    torch.testing.assert_close(torus.log_prob(x, 10.0), torch.tensor([-2 * math.log(2 * math.pi)], dtype=F64))


def test_torus_eps_target_is_the_expected_noise_given_the_wrapped_point():
    """E[eps | wrap(sigma eps)] by Monte Carlo, bin by bin, against eps_target: what a network that sees only
    the angle learns when trained on the drawn noise, which the target replaces (with less variance)."""
    torus, sigma = priors.Torus(), 2.0
    eps = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=F64)
    y = torch.remainder(sigma * eps + math.pi, 2 * math.pi) - math.pi
    bins = torch.linspace(-math.pi, math.pi, 17, dtype=F64)
    which = torch.bucketize(y, bins) - 1
    centres = (bins[1:] + bins[:-1]) / 2
    mc = torch.stack([eps[which == k].mean() for k in range(16)])
    target = torus.eps_target(centres[:, None, None] / sigma, torch.full((16, 1, 1), sigma, dtype=F64))[:, 0, 0]
    # the bins are 0.39 rad wide: the target varies inside one by up to ~0.02
    torch.testing.assert_close(mc, target, atol=0.03, rtol=0)
    assert target.abs().max() < 0.6 * (centres.abs().max() / sigma)  # far from the raw noise: turns overlap
    small = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(1), dtype=F64)
    torch.testing.assert_close(torus.eps_target(small, torch.full((3, 1, 1), 0.05, dtype=F64)), small)  # no wrap
    # the score of the wrapped normal: eps_target = -sigma d/dy log p(y; sigma)
    y = (torch.rand(5, 3, generator=torch.Generator().manual_seed(2), dtype=F64) * 2 - 1) * math.pi
    y.requires_grad_(True)
    score = torch.autograd.grad(torus.log_prob(y, 1.3).sum(), y)[0]
    torch.testing.assert_close(torus.eps_target(y.detach() / 1.3, torch.full((5, 1), 1.3, dtype=F64)), -1.3 * score)


def test_torus_needs_noise_prediction_on_a_variance_exploding_schedule():
    from zoo import core

    def net(x, label):
        return torch.zeros_like(x)
    for prediction, schedule in (("edm", core.schedules.EDM()), ("eps", core.schedules.DDPM())):
        with pytest.raises(ValueError, match="periodic prior"):
            core.Denoiser(net, schedule, prediction, prior=priors.Torus())
    den = core.Denoiser(net, core.schedules.EDM(sigma_max=4.0), "eps", prior=priors.Torus())
    with pytest.raises(ValueError, match=r"trains a noise \('eps'\) target"):
        core.objectives.loss(den, torch.zeros(2, 3, dtype=F64), target="v")


def test_sampling_on_the_torus_with_the_exact_denoiser_lands_on_the_wrapped_point():
    """Data: one point c on the torus.  The exact noise prediction at (x, sigma) is eps_target((x - c) / sigma):
    from uniform noise every sampler must end at c modulo 2 pi, on any of the turns."""
    from zoo import core

    c = torch.tensor([2.9, -3.0, 0.5], dtype=F64)
    schedule = core.schedules.EDM(sigma_min=0.002, sigma_max=4.0)

    def net(x, label):
        sigma = torch.exp(4 * label).reshape(-1, 1)  # EDM's noise label is ln(sigma) / 4
        return priors.Torus().eps_target((x - c) / sigma, sigma)
    den = core.Denoiser(net, schedule, "eps", prior=priors.Torus())
    x_T = 4.0 * torch.randn(64, 3, generator=torch.Generator().manual_seed(3), dtype=F64)
    for sampler in ("euler", "dpmpp_2m", "dpmpp_2m_sde"):
        x = core.sample(den, x_T, sampler=sampler, steps=30, timesteps="karras", generator=torch.Generator().manual_seed(4))
        miss = torch.remainder(x - c + math.pi, 2 * math.pi) - math.pi
        assert miss.abs().max() < 1e-2, sampler
        assert (x - c).abs().max() > 3  # some samples end whole turns away: the state is unwrapped
