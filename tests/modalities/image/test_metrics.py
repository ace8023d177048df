import numpy as np
import pytest
import torch

from modalities.image.metrics import class_accuracy, classifier_features, feature_statistics, frechet_distance, memorisation
from tests.helpers import gen

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")


def random_spd(d, seed, scale=1.0):
    a = torch.randn(d, d, generator=gen(seed), dtype=F64)
    return scale * (a @ a.T / d + 0.05 * torch.eye(d, dtype=F64))


def scipy_frechet(mu1, c1, mu2, c2):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    covmean = scipy_linalg.sqrtm(c1.numpy() @ c2.numpy())
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1.numpy() + c2.numpy() - 2 * covmean))


@pytest.mark.parametrize("d, seed", [(3, 0), (16, 1), (64, 2)])
def test_frechet_matches_scipy_sqrtm(d, seed):
    mu1, mu2 = torch.randn(d, generator=gen(seed + 10), dtype=F64), torch.randn(d, generator=gen(seed + 20), dtype=F64)
    c1, c2 = random_spd(d, seed), random_spd(d, seed + 100, scale=2.0)
    ours, expected = frechet_distance(mu1, c1, mu2, c2), scipy_frechet(mu1, c1, mu2, c2)
    assert ours == pytest.approx(expected, rel=1e-6)
    assert ours > 0


def test_frechet_closed_form_for_diagonal_covariances():
    # for commuting (diagonal) covariances the cross term is sum sqrt(s1 s2): the distance is
    # |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2
    s1, s2 = torch.tensor([1.0, 4.0, 0.25, 9.0], dtype=F64), torch.tensor([4.0, 1.0, 0.25, 0.0], dtype=F64)
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=F64), torch.tensor([1.0, 1.0, 0.0, 3.0], dtype=F64)
    expected = ((mu1 - mu2) ** 2).sum() + ((s1.sqrt() - s2.sqrt()) ** 2).sum()
    assert frechet_distance(mu1, torch.diag(s1), mu2, torch.diag(s2)) == pytest.approx(float(expected), rel=1e-12)
    assert float(expected) == pytest.approx(5 + 1 + 1 + 9)


def test_frechet_zero_for_identical_and_symmetric():
    mu, c = torch.randn(32, generator=gen(3), dtype=F64), random_spd(32, 3)
    assert abs(frechet_distance(mu, c, mu, c)) < 1e-8
    # a rank-deficient covariance (fewer samples than dimensions): round-off eigenvalues clamp to 0
    low_rank = torch.randn(10, 32, generator=gen(4), dtype=F64)
    c_low = low_rank.T @ low_rank / 9
    assert abs(frechet_distance(mu, c_low, mu, c_low)) < 1e-6
    mu2, c2 = torch.randn(32, generator=gen(5), dtype=F64), random_spd(32, 5, scale=3.0)
    assert frechet_distance(mu, c, mu2, c2) == pytest.approx(frechet_distance(mu2, c2, mu, c), rel=1e-9)
    assert frechet_distance(mu.numpy(), c.numpy(), mu2.numpy(), c2.numpy()) == pytest.approx(
        frechet_distance(mu, c, mu2, c2), rel=1e-12)


def test_frechet_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"mu \(D,\) and cov \(D, D\)"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(4))


def test_feature_statistics_unbiased():
    x = torch.randn(50, 6, generator=gen(6), dtype=F64)
    mu, cov = feature_statistics(x)
    torch.testing.assert_close(mu, x.mean(0))
    torch.testing.assert_close(cov, torch.cov(x.T))  # torch.cov is unbiased by default
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(torch.zeros(1, 6))


def test_frechet_of_gaussian_samples_approaches_closed_form():
    # two Gaussians N(0, I) and N(1, 4 I) in 4 dims: FD = 4 * 1 + 4 * (1 - 2)^2 = 8
    a = torch.randn(20000, 4, generator=gen(7), dtype=F64)
    b = 1 + 2 * torch.randn(20000, 4, generator=gen(8), dtype=F64)
    assert frechet_distance(*feature_statistics(a), *feature_statistics(b)) == pytest.approx(8.0, rel=0.05)


