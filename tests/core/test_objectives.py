import math

import pytest
import torch

from tests.helpers import gen, oracle
from zoo import core
from zoo.core import objectives, schedules
from zoo.core.parameterization import PREDICTIONS, coefficients

F64 = torch.float64
SCHEDULES = [schedules.DDPM(), schedules.VP(), schedules.EDM(), schedules.RectifiedFlow()]


def cheating_denoiser(sched, kind, x0, noise):
    """A network that knows the clean data and the noise, so it outputs the exact target."""
    def net(x_in, label):
        t = sched.t_of_noise_label(label.to(F64))
        a, s = sched.alpha_sigma(t)
        da, ds = sched.derivatives(t)
        x0_coef, _, _ = coefficients(kind, a, s, da, ds)
        x = a[:, None] * x0 + s[:, None] * noise
        return (x0 - x0_coef[0][:, None] * x) / x0_coef[1][:, None]
    return core.Denoiser(net, sched, kind)


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: s.name)
@pytest.mark.parametrize("kind", PREDICTIONS)
@pytest.mark.parametrize("target", PREDICTIONS)
def test_a_perfect_prediction_has_zero_loss_for_every_target(sched, kind, target):
    x0 = torch.randn(16, 3, generator=gen(0), dtype=F64)
    noise = torch.randn(16, 3, generator=gen(1), dtype=F64)
    t = 0.05 + 0.9 * torch.rand(16, generator=gen(2), dtype=F64)
    den = cheating_denoiser(sched, kind, x0, noise)
    for weighting in objectives.WEIGHTINGS:
        loss = objectives.loss(den, x0, t=t, noise=noise, target=target, weighting=weighting)
        assert loss.shape == (16,) and loss.abs().max().item() < 1e-12


def loss_ratio(sched, kind, weighting, gamma=5.0):
    ring = core.mixture.GaussianMixture.ring()
    x0 = ring.sample(32, gen(3))
    noise = torch.randn(32, 2, generator=gen(4), dtype=F64)
    t = 0.02 + 0.96 * torch.rand(32, generator=gen(5), dtype=F64)
    den = oracle(ring, sched, "x0")  # imperfect for any single draw, so losses are positive
    plain = objectives.loss(den, x0, t=t, noise=noise, target=kind)
    weighted = objectives.loss(den, x0, t=t, noise=noise, target=kind, weighting=weighting, min_snr_gamma=gamma)
    return weighted / plain, torch.exp(sched.logsnr(t)), sched.sigma_ve(t)


def test_min_snr_weights_of_hang_et_al():
    sched = schedules.DDPM()
    ratio, snr, _ = loss_ratio(sched, "eps", "min_snr")
    torch.testing.assert_close(ratio, torch.clamp(snr, max=5.0) / snr)
    ratio, snr, _ = loss_ratio(sched, "v", "min_snr")
    torch.testing.assert_close(ratio, torch.clamp(snr, max=5.0) / (snr + 1))
    ratio, snr, _ = loss_ratio(sched, "x0", "min_snr")
    torch.testing.assert_close(ratio, torch.clamp(snr, max=5.0))


def test_edm_weighting_is_unit_weight_on_F():
    """Karras et al. chose lambda(sigma) = 1 / c_out^2, so the loss on F needs no weight."""
    sched = schedules.EDM()
    ratio, _, _ = loss_ratio(sched, "edm", "edm")
    torch.testing.assert_close(ratio, torch.ones_like(ratio))
    ratio, _, sig = loss_ratio(sched, "x0", "edm")
    torch.testing.assert_close(ratio, (sig**2 + 0.25) / (sig * 0.5) ** 2)


def test_the_exact_denoiser_minimises_the_expected_loss(ring):
    """E||D(x_t) - x0||^2 is smallest for the posterior mean: a perturbed denoiser does worse."""
    sched = schedules.DDPM()
    x0 = ring.sample(20000, gen(6))
    t = torch.full((20000,), 0.3, dtype=F64)
    noise = torch.randn(20000, 2, generator=gen(7), dtype=F64)
    exact = oracle(ring, sched, "x0")
    model = ring.model(sched, "x0")
    for shift in (0.02, -0.02):
        worse = core.Denoiser(lambda x, label, s=shift: model(x, label) + s, sched, "x0")
        assert (objectives.loss(worse, x0, t=t, noise=noise).mean() > objectives.loss(exact, x0, t=t, noise=noise).mean())


def test_time_sampling_distributions():
    ddpm = schedules.DDPM()
    t = objectives.sample_time(ddpm, 5000, "uniform", generator=gen(8))
    torch.testing.assert_close(t * 1000, torch.round(t * 1000))  # table steps only
    assert t.min() >= 0.001 and t.max() <= 1.0
    edm = schedules.EDM()
    t = objectives.sample_time(edm, 20000, "lognormal", generator=gen(9))
    log_sigma = torch.log(edm.sigma(t))
    assert log_sigma.mean().item() == pytest.approx(-1.2, abs=0.03)
    assert log_sigma.std().item() == pytest.approx(1.2, abs=0.03)
    t = objectives.sample_time(schedules.RectifiedFlow(), 20000, "logit_normal", generator=gen(10))
    logit = torch.log(t / (1 - t))
    assert logit.mean().item() == pytest.approx(0.0, abs=0.03) and logit.std().item() == pytest.approx(1.0, abs=0.03)
    t = objectives.sample_time(edm, 20000, "uniform", generator=gen(11))
    assert t.min() >= edm.t_min and t.max() <= 1.0


