import math

import numpy as np
import pytest
import torch

from modalities.audio.frontend import DEFAULT
from modalities.audio.model import FAST_BETAS, AudioModel

BETAS = np.linspace(1e-4, 0.05, 50)


def tiny(unconditional=False, sampling=None):
    torch.manual_seed(0)
    config = {"name": "audio/tiny", "modality": "audio", "architecture": "audio/diffwave",
              "network": {"layers": 4, "channels": 8, "dilation_cycle": 2, "unconditional": unconditional},
              "schedule": {"name": "DDPM", "beta_schedule": "linear", "num_steps": 50, "beta_start": 1e-4,
                           "beta_end": 0.05},
              "prediction": "eps", "sample_shape": [2048], "frontend": dict(DEFAULT), "data": {"name": "tuxpaint"},
              "sampling": sampling or {"sampler": "ddpm", "steps": 6, "timesteps": "fast"}}
    model = AudioModel.from_config(config)
    torch.nn.init.normal_(model.network.output.weight, std=0.1)  # an untrained net still has to do something
    return model


def test_audio_configs_build_audio_models_with_the_front_end_hashed():
    from modalities.audio import MODALITY

    assert MODALITY.model_class is AudioModel
    model = tiny()
    assert isinstance(model, AudioModel) and len(model.config["frontend"]["hash"]) == 16
    with pytest.raises(ValueError, match="needs a 'frontend'"):
        AudioModel(model.network, {k: v for k, v in model.config.items() if k != "frontend"})


def test_fast_schedule_puts_each_level_at_diffwaves_fractional_step():
    model = tiny()
    _, grid = model._grid(None, "fast")
    labels = model.schedule.noise_label(grid[:-1]).flip(0).numpy()
    train_cum, fast_cum = np.cumprod(1 - BETAS), np.cumprod(1 - np.array(FAST_BETAS))
    expected = []
    for a in fast_cum:  # the step t with train_cum[t+1] <= a <= train_cum[t], interpolated in sqrt(alpha_cum)
        t = int(np.nonzero(train_cum >= a)[0].max())
        expected.append(t + (train_cum[t] ** 0.5 - a ** 0.5) / (train_cum[t] ** 0.5 - train_cum[t + 1] ** 0.5))
    np.testing.assert_allclose(labels, expected, atol=1e-6)


def test_chunked_vocoding_matches_one_pass():
    model = tiny(sampling={"sampler": "ddim", "steps": 4, "timesteps": None})
    mel = model.frontend(0.3 * torch.sin(torch.arange(256 * 40) * 0.05))
    whole = model.vocode(mel, generator=torch.Generator().manual_seed(1), chunk_frames=1000)
    chunked = model.vocode(mel, generator=torch.Generator().manual_seed(1), chunk_frames=8, context=6)
    assert whole.shape == chunked.shape == (40 * 256,)
    torch.testing.assert_close(chunked, whole, atol=1e-4, rtol=1e-4)


def test_resynthesize_keeps_duration_and_returns_the_models_rate():
    model = tiny()
    x = 0.3 * torch.sin(torch.arange(44100) * 2 * math.pi * 440 / 44100)[:30000]
    y = model.resynthesize(x, 44100, generator=torch.Generator().manual_seed(0))
    assert y.shape == (15000,) and torch.isfinite(y).all()
    again, info = model.resynthesize(x, 44100, generator=torch.Generator().manual_seed(0), return_info=True)
    torch.testing.assert_close(again, y, rtol=0, atol=0)  # the info changes nothing drawn
    assert info.sampler == "ddpm" and info.nfe == 6 and len(info.ts) == 7
    batch = model.resynthesize(torch.stack([x, x])[:, :4410], 44100, timesteps="training", sampler="ddpm")
    assert batch.shape == (2, 2205)


def test_mels_that_do_not_fit_are_refused_with_the_reason():
    model = tiny()
    good = model.frontend(0.1 * torch.randn(2560))
    cases = [(good[:64], "64 bins"), (good.T, "needs transposing"), (20 * good / math.log(10), "dB, log10"),
             (torch.zeros(80, 10, dtype=torch.long), "float tensor"),
             (good, "n_fft 2048 \\(model: 1024\\)")]
    for mel, message in cases:
        frontend = {"n_fft": 2048} if message.startswith("n_fft") else None
        with pytest.raises(ValueError, match=message):
            model.vocode(mel, frontend=frontend)


def test_unconditional_sampling_and_vocoder_misuse():
    model = tiny(unconditional=True)
    clips = model.sample(2, seconds=0.05, generator=torch.Generator().manual_seed(0))
    assert clips.shape == (2, round(0.05 * 22050)) and torch.isfinite(clips).all()
    assert model.sample(1, steps=2, timesteps="logsnr", sampler="ddim").shape == (1, 2048)
    with pytest.raises(ValueError, match="unconditional: use sample"):
        model.vocode(torch.zeros(80, 4) - 5)
    with pytest.raises(ValueError, match="mel vocoder: call vocode"):
        tiny().sample(1)
    with pytest.raises(ValueError, match="seconds must be positive"):
        model.sample(1, seconds=0)
