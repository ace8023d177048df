"""Mel-consistent sampling (modalities/audio/projection.py)."""
import math

import pytest
import torch

from modalities.audio.frontend import FrontEnd
from modalities.audio.projection import SETTINGS, check_settings, project
from tests.modalities.audio.test_model import tiny

FRONTEND = FrontEnd()


def tones(frames, *hz, amplitude=0.2):
    t = torch.arange(frames * FRONTEND.hop, dtype=torch.float64) / FRONTEND.sample_rate
    return sum(amplitude * torch.sin(2 * math.pi * f * t + f) for f in hz).float()[None]


def test_a_signal_that_already_has_the_mel_is_left_as_it_is():
    x = tones(40, 300, 1234, 3000) + 0.01 * torch.randn(1, 40 * 256, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(project(x, FRONTEND(x), FRONTEND, iterations=1, momentum=0.0), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(project(x, FRONTEND(x), FRONTEND), x, atol=5e-4, rtol=0)  # 32, momentum: float32 drift


def test_a_band_scaled_by_the_mel_is_rescaled_and_the_band_above_f_max_kept():
    """Target: the mel of 2 a + h, with a below f_max (8 kHz) and h at 10 kHz, which no filter sees: every
    filter's ratio is 2, so each covered bin's gain is 2 and the uncovered ones keep h."""
    low, high = tones(40, 300, 1234, 3000), tones(40, 10000)
    got = project(low + high, FRONTEND(2 * low + high), FRONTEND, iterations=1)
    inner = slice(1024, -1024)  # away from the reflected ends
    torch.testing.assert_close(got[:, inner], (2 * low + high)[:, inner], atol=2e-3, rtol=0)


def test_iterating_brings_noise_to_the_mel_it_is_asked_for():
    target = FRONTEND(tones(60, 220, 440, 660, 2500))
    noise = 0.1 * torch.randn(1, 60 * 256, generator=torch.Generator().manual_seed(1))
    distance = [float((FRONTEND(y) - target).abs().mean()) for y in
                (noise, project(noise, target, FRONTEND, iterations=1), project(noise, target, FRONTEND, iterations=32))]
    assert distance[0] > 3 and distance[1] < distance[0] / 3 and distance[2] < distance[1] / 2


@pytest.mark.parametrize("settings, match", [({"iterations": 0}, "iterations must be an integer >= 1"),
                                             ({"iterations": 2.5}, "iterations must be"),
                                             ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
                                             ({"below": 1.5}, r"below must be in \[0, 1\]"),
                                             ({"steps": 3}, r"unknown keys \['steps'\]"),
                                             ([32], "must be a mapping")])
def test_bad_settings_are_refused_by_name(settings, match):
    with pytest.raises(ValueError, match=match):
        check_settings(settings)
    with pytest.raises(ValueError, match=match):
        tiny(sampling={"sampler": "ddpm", "steps": 6, "timesteps": "fast", "mel_projection": settings})


def test_shapes_that_do_not_fit_are_refused():
    x = tones(10, 440)
    with pytest.raises(ValueError, match=r"x0 \(B, frames \* 256\) and its log-mel \(B, 80, frames\)"):
        project(x, FRONTEND(x)[..., :9], FRONTEND)


def test_the_settings_are_stored_whole_and_read_by_vocode():
    model = tiny(sampling={"sampler": "ddpm", "steps": 6, "timesteps": "fast", "mel_projection": {"iterations": 4}})
    assert model.config["sampling"]["mel_projection"] == {**SETTINGS, "iterations": 4}
    mel = FRONTEND(tones(24, 300, 1500))
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    default = model.vocode(mel, generator=g())
    torch.testing.assert_close(default, model.vocode(mel, generator=g(), mel_projection={"iterations": 4}))
    plain = model.vocode(mel, generator=g(), mel_projection=False)
    never = model.vocode(mel, generator=g(), mel_projection={"below": 0.0})  # no step is taken at t = 0
    torch.testing.assert_close(never, plain)
    # an untrained network: the projection alone brings its output toward the mel
    assert (FRONTEND(default) - mel).abs().mean() < 0.5 * (FRONTEND(plain) - mel).abs().mean()


def test_a_projected_stream_is_the_projected_whole():
    model = tiny(sampling={"sampler": "ddpm", "steps": 6, "timesteps": "fast", "mel_projection": {"iterations": 3}})
    mel = FRONTEND(tones(40, 300, 1500))
    options = dict(chunk_frames=16, context=4, steps=2, timesteps="linspace")
    whole = model.vocode(mel, generator=torch.Generator().manual_seed(0), **options)
    pieces = [mel[..., :7], mel[..., 7:30], mel[..., 30:]]
    streamed = torch.cat(list(model.vocode_stream(pieces, generator=torch.Generator().manual_seed(0), **options)), -1)
    torch.testing.assert_close(streamed, whole)
