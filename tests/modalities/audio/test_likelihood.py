import math

import pytest
import torch
from torch import nn

from modalities.audio.frontend import DEFAULT
from modalities.audio.likelihood import CROP_FRAMES, bits_per_sample, centre_crops, log_likelihood
from modalities.audio.model import AudioModel
from tests.modalities.audio.test_model import tiny

SCALE = 0.1


class GaussianOracle(nn.Module):
    """The exact eps prediction for data x0 ~ N(0, SCALE^2 I) on a VP schedule: sigma x / (alpha^2 s^2 + sigma^2)."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.unused = nn.Parameter(torch.zeros(()))  # so the model has a device and a dtype

    def forward(self, x, noise_label, conditioner=None):
        alpha, sigma = self.schedule.alpha_sigma(self.schedule.t_of_noise_label(noise_label.double()))
        alpha, sigma = alpha.to(x.dtype)[:, None], sigma.to(x.dtype)[:, None]
        return sigma * x / (alpha ** 2 * SCALE ** 2 + sigma ** 2)


def oracle_model():
    config = {"name": "audio/oracle", "modality": "audio", "architecture": "audio/diffwave",
              "network": {"unconditional": True}, "schedule": {"name": "DDPM"},  # 1000 steps: alpha(t_max) ~ 0.006
              "prediction": "eps", "sample_shape": [CROP_FRAMES * 256], "frontend": dict(DEFAULT),
              "data": {"name": "digits"}}
    model = AudioModel(nn.Identity(), config)
    model.network = GaussianOracle(model.schedule)
    return model


def test_bits_per_sample_of_gaussian_clips_match_the_closed_form():
    model = oracle_model()
    clips = [SCALE * torch.randn(7000, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    found = bits_per_sample(model, clips, seed=0)
    x, mel = centre_crops(model, clips)
    assert mel is None and x.shape == (2, CROP_FRAMES * 256)
    nats = (-0.5 * math.log(2 * math.pi * SCALE ** 2) - x.double() ** 2 / (2 * SCALE ** 2)).sum(1)
    expected = float((-nats / (x.shape[1] * math.log(2)) + 15).mean())  # 16-bit bins of width 2 / 2^16
    assert found["bits_per_sample"] == pytest.approx(expected, abs=2e-3)
    assert found["likelihood_clips"] == 2 and found["likelihood_seconds"] == round(5632 / 22050, 4)
    assert found["likelihood_probes"] == 1 and found["likelihood_nfe"] > 0


def test_a_vocoders_likelihood_is_conditional_on_the_mel():
    model = tiny()
    clip = 0.3 * torch.sin(torch.arange(8000) * 0.05) + 0.01 * torch.randn(8000, generator=torch.Generator().manual_seed(0))
    x, mel = centre_crops(model, [clip], frames=8)
    assert x.shape == (1, 2048) and mel.shape == (1, 80, 8)
    torch.testing.assert_close(mel[0], model.frontend(clip[: 8000 - 8000 % 256])[:, 11:19])  # (31 - 8) // 2 = 11
    loose = {"rtol": 1e-2, "atol": 1e-2}
    given, _ = log_likelihood(model, x, mel, generator=torch.Generator().manual_seed(0), **loose)
    other, _ = log_likelihood(model, x, torch.full_like(mel, model.frontend.log_floor),
                              generator=torch.Generator().manual_seed(0), **loose)
    assert torch.isfinite(given).all() and given.item() != other.item()
    with pytest.raises(ValueError, match="conditional on a mel"):
        log_likelihood(model, x)
    with pytest.raises(ValueError, match="fewer than the 5632"):
        centre_crops(model, [clip[:5000]])


def test_a_consistency_model_has_no_likelihood():
    model = tiny(unconditional=True)
    model.config["consistency"] = {"scale": 1.0}
    assert bits_per_sample(model, [torch.zeros(6000)])["bits_per_sample"].startswith("not computed: a consistency")
