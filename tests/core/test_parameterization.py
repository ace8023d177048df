import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import core
from zoo.core import schedules
from zoo.core.parameterization import PREDICTIONS

F64 = torch.float64
SCHEDULES = [schedules.DDPM(), schedules.VP(), schedules.VE(), schedules.EDM(), schedules.RectifiedFlow()]


def true_target(kind, sched, t, x0, eps, sigma_data=0.5):
    """What a perfect network of each kind outputs, from the definitions (not from the library)."""
    a, s = (v.item() for v in sched.alpha_sigma(t))
    da, ds = (v.item() for v in sched.derivatives(t))
    x = a * x0 + s * eps
    if kind == "eps":
        return eps
    if kind == "x0":
        return x0
    if kind == "v":
        return a * eps - s * x0
    if kind == "flow":
        return da * x0 + ds * eps
    sig = s / a  # EDM: D(y) = c_skip y + c_out F with y = x / alpha
    c_skip = sigma_data**2 / (sig**2 + sigma_data**2)
    c_out = sig * sigma_data / math.sqrt(sig**2 + sigma_data**2)
    return (x0 - c_skip * x / a) / c_out


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: s.name)
@pytest.mark.parametrize("kind", PREDICTIONS)
@settings(max_examples=15, deadline=None)
@given(t=st.floats(0.01, 0.99), seed=st.integers(0, 2**16))
def test_round_trips_are_exact(sched, kind, t, seed):
    g = torch.Generator().manual_seed(seed)
    x0, eps = torch.randn(2, 4, 3, generator=g, dtype=F64)
    a, s = (v.item() for v in sched.alpha_sigma(t))
    da, ds = (v.item() for v in sched.derivatives(t))
    x = a * x0 + s * eps
    raw = true_target(kind, sched, t, x0, eps)
    den = core.Denoiser(lambda x_in, label: raw, sched, kind)
    pred = den(x, t)
    for got, want in [(pred.x0, x0), (pred.eps, eps), (pred.v, a * eps - s * x0), (pred.score, -eps / s),
                      (pred.velocity, da * x0 + ds * eps)]:
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    for other in PREDICTIONS:  # eps <-> x0 <-> v <-> flow <-> F
        torch.testing.assert_close(pred.target(other), true_target(other, sched, t, x0, eps), rtol=1e-9, atol=1e-9)


def test_edm_network_sees_preconditioned_input_and_log_sigma_label():
    sched = schedules.EDM()
    seen = {}

    def net(x_in, label):
        seen["x_in"], seen["label"] = x_in, label
        return torch.zeros_like(x_in)

    x = torch.randn(3, 2, dtype=F64)
    t = 0.25
    sig = 20.0
    pred = core.Denoiser(net, sched, "edm", sigma_data=0.5)(x, t)
    torch.testing.assert_close(seen["x_in"], x / math.sqrt(sig**2 + 0.25))
    torch.testing.assert_close(seen["label"], torch.full((3,), math.log(sig) / 4, dtype=F64))
    torch.testing.assert_close(pred.x0, x * 0.25 / (sig**2 + 0.25))  # F = 0: D = c_skip y


def test_per_example_times_equal_scalar_time():
    sched = schedules.DDPM()
    net = lambda x, label: torch.sin(x * (1 + label[:, None] / 1000))  # noqa: E731
    x = torch.randn(5, 2, dtype=F64)
    for kind in PREDICTIONS:
        den = core.Denoiser(net, sched, kind)
        a = den(x, 0.3)
        b = den(x, torch.full((5,), 0.3, dtype=F64))
        torch.testing.assert_close(a.x0, b.x0)
        torch.testing.assert_close(a.eps, b.eps)


def test_bound_condition_reaches_the_model():
    sched = schedules.DDPM()
    net = lambda x, label, shift: x + shift  # noqa: E731
    den = core.Denoiser(net, sched, "x0").bind(shift=torch.ones(2, 1))
    torch.testing.assert_close(den(torch.zeros(2, 3), 0.5).x0, torch.ones(2, 3))


@pytest.mark.parametrize("net, t, message", [
    (lambda x, label: x[:, :1], 0.5, "returned shape \\(2, 1\\) for an input of shape \\(2, 3\\)"),
    (lambda x, label: x * float("nan"), 0.5, "NaN or inf at t=0.5"),
    (lambda x, label: x, torch.ones(3), "shape \\(\\) or \\(2,\\)"),
])
def test_bad_model_output_or_time_raises(net, t, message):
    den = core.Denoiser(net, schedules.DDPM(), "eps")
    with pytest.raises(ValueError, match=message):
        den(torch.randn(2, 3), t)


def test_bad_inputs_raise():
    sched = schedules.DDPM()
    with pytest.raises(ValueError, match="unknown prediction 'noise'"):
        core.Denoiser(lambda x, t: x, sched, "noise")
    den = core.Denoiser(lambda x, t, y=None: x, sched, "eps")
    with pytest.raises(ValueError, match="condition 'y' has batch size 3 but x has 2"):
        den(torch.randn(2, 3), 0.5, y=torch.zeros(3))
    with pytest.raises(ValueError, match="shape \\(B, ...\\)"):
        den(torch.randn(3), 0.5)


def test_eps_prediction_refuses_zero_signal():
    sched = schedules.DDPM(zero_terminal_snr=True)
    with pytest.raises(ValueError, match="eps needs alpha\\(t\\) > 0"):
        core.Denoiser(lambda x, t: x, sched, "eps")(torch.randn(2, 2), 1.0)
    pred = core.Denoiser(lambda x, t: x, sched, "v")(torch.randn(2, 2), 1.0)  # v is fine: x0 = -v
    torch.testing.assert_close(pred.x0, -pred.x * 1.0)
