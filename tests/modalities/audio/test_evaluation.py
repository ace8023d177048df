import shutil

import pytest
import torch

import zoo
from modalities.audio import evaluation
from modalities.audio.training import AudioData
from tests.helpers import write_tiny_clips
from tests.modalities.audio.test_model import tiny


@pytest.fixture
def folder(tmp_path):
    """A saved tiny vocoder whose data file is the tiny clips file."""
    clips = write_tiny_clips(tmp_path / "clips.npz")
    model = tiny()
    model.config["data"] = AudioData("tuxpaint", path=str(clips), crop=2048).config()
    return zoo.save(model, tmp_path / "m", samples=2), clips


def test_preview_vocodes_held_out_speech_or_the_stored_reference(folder):
    path, clips = folder
    manifest = (path / "samples" / "manifest.json").read_text()
    assert "2 held-out utterances" in manifest and (path / "samples" / "samples.wav").is_file()
    evaluation.write_reference(path, AudioData("tuxpaint", path=str(clips)), n=2)
    with_data, _ = evaluation.preview(zoo.load(str(path)), 2)
    clips.unlink()  # a fresh machine: no data file, only the model folder
    without, how = evaluation.preview(zoo.load(str(path)), 2)
    assert "2 reference recordings" in how["what"] and without.shape == (2, 3 * 22050)
    assert with_data.shape == (2, 22050)  # the held-out clips themselves: 1.0 s and 0.7 s
    shutil.rmtree(path / "samples")
    with pytest.raises(ValueError, match="nothing to vocode.*zoo data prepare audio"):
        evaluation.preview(zoo.load(str(path)), 2)


def test_evaluation_scores_the_model_beside_griffin_lim(folder):
    path, clips = folder
    model = zoo.load(str(path))
    report = evaluation.evaluate(model, AudioData(**model.config["data"]), n=2, steps=2, sampler="ddim",
                                 timesteps="logsnr")
    assert report["n"] == 2 and report["protocol"] == "audio-vocoder-eval/1" and report["batch"] == 1
    held_out = [22050, int(0.7 * 22050)]  # the tiny file's held-out clips, cut to whole hops
    assert report["seconds_of_audio"] == round(sum(n - n % 256 for n in held_out) / 22050, 2)
    # an untrained vocoder is far worse than Griffin-Lim from the same mel
    assert report["mel_l1"] > report["griffin_lim_64"]["mel_l1"]
    assert torch.isfinite(torch.tensor(report["real_time_factor"]))