def test_condition_dropout():
    cond = {"label": torch.arange(10000) % 10, "text": torch.ones(10000, 4), "flag": "keep"}
    out = objectives.drop_condition(cond, 0.1, null={"label": 10}, generator=gen(12))
    dropped = out["label"] == 10
    assert dropped.float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert (out["text"][:, 0] == 0).float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert out["flag"] == "keep" and (out["label"][~dropped] == cond["label"][~dropped]).all()
    with pytest.raises(ValueError, match="holds integers"):
        objectives.drop_condition({"label": torch.arange(4)}, 0.5)


def test_masked_elements_do_not_count(ring):
    sched = schedules.DDPM()
    x0 = torch.randn(4, 5, 2, dtype=F64)
    mask = torch.tensor([[1, 1, 1, 0, 0]] * 4)
    den = core.Denoiser(lambda x, label: torch.zeros_like(x), sched, "eps")
    noise = torch.randn(4, 5, 2, dtype=F64)
    t = torch.full((4,), 0.5, dtype=F64)
    a = objectives.loss(den, x0, t=t, noise=noise, mask=mask)
    x0b = x0.clone()
    x0b[:, 3:] = 100.0
    noiseb = noise.clone()
    noiseb[:, 3:] = 7.0
    torch.testing.assert_close(objectives.loss(den, x0b, t=t, noise=noiseb, mask=mask), a)
    torch.testing.assert_close(a, noise[:, :3].pow(2).flatten(1).mean(1))


def test_bad_input():
    den = core.Denoiser(lambda x, label: x, schedules.DDPM(), "eps")
    with pytest.raises(ValueError, match="unknown weighting"):
        objectives.loss(den, torch.randn(4, 2), weighting="snr+1")
    with pytest.raises(ValueError, match="unknown time sampling"):
        objectives.loss(den, torch.randn(4, 2), time_sampling="beta")
    with pytest.raises(ValueError, match="NaN"):
        objectives.loss(den, torch.full((4, 2), float("nan")))
    with pytest.raises(ValueError, match="noise has shape"):
        objectives.loss(den, torch.randn(4, 2), noise=torch.randn(4, 3))
    with pytest.raises(ValueError, match="t must have shape"):
        objectives.loss(den, torch.randn(4, 2), t=torch.rand(3))


def test_a_diagonal_prior_weights_the_loss_by_its_inverse_covariance():
    x0 = torch.randn(8, 3, generator=gen(0), dtype=F64)
    std = torch.tensor([0.3, 1.0, 2.0], dtype=F64).expand(8, 3)
    noise = torch.randn(8, 3, generator=gen(1), dtype=F64) * std
    zero = core.Denoiser(lambda x, label: torch.zeros_like(x), schedules.DDPM(), "eps", prior=core.priors.Diagonal(std))
    loss = objectives.loss(zero, x0, t=torch.full((8,), 0.5, dtype=F64), noise=noise)
    torch.testing.assert_close(loss, (noise / std).pow(2).mean(1))  # PriorGrad's ||eps - eps_hat||^2 in Sigma^-1


def test_the_stft_loss_of_a_scaled_waveform_is_its_closed_form():
    ref = torch.randn(3, 4096, generator=gen(0))
    for c in (0.5, 2.0):  # |S'| = c |S|: spectral convergence |c - 1|, log distance |log c| (no bin near the clamp)
        torch.testing.assert_close(objectives.stft_loss(c * ref, ref), torch.full((3,), abs(c - 1) + abs(math.log(c))))
    assert objectives.stft_loss(ref, ref).abs().max() < 1e-6
    with pytest.raises(ValueError, match=r"two waveforms \(B, T\)"):
        objectives.stft_loss(torch.randn(2, 1, 4096), torch.randn(2, 1, 4096))
    with pytest.raises(ValueError, match="too short for an FFT of 2048"):
        objectives.stft_loss(torch.randn(2, 600), torch.randn(2, 600))


def test_an_x0_loss_is_added_to_the_weighted_loss_on_the_predicted_x0():
    sched = schedules.DDPM()
    x0, noise = torch.randn(8, 5, generator=gen(0), dtype=F64), torch.randn(8, 5, generator=gen(1), dtype=F64)
    t = torch.full((8,), 0.3, dtype=F64)
    zero = core.Denoiser(lambda x, label: torch.zeros_like(x), sched, "eps")  # eps_hat = 0: x0_hat = x_t / alpha
    a, s = (v.item() for v in sched.alpha_sigma(t[:1]))
    seen = []
    loss = objectives.loss(zero, x0, t=t, noise=noise, x0_loss=lambda est, x: seen.append((est, x)) or est.sum(1))
    torch.testing.assert_close(seen[0][0], x0 + (s / a) * noise)
    torch.testing.assert_close(loss, noise.pow(2).mean(1) + (x0 + (s / a) * noise).sum(1))


def test_on_the_torus_the_target_is_the_wrapped_score_not_the_drawn_noise():
    """A network that predicts zero noise is right once sigma is many turns (the wrapped density is flat there):
    its loss against the Rao-Blackwellised target vanishes, while against the drawn noise it would be about 1."""
    from zoo.core.priors import Torus

    def zero(x, label):
        return torch.zeros_like(x)
    den = core.Denoiser(zero, core.schedules.EDM(sigma_max=40.0), "eps", prior=Torus())
    x0 = torch.rand(256, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 6 - 3
    wide = core.objectives.loss(den, x0, t=torch.full((256,), 1.0, dtype=torch.float64), generator=gen(1))
    assert wide.mean() < 1e-6
    narrow = core.objectives.loss(den, x0, t=torch.full((256,), 0.001, dtype=torch.float64), generator=gen(1))
    torch.testing.assert_close(narrow.mean(), torch.tensor(1.0, dtype=torch.float64), atol=0.05, rtol=0)  # eps itself
