import pytest
import torch

from modalities.toy2d import dataset, sample_quality
from zoo.core.mixture import GaussianMixture


def test_true_data_scores_as_data():
    ring = dataset("ring8")
    q = sample_quality(ring.sample(4000, torch.Generator().manual_seed(5)), ring)
    assert q["modes_covered"] == 8 and q["modes"] == 8
    assert q["near_data"] == pytest.approx(1 - torch.exp(torch.tensor(-4.5)).item(), abs=0.01)  # P(r <= 3 std) in 2-D
    assert q["sliced_w2"] < 2 * q["sliced_w2_floor"] + 0.02


def test_mode_collapse_is_caught():
    ring = dataset("ring8")
    one_mode = GaussianMixture(ring.mixture.means[:1], 0.1).sample(4000, torch.Generator().manual_seed(6))
    q = sample_quality(one_mode, ring)
    assert q["modes_covered"] == 1 and q["near_data"] > 0.95 and q["sliced_w2"] > 1.0


def test_checkerboard_mass_on_the_squares():
    board = dataset("checkerboard")
    assert sample_quality(board.sample(4000), board)["near_data"] == 1.0
    uniform = torch.rand(4000, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 4 - 2
    assert sample_quality(uniform, board)["near_data"] == pytest.approx(0.5, abs=0.03)


def test_sample_metrics_time_the_draw_and_a_consistency_model_has_no_likelihood():
    import zoo
    from modalities.toy2d import evaluate, sample_metrics

    cm, ring = zoo.load("toy2d/ring8-cm"), dataset("ring8")
    row = sample_metrics(cm, ring, n=500, steps=1)
    assert row["nfe"] == 1 and row["seconds_per_sample"] > 0
    truth = float(ring.log_prob(ring.sample(4000, torch.Generator().manual_seed(2)).double()).mean())
    assert truth - 3.0 < row["sample_log_density"] <= truth + 0.5  # samples near the modes score like data
    assert evaluate(cm, ring, n=200, steps=1, likelihood_n=10)["log_likelihood"].startswith("not computed")
