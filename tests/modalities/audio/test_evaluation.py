import math
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
    assert (how["sampler"], how["steps"], how["nfe"], how["timesteps"], how["seed"]) == ("ddpm", 6, 6, "fast", 0)
    _, quick = evaluation.preview(zoo.load(str(path)), 1, steps=2)  # given steps replace the fixed 6-level table
    assert (quick["steps"], quick["nfe"], quick["timesteps"]) == (2, 2, "logsnr")
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
    assert report["device"] == f"CPU, {torch.get_num_threads()} thread" + ("s" if torch.get_num_threads() > 1 else "")
    # the likelihood of the first 4 (here: 2) held-out clips' centre 0.26 s, given their mels
    assert report["likelihood_clips"] == 2 and report["likelihood_seconds"] == round(22 * 256 / 22050, 4)
    assert isinstance(report["bits_per_sample"], float) and math.isfinite(report["bits_per_sample"])


def test_quick_metrics_of_a_vocoder(folder):
    path, _ = folder
    model = zoo.load(str(path))
    row = evaluation.sample_metrics(model, AudioData(**model.config["data"]), n=2, steps=2, sampler="ddim",
                                    timesteps="logsnr")
    assert row["protocol"] == "audio-vocoder-quick/1" and row["nfe"] == 2 and row["steps"] == 2
    assert row["seconds_of_audio"] == round(2 * (int(0.7 * 22050) // 256 * 256) / 22050, 2)  # cut to the shortest
    assert row["mrstft_band"] > 0 and row["mel_l1"] > 0 and row["seconds_per_sample"] > 0
    default = evaluation.sample_metrics(model, AudioData(**model.config["data"]), n=1, steps=3)
    assert (default["sampler"], default["steps"], default["nfe"]) == ("ddpm", 3, 3)  # not the 6-level fast table
