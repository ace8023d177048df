import math

import diffusers
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.core import schedules

F64 = torch.float64

ALL = [
    schedules.DDPM(),
    schedules.DDPM(beta_schedule="scaled_linear"),
    schedules.DDPM(beta_schedule="cosine"),
    schedules.DDPM(beta_schedule="sigmoid"),
    schedules.DDPM(num_steps=50, beta_start=1e-4, beta_end=0.05),
    schedules.VP(),
    schedules.VE(),
    schedules.EDM(),
    schedules.RectifiedFlow(),
]
IDS = [repr(s)[:40] for s in ALL]


@pytest.mark.parametrize("kind, diffusers_name", [
    ("linear", "linear"), ("scaled_linear", "scaled_linear"), ("cosine", "squaredcos_cap_v2"), ("sigmoid", "sigmoid")])
def test_ddpm_tables_match_diffusers(kind, diffusers_name):
    ours = schedules.DDPM(beta_schedule=kind)
    if kind == "scaled_linear":
        peer = diffusers.DDPMScheduler(beta_schedule=diffusers_name, beta_start=0.00085, beta_end=0.012)
    else:
        peer = diffusers.DDPMScheduler(beta_schedule=diffusers_name)
    torch.testing.assert_close(ours.alphas_cumprod, peer.alphas_cumprod.to(F64), rtol=2e-5, atol=1e-7)


def test_zero_terminal_snr_matches_diffusers_rescaling():
    ours = schedules.DDPM(beta_schedule="scaled_linear", zero_terminal_snr=True)
    peer = diffusers.DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                   rescale_betas_zero_snr=True)
    torch.testing.assert_close(ours.alphas_cumprod, peer.alphas_cumprod.to(F64), rtol=2e-5, atol=1e-7)
    assert ours.alpha(1.0).item() == 0.0 and ours.sigma(1.0).item() == 1.0
    plain = schedules.DDPM(beta_schedule="scaled_linear")
    assert ours.alpha(ours.t_min).item() == pytest.approx(plain.alpha(plain.t_min).item(), rel=1e-12)
    assert math.isinf(ours.logsnr(1.0).item())


@pytest.mark.parametrize("sched", ALL, ids=IDS)
def test_clean_data_at_zero_and_noise_grows(sched):
    assert sched.alpha(0.0).item() == 1.0 and sched.sigma(0.0).item() == 0.0
    t = torch.linspace(1e-4, 1, 2001, dtype=F64)
    lam = sched.logsnr(t)
    assert (lam[1:] < lam[:-1]).all()


@pytest.mark.parametrize("sched", [s for s in ALL if s.name in ("DDPM", "VP")], ids=lambda s: repr(s)[:30])
def test_variance_preserving(sched):
    t = torch.rand(100, dtype=F64)
    a, s = sched.alpha_sigma(t)
    torch.testing.assert_close(a * a + s * s, torch.ones_like(t))


def test_closed_forms_of_continuous_families():
    t = torch.rand(50, dtype=F64)
    edm = schedules.EDM(sigma_min=0.002, sigma_max=80.0)
    torch.testing.assert_close(edm.sigma(t), 80 * t)
    assert edm.t_min == pytest.approx(0.002 / 80)
    rf = schedules.RectifiedFlow()
    torch.testing.assert_close(rf.alpha(t) + rf.sigma(t), torch.ones_like(t))
    vp = schedules.VP(beta_min=0.1, beta_max=20.0)
    torch.testing.assert_close(vp.alpha(t) ** 2, torch.exp(-(0.1 * t + 0.5 * 19.9 * t * t)))
    ve = schedules.VE(sigma_min=0.01, sigma_max=50.0)
    assert ve.sigma(ve.t_min).item() == pytest.approx(0.01)
    assert ve.sigma(1.0).item() == pytest.approx(50.0)
    u = ve.t_min + (1 - ve.t_min) * t  # geometric above t_min: log sigma linear in t
    torch.testing.assert_close(torch.log(ve.sigma(u)), math.log(0.01) + (u - ve.t_min) / (1 - ve.t_min) * math.log(5000))


