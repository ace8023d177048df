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
