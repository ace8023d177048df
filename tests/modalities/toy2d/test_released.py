"""The released toy2d models (model_cards/toy2d/*) meet the issue's checks at 20 NFE."""
import pytest
import torch

import zoo
from modalities.toy2d import dataset, sample_quality

pytestmark = pytest.mark.usefixtures("one_thread")  # 2-D points through a small MLP, and the likelihood's autograd

RELEASED = ["checkerboard", "moons", "ring8", "swissroll"]


@pytest.fixture(scope="module")
def quality():
    """sample_quality of 4000 samples of each model at 20 steps, drawn and scored once for the module."""
    out = {}
    for name in RELEASED:
        model = zoo.load(f"toy2d/{name}")
        samples = model.sample(4000, steps=20, generator=torch.Generator().manual_seed(0))
        out[name] = sample_quality(samples, dataset(name))
    return out


def test_ring8_covers_every_mode(quality):
    q = quality["ring8"]
    assert q["modes_covered"] == 8 and q["near_data"] >= 0.95


def test_checkerboard_mass_on_the_squares(quality):
    assert quality["checkerboard"]["near_data"] >= 0.95


@pytest.mark.parametrize("name", ["moons", "swissroll"])
def test_curves_stay_on_their_curve(quality, name):
    assert quality[name]["near_data"] >= 0.9


@pytest.mark.parametrize("name", RELEASED)
def test_no_stray_samples(quality, name):
    """Sliced W2 squares distances, so a handful of far-off samples would blow it up."""
    q = quality[name]
    assert q["sliced_w2"] < 1.5 * q["sliced_w2_floor"] + 0.02


def test_ring8_likelihood_is_near_the_true_density():
    """Solved to rtol = atol = 1e-3 (121 evaluations rather than 847 at the default 1e-5): measured against
    1e-6 on these points, the mean log-likelihood moves by 0.001 nats, against the 0.055 the model stays
    inside the tighter bound (ll - truth = -0.005)."""
    model, data = zoo.load("toy2d/ring8"), dataset("ring8")
    x = data.sample(100, torch.Generator().manual_seed(1)).float()
    ll = zoo.core.log_likelihood(model.denoiser(), x, rtol=1e-3, atol=1e-3).mean().item()
    truth = data.log_prob(x.double()).mean().item()
    assert truth - 0.15 < ll < truth + 0.05  # a model cannot beat the data's density by much on fresh points


def test_ring8_cm_samples_ring8_in_one_evaluation():
    """The consistency model distilled from ring8 (measured at n = 4000: sliced W2 0.089 at 1 NFE, 86% of the samples
    within 3 standard deviations of a mode, against 97% for the teacher at 20 NFE)."""
    model = zoo.load("toy2d/ring8-cm")
    x, info = model.sample(4000, steps=1, return_info=True, generator=torch.Generator().manual_seed(0))
    q = sample_quality(x, dataset("ring8"))
    assert info.nfe == 1 and q["modes_covered"] == 8 and q["near_data"] >= 0.8
    assert q["sliced_w2"] < 1.5 * q["sliced_w2_floor"] + 0.02
