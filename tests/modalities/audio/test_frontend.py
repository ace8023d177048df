import math

import pytest
import torch

from modalities.audio.frontend import DEFAULT, FrontEnd, check_config, config_hash


def test_frames_align_with_hops():
    front = FrontEnd()
    for length in (256 * 10, 256 * 10 + 100, 22050):
        assert front(torch.randn(length)).shape == (80, length // 256)
    assert front(torch.randn(3, 2560)).shape == (3, 80, 10)


def test_a_sine_lights_the_mel_band_of_its_frequency_and_gain_shifts_log_magnitude():
    front = FrontEnd()
    t = torch.arange(22050) / 22050
    centres = torch.tensor([front.mel.mel_scale.fb[:, m].argmax().item() * 22050 / 1024 for m in range(80)])
    for hz in (300.0, 1000.0, 4000.0):
        mel = front(0.5 * torch.sin(2 * math.pi * hz * t))
        band = int(mel[:, 5:-5].mean(1).argmax())
        assert abs(float(centres[band]) - hz) < 0.1 * hz + 50
        louder = front(torch.sin(2 * math.pi * hz * t))
        torch.testing.assert_close(louder[band, 5:-5], mel[band, 5:-5] + math.log(2), atol=1e-4, rtol=0)


def test_silence_sits_at_the_log_floor():
    mel = FrontEnd()(torch.zeros(4096))
    assert torch.allclose(mel, torch.full_like(mel, math.log(1e-5)))


def test_frame_k_covers_samples_k_hop_to_k_plus_one_hop():
    front = FrontEnd()
    x = torch.zeros(256 * 40)
    x[256 * 20: 256 * 21] = torch.sin(torch.arange(256) * 0.7)  # one hop of sound
    energy = front(x).exp().sum(0)
    assert int(energy.argmax()) == 20


def test_config_hash_catches_edits_and_names_unknown_keys():
    config = check_config(DEFAULT)
    assert config["hash"] == config_hash(DEFAULT) and len(config["hash"]) == 16
    with pytest.raises(ValueError, match="does not match its settings"):
        check_config({**config, "f_max": 11025.0})
    with pytest.raises(ValueError, match=r"unknown keys \['hop'\]"):
        check_config({**DEFAULT, "hop": 256})
    with pytest.raises(ValueError, match="shape"):
        FrontEnd()(torch.zeros(2, 2, 4096))
