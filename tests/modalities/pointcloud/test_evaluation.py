import pytest
import torch

from modalities.pointcloud import crop
from modalities.pointcloud import data as pc_data
from modalities.pointcloud.evaluation import PROTOCOL, evaluate, preview
from zoo.core.samplers import SampleInfo
from zoo.model import ZooModel

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shapes():
    return pc_data.dataset("shapes", points=64, conditional=True, train_per_class=2, test_per_class=2)


def model_for(data, **network):
    return ZooModel.from_config({
        "name": "pointcloud/test", "modality": "pointcloud", "architecture": "pointcloud/transformer",
        "network": {"hidden": 16, "depth": 1, "heads": 2, "num_classes": 8, **network}, "schedule": {"name": "EDM"},
        "prediction": "edm", "sigma_data": 0.43, "sample_shape": [64, 3],
        "sampling": {"sampler": "dpmpp_2m", "steps": 2, "guidance": 2.0}, "data": data.config(),
        **data.model_config()})


class TrainingCopies:
    """Stands in for a perfect generator: returns training clouds of the classes asked for, in turn."""

    def __init__(self, model, data):
        self.model, self.data, self.used = model, data, {}

    def __call__(self, n, *, cond=None, generator=None, return_info=False, **options):
        out = []
        for label in cond.tolist():
            rows = (self.data.labels["train"] == label).nonzero().flatten()
            out.append(self.data.reference("train")[rows[self.used.get(label, 0) % len(rows)]])
            self.used[label] = self.used.get(label, 0) + 1
        info = SampleInfo(sampler="copies", nfe=0, ts=torch.tensor([1.0, 0.0]), options={})
        return (torch.stack(out), info) if return_info else torch.stack(out)


def test_a_model_that_returns_real_training_clouds_scores_as_the_real_column(shapes, monkeypatch):
    model = model_for(shapes)
    monkeypatch.setattr(model, "sample", TrainingCopies(model, shapes))
    result = evaluate(model, shapes, completion_n=0, emd_n=8)
    assert result["protocol"] == PROTOCOL and result["n"] == 16 and result["points"] == 64
    assert result["normalization"] == "unit_sphere"
    # the training clouds, asked for in the references' class order, are exactly the real column's set
    for key in ("mmd_cd", "cov_cd", "1nna_cd", "jsd", "1nna_cd_within_class", "class_accuracy_nn", "mmd_emd_approx",
                "cov_emd_approx"):
        assert result[key] == pytest.approx(result["real_clouds"][key], rel=1e-9), key
    assert result["real_clouds"]["cov_cd"] > 0.3 and result["real_clouds"]["1nna_cd"] < 0.9


def test_an_untrained_model_is_told_apart_and_completion_is_measured(shapes):
    model = model_for(shapes)
    result = evaluate(model, shapes, n=8, emd_n=4, completion_n=4)
    assert result["1nna_cd"] > 0.9 and result["mmd_cd"] > 2 * result["real_clouds"]["mmd_cd"]
    assert result["guidance"] == 2.0 and result["samples_per_second"] > 0
    assert result["completion_n"] == 4
    # an untrained model's completion is worse than a real shape of the same class
    assert result["completion_chamfer"] > result["completion_chamfer_other_same_class"]
    assert 0.0 <= result["completion_better_than_partial"] <= 1.0


def test_completion_with_the_truth_scores_zero(shapes, monkeypatch):
    model = model_for(shapes)
    truth = shapes.reference("test")

    def complete(partial, *, cond=None, generator=None, **options):  # an oracle: the whole held-out clouds
        assert torch.equal(partial, crop(truth[:len(partial)]))  # the +x halves of the first references, in order
        return truth[:len(partial)]
    monkeypatch.setattr(model, "complete", complete)
    result = evaluate(model, shapes, n=8, emd_n=2, completion_n=8)
    assert result["completion_chamfer"] == pytest.approx(0.0, abs=1e-6)  # float32 distances
    assert result["completion_better_than_partial"] == 1.0
    assert result["completion_chamfer_partial_alone"] > 0


def test_bad_sizes_are_refused(shapes):
    model = model_for(shapes)
    with pytest.raises(ValueError, match=r"n must lie in 2\.\.16"):
        evaluate(model, shapes, n=17)
    other = pc_data.dataset("shapes", points=32, train_per_class=2, test_per_class=2)
    with pytest.raises(ValueError, match=r"clouds of shape \(64, 3\), the data has \(32, 3\)"):
        evaluate(model, other)


def test_preview_puts_class_k_in_column_k(shapes):
    model = model_for(shapes)
    x, settings = preview(model, 16, seed=0)
    assert x.shape == (16, 64, 3) and settings["guidance"] == 2.0 and "torus" in settings["what"]
    assert model.balanced_labels(10).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
