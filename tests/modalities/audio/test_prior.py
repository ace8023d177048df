"""PriorGrad's conditional prior for the vocoder (modalities/audio/prior.py) through training and vocoding."""
import math

import pytest
import torch

from modalities.audio.frontend import DEFAULT, FrontEnd
from modalities.audio.prior import frame_energy, prior_std, reference_energy
from modalities.audio.training import AudioData
from tests.helpers import write_tiny_clips
from zoo.train import load_recipe, train


def test_the_std_follows_the_frame_energy_between_the_floor_and_one():
    frontend = FrontEnd(DEFAULT)
    loud = torch.sin(torch.arange(2560) * 0.2) * 0.5
    waveform = torch.cat([loud, torch.zeros(2560), loud * 0.3])[None]
    mel = frontend(waveform)
    energy = frame_energy(mel)
    settings = {"floor": 0.1, "energy": float(energy.max())}
    std = prior_std(mel, settings, frontend.hop)
    assert std.shape == (1, mel.shape[-1] * frontend.hop)
    frames = std[0, :: frontend.hop]
    torch.testing.assert_close(frames, (energy[0] / energy.max()).clamp(0.1, 1).sqrt())
    assert frames.max() == pytest.approx(1.0) and frames.min() == pytest.approx(math.sqrt(0.1))  # silence: the floor
    assert (std[0, : frontend.hop] == std[0, 0]).all()  # held over each frame's hop samples
    assert reference_energy(mel) == pytest.approx(float(torch.quantile(energy.flatten(), 0.99)))


@pytest.mark.slow
def test_a_vocoder_trains_and_vocodes_through_the_conditional_prior(tmp_path):
    clips = write_tiny_clips(tmp_path / "clips.npz")
    out = tmp_path / "run"
    recipe = load_recipe("recipes/audio/diffwave.yaml", ["preset=smoke", "diffusion.prior=conditional",
                                                          f"data.params.path={clips}", "sampling.n=1"])
    model = train(recipe, out)
    spec = model.config["prior"]
    data = AudioData("tuxpaint", path=str(clips), crop=2048)
    assert spec["name"] == "conditional" and spec["floor"] == 0.1 and spec["energy"] == pytest.approx(
        data.prior_settings()["energy"])
    mel = data.batch(2, torch.Generator().manual_seed(0))["cond"]["mel"]
    prior = model.prior({"mel": mel})
    torch.testing.assert_close(prior.std, prior_std(mel, spec, 256))
    wave = model.vocode(mel, generator=torch.Generator().manual_seed(0), chunk_frames=4, context=2)
    assert wave.shape == (2, mel.shape[-1] * 256) and torch.isfinite(wave).all()
    import zoo

    again = zoo.load(str(out / "model"))  # the settings travel in the config
    torch.testing.assert_close(again.prior({"mel": mel}).std, prior.std)
    with pytest.raises(ValueError, match="function of the mel"):
        model.prior({"conditioner": mel})


def test_a_conditional_prior_is_refused_where_it_has_nothing_to_be_a_function_of(tmp_path):
    with pytest.raises(ValueError, match="mel=False"):
        train(load_recipe("recipes/audio/diffwave-digits.yaml", ["preset=smoke", "diffusion.prior=conditional",
                                                                 f"data.params.path={write_tiny_clips(tmp_path / 'c.npz')}"]),
              tmp_path / "run")
    with pytest.raises(ValueError, match="diffusion.prior_floor"):
        load_recipe("recipes/audio/diffwave.yaml", ["diffusion.prior_floor=0"])
