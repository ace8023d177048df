import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from modalities.audio import data
from modalities.audio.digits import evaluate_digits, quick_digits
from modalities.audio.frontend import FrontEnd
from modalities.audio.training import AudioData

SR = data.SAMPLE_RATE


def tone(label: int, seed: int) -> np.ndarray:
    """One second whose pitch encodes the label (a stand-in for a spoken digit)."""
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    x = 0.3 * np.sin(2 * math.pi * (300 + 150 * label) * t) + 0.01 * rng.standard_normal(SR)
    return x * (np.abs(t - 0.5) < 0.3)


@pytest.fixture
def tones(tmp_path):
    clips = [data.Clip(f"t{i}", np.round(tone(i % 10, i) * 32767).astype(np.int16), int(i >= 60), i % 10, "xx")
             for i in range(80)]
    return data.write_clips(tmp_path / "tones.npz", "digits", clips, [], {})


class Fake:
    """Just enough of an unconditional AudioModel: its samples are tones of the given labels."""

    def __init__(self, labels):
        self.labels, self.frontend, self.sample_rate, self.config = labels, FrontEnd(), SR, {"sampling": {}}
        self.name = "audio/fake-tones"

    def parameters(self):  # where it runs: the CPU
        return iter([torch.zeros(1)])

    def sample(self, n, seconds, generator=None, return_info=False, **options):
        x = torch.stack([torch.from_numpy(tone(self.labels[i % len(self.labels)], 1000 + i)).float() for i in range(n)])
        return (x, SimpleNamespace(sampler="fake", ts=torch.linspace(1, 0, 5), nfe=4)) if return_info else x


def test_the_local_classifier_scores_diversity_and_confidence(tones):
    dataset = AudioData("digits", path=str(tones), crop=SR, mel=False)
    varied = evaluate_digits(Fake(list(range(10))), dataset, n=40, classifier_steps=150, likelihood=False)
    assert varied["classifier_heldout_accuracy"] == 1.0 and varied["local_metric"]
    assert varied["device"].startswith("CPU, ") and "bits_per_sample" not in varied
    assert varied["confidence"] > 0.9
    assert varied["class_entropy"] == pytest.approx(math.log(10), abs=0.1)
    assert varied["classifier_score"] > 8
    collapsed = evaluate_digits(Fake([3]), dataset, n=40, classifier_steps=150, likelihood=False)
    assert collapsed["class_entropy"] < 0.1 and collapsed["classifier_score"] < 1.1
    quick = quick_digits(Fake(list(range(10))), dataset, n=20, classifier_steps=150)  # the same classifier, cached
    assert quick["protocol"] == "audio-digits-quick/1" and (quick["steps"], quick["nfe"]) == (4, 4)
    assert quick["confidence"] > 0.9 and quick["classifier_score"] > 8 and quick["seconds_per_sample"] > 0