def test_ddpm_grid_points_and_labels():
    sched = schedules.DDPM()
    ts = sched.table_ts
    torch.testing.assert_close(sched.alpha(ts) ** 2, sched.alphas_cumprod)
    torch.testing.assert_close(sched.noise_label(ts), torch.arange(1000, dtype=F64))


@pytest.mark.parametrize("sched", ALL, ids=IDS)
@settings(max_examples=40, deadline=None)
@given(u=st.floats(0.002, 0.998))
def test_t_of_logsnr_inverts_logsnr(sched, u):
    assert sched.t_of_logsnr(sched.logsnr(u)).item() == pytest.approx(u, abs=1e-9)
    assert sched.t_of_noise_label(sched.noise_label(u)).item() == pytest.approx(u, abs=1e-9)


@pytest.mark.parametrize("sched", ALL, ids=IDS)
def test_derivatives_match_finite_differences(sched):
    # points inside table segments (away from the kinks of a piecewise-linear table)
    steps = getattr(sched, "num_steps", 1000)
    t = (torch.arange(40, 1000, 97, dtype=F64) + 0.5) / 1000
    t = (torch.floor(t * steps) + 0.5) / steps
    h = 1e-3 / steps
    da, ds = sched.derivatives(t)
    fa = (sched.alpha(t + h) - sched.alpha(t - h)) / (2 * h)
    fs = (sched.sigma(t + h) - sched.sigma(t - h)) / (2 * h)
    torch.testing.assert_close(da, fa, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ds, fs, rtol=1e-5, atol=1e-7)


def test_fractional_steps_interpolate_alpha_like_diffwave():
    """DiffWave's fast sampler labels a noise level by linear interpolation of sqrt(alpha_bar)."""
    train = schedules.DDPM(betas=torch.linspace(1e-4, 0.05, 50))
    inference_betas = [0.0001, 0.001, 0.01, 0.05, 0.2, 0.5]
    alpha_bar = torch.cumprod(1 - torch.tensor(inference_betas, dtype=F64), 0)
    talpha = train.alphas_cumprod
    expected = []
    for a in alpha_bar.tolist():  # the published recipe, written out independently
        for k in range(49):
            if talpha[k + 1] <= a <= talpha[k]:
                expected.append(k + (talpha[k] ** 0.5 - a**0.5) / (talpha[k] ** 0.5 - talpha[k + 1] ** 0.5))
                break
    t = train.t_of_logsnr(torch.log(alpha_bar / (1 - alpha_bar)))
    torch.testing.assert_close(train.noise_label(t), torch.tensor(expected, dtype=F64))
    torch.testing.assert_close(train.alpha(t) ** 2, alpha_bar)


@pytest.mark.parametrize("sched", ALL, ids=IDS)
def test_config_round_trip(sched):
    again = schedules.from_config(sched.config())
    assert again == sched and type(again) is type(sched)
    t = torch.rand(10, dtype=F64)
    torch.testing.assert_close(again.alpha_sigma(t), sched.alpha_sigma(t))


@pytest.mark.parametrize("make, message", [
    (lambda: schedules.DDPM(betas=[0.1, 0.0, 0.2]), "beta\\[1\\]"),
    (lambda: schedules.DDPM(betas=[0.1, -0.2, 0.2]), "must lie in"),
    (lambda: schedules.DDPM(beta_schedule="quadratic"), "unknown beta_schedule"),
    (lambda: schedules.DDPM(num_steps=1), "num_steps"),
    (lambda: schedules.VE(sigma_min=5.0, sigma_max=1.0), "sigma_min < sigma_max"),
    (lambda: schedules.EDM(sigma_min=0.0), "sigma_min < sigma_max"),
    (lambda: schedules.VP(beta_min=-1.0), "noise grows"),
    (lambda: schedules.from_config({"name": "Cosine"}), "unknown schedule 'Cosine'"),
    (lambda: schedules.from_config({"name": "EDM", "sigma_maxx": 3}), "sigma_maxx"),
])
def test_bad_schedules_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()
