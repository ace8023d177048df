import numpy as np
import pytest
import torch
from PIL import Image

from modalities.toy2d import write_samples


def test_npy_and_csv_round_trip(tmp_path):
    x = torch.randn(50, 2, dtype=torch.float64)
    write_samples(x, tmp_path / "s.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), x.numpy())
    write_samples(x, tmp_path / "s.csv")
    np.testing.assert_allclose(np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1), x.numpy(), rtol=1e-15)


def test_png_is_an_image(tmp_path):
    write_samples(torch.randn(100, 2), tmp_path / "s.png", title="t")
    with Image.open(tmp_path / "s.png") as im:
        assert im.size == (400, 400)


def test_bad_output(tmp_path):
    with pytest.raises(ValueError, match="use one of"):
        write_samples(torch.randn(3, 2), tmp_path / "s.gif")
    with pytest.raises(ValueError, match="shape \\(n, 2\\)"):
        write_samples(torch.randn(3, 3), tmp_path / "s.npy")


def test_the_plot_holds_the_whole_distribution_but_not_its_strays():
    from modalities.toy2d import dataset, io

    roll = dataset("swissroll").batch(4000, torch.Generator().manual_seed(0))["x"].numpy()
    assert np.abs(roll).max() > io.LIMIT  # the outer arm reaches past the old fixed axes
    assert io.half_width(roll) > np.quantile(np.abs(roll).max(1), 0.999)
    assert io.half_width(np.zeros((10, 2))) == io.LIMIT  # small data keep the usual axes
    strays = np.concatenate([np.random.default_rng(0).normal(size=(4000, 2)), [[40.0, 0.0]]])
    assert io.half_width(strays) < 6  # one stray does not shrink the picture
