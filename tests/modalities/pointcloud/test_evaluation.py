import math

import pytest
import torch

from modalities.pointcloud import PointCloudModel, crop
from modalities.pointcloud import data as pc_data
from modalities.pointcloud.evaluation import PROTOCOL, evaluate, likelihood, preview, sample_metrics
from zoo.core.samplers import SampleInfo
from zoo.evaluation import describe_device

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shapes():
    return pc_data.dataset("shapes", points=64, conditional=True, train_per_class=2, test_per_class=2)


def model_for(data, **network):
    network = {"hidden": 16, "depth": 1, "heads": 2, "num_classes": 8, **network}
    return PointCloudModel.from_config({
        "name": "pointcloud/test", "modality": "pointcloud", "architecture": "pointcloud/transformer",
        "network": network, "schedule": {"name": "EDM"},
        "prediction": "edm", "sigma_data": 0.43, "sample_shape": [64, 3],
        "sampling": {"sampler": "dpmpp_2m", "steps": 2, "guidance": 2.0 if network["num_classes"] else None},
        "data": data.config(), **data.model_config()})


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
    result = evaluate(model, shapes, completion_n=0, emd_n=8, likelihood_n=0)
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


def test_guidance_is_refused_for_an_unconditional_model():
    data = pc_data.dataset("shapes", points=64, train_per_class=1, test_per_class=1)
    model = model_for(data, num_classes=0)
    with pytest.raises(ValueError, match="unconditional: it has no classifier-free guidance"):
        evaluate(model, data, guidance=2.0)


def test_the_likelihood_of_a_fresh_network_is_the_gaussian_closed_form(shapes):
    # a fresh point transformer outputs exactly zero, so with the EDM parameterisation its denoiser is
    # c_skip x = s^2 / (s^2 + sigma^2) x: the exact denoiser of N(0, s^2 I), s = sigma_data.  Its
    # probability-flow ODE is linear and isotropic (the Hutchinson estimate is exact), so log p(x) is
    # log N(x; 0, s^2 I) up to the ODE's tolerance; the true class is bound for a conditional model.
    model, s = model_for(shapes), 0.43
    x = shapes.reference("test")[:3, :16].double()
    dims = x[0].numel()
    closed = (x.pow(2).flatten(1).sum(1) / (2 * s**2) + dims / 2 * math.log(2 * math.pi * s**2)) / 16
    result = likelihood(model, shapes, n=3, points=16, rtol=1e-4, atol=1e-4)
    assert result["nll_nats_per_point"] == pytest.approx(float(closed.mean()), rel=1e-3)
    assert result["nll_nats_per_point_se"] == pytest.approx(float(closed.std() / 3**0.5), rel=1e-2)
    assert result["likelihood_n"] == 3 and result["likelihood_points"] == 16 and result["likelihood_probes"] == 1
    assert result["likelihood_rtol"] == 1e-4 and result["likelihood_device"] == describe_device("cpu")
    assert result["likelihood_method"] == "hutchinson" and result["likelihood_nfe"] > 6


def test_the_likelihood_tells_a_trained_denoiser_from_a_wrong_one(shapes):
    # a network that shrinks every point to the origin is worse than the fresh (Gaussian-optimal) one
    model = model_for(shapes)
    fresh = likelihood(model, shapes, n=2, points=16)["nll_nats_per_point"]
    with torch.no_grad():
        model.network.final.bias.fill_(0.5)
    assert likelihood(model, shapes, n=2, points=16)["nll_nats_per_point"] > fresh + 0.1


def test_the_likelihood_refuses_bad_sizes_and_consistency_models(shapes):
    model = model_for(shapes)
    with pytest.raises(ValueError, match=r"likelihood n must lie in 1\.\.16"):
        likelihood(model, shapes, n=17)
    with pytest.raises(ValueError, match=r"likelihood points must lie in 1\.\.64"):
        likelihood(model, shapes, points=65)
    model.config["consistency"] = {"scale": 1.0}
    with pytest.raises(ValueError, match="consistency model: it has no probability-flow ODE"):
        likelihood(model, shapes)


def test_evaluate_adds_the_likelihood_and_describes_the_device(shapes):
    result = evaluate(model_for(shapes), shapes, n=4, emd_n=2, completion_n=0, likelihood_n=2, likelihood_points=8)
    assert result["device"] == describe_device("cpu") and "threads" not in result
    assert result["likelihood_n"] == 2 and result["likelihood_points"] == 8
    assert math.isfinite(result["nll_nats_per_point"])
    assert "nll_nats_per_point" not in evaluate(model_for(shapes), shapes, n=4, emd_n=2, completion_n=0,
                                                likelihood_n=0)


def test_sample_metrics_are_the_quick_set_scores(shapes):
    result = sample_metrics(model_for(shapes), shapes, n=4, steps=2)
    assert result["n"] == 4 and result["steps"] == 2 and result["nfe"] == 2 and result["seconds_per_sample"] > 0
    assert set(result) >= {"mmd_cd", "cov_cd", "1nna_cd"} and 0 <= result["1nna_cd"] <= 1


def test_preview_takes_the_steps():
    data = pc_data.dataset("shapes", points=64, train_per_class=1, test_per_class=1)
    x, settings = preview(model_for(data, num_classes=0), 2, steps=3)
    assert x.shape == (2, 64, 3) and settings["steps"] == 3 and "what" not in settings