class Linear(torch.nn.Module):
    """A stand-in classifier: features are the flattened image, logits its first two pixels."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def features(self, x):
        return x.flatten(1)

    def forward(self, x):
        return x.flatten(1)[:, :2]


def test_classifier_features_and_accuracy_batched():
    images = torch.randn(23, 1, 2, 2, generator=gen(9))
    labels = images.flatten(1)[:, :2].argmax(1)
    labels[:5] = 1 - labels[:5]  # 5 of 23 wrong
    torch.testing.assert_close(classifier_features(Linear(), images, batch=4), images.flatten(1))
    assert class_accuracy(Linear(), images, labels, batch=4) == pytest.approx(18 / 23)
    with pytest.raises(ValueError, match="one label per image"):
        class_accuracy(Linear(), images, labels[:-1])


@pytest.fixture(scope="module")
def train_images():
    return torch.rand(300, 1, 8, 8, generator=gen(10)) * 2 - 1


def test_memorisation_of_exact_copies(train_images):
    picks = torch.tensor([3, 7, 299, 0, 150])
    reference = torch.rand(20, 1, 8, 8, generator=gen(11)) * 2 - 1
    out = memorisation(train_images[picks], train_images, reference)
    assert out["memorised_fraction"] == 1.0 and out["nn_distance_median"] == 0.0
    assert torch.equal(out["nearest"], picks) and torch.all(out["nn_distance"] == 0)
    assert out["reference_memorised_fraction"] == 0.0 and out["reference_nn_distance_median"] > 1.0


def test_memorisation_of_fresh_images_and_near_copies(train_images):
    fresh = torch.rand(200, 1, 8, 8, generator=gen(12)) * 2 - 1
    out = memorisation(fresh, train_images, fresh[:50])
    assert out["memorised_fraction"] < 0.02 and out["reference_memorised_fraction"] < 0.02
    assert out["nn_distance"].shape == out["nearest"].shape == (200,)
    # a slightly perturbed copy is still a copy by the ratio test; the distance is the perturbation's norm
    noise = 0.01 * torch.randn(4, 1, 8, 8, generator=gen(13))
    near = memorisation(train_images[:4] + noise, train_images, fresh)
    assert near["memorised_fraction"] == 1.0 and torch.equal(near["nearest"], torch.arange(4))
    torch.testing.assert_close(near["nn_distance"], noise.flatten(1).double().norm(dim=1), rtol=1e-5, atol=1e-6)


def test_memorisation_chunked_equals_unchunked(train_images):
    samples = torch.cat([train_images[:10], torch.rand(40, 1, 8, 8, generator=gen(14)) * 2 - 1])
    reference = torch.rand(30, 1, 8, 8, generator=gen(15)) * 2 - 1
    whole = memorisation(samples, train_images, reference, chunk=10_000, query_batch=10_000)
    pieces = memorisation(samples, train_images, reference, chunk=37, query_batch=16)
    assert torch.equal(whole["nearest"], pieces["nearest"])
    torch.testing.assert_close(whole["nn_distance"], pieces["nn_distance"], rtol=0, atol=0)
    for key in ("nn_distance_median", "reference_nn_distance_median", "memorised_fraction",
                "reference_memorised_fraction"):
        assert whole[key] == pieces[key]
    assert whole["memorised_fraction"] == pytest.approx(10 / 50)
    # the brute-force answer
    d = torch.cdist(samples.flatten(1).double(), train_images.flatten(1).double())
    torch.testing.assert_close(whole["nn_distance"], d.min(1).values)
    assert torch.equal(whole["nearest"], d.argmin(1))


def test_memorisation_rejects_bad_inputs(train_images):
    with pytest.raises(ValueError, match="float images"):
        memorisation(torch.zeros(3, 1, 8, 8, dtype=torch.uint8), train_images, train_images[:3])
    with pytest.raises(ValueError, match=r"\(1, 4, 4\) images, the training set \(1, 8, 8\)"):
        memorisation(torch.zeros(3, 1, 4, 4), train_images, train_images[:3])
