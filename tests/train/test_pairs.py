"""Reflow pairs: drawn from a model's ODE, read back as coupled batches, refused when they do not fit."""
import numpy as np
import pytest
import torch

import zoo
from modalities.image import dataset as image_dataset
from modalities.toy2d import dataset
from zoo.train.pairs import CoupledData, make_pairs


def test_pairs_are_the_models_ode_samples_from_their_noise(tmp_path):
    model = zoo.load("toy2d/ring8")
    path = make_pairs(model, 10, tmp_path / "p.npz", sampler="heun", steps=4, batch=4, progress=False)
    with np.load(path) as arrays:
        noise, x = torch.from_numpy(arrays["noise"]), torch.from_numpy(arrays["x"])
        assert sorted(arrays.files) == ["noise", "x"]
    scale = float(model.schedule.sigma(model.schedule.t_max))
    # in the same batches of 4: a batch's size changes the rounding of its matrix products
    expected = torch.cat([model.sample(len(z), sampler="heun", steps=4, x_T=z * scale) for z in noise.split(4)])
    torch.testing.assert_close(x, expected, rtol=1e-5, atol=1e-5)
    data = CoupledData(dataset("ring8"), path)
    batch = data.batch(6, torch.Generator().manual_seed(0))
    assert set(batch) == {"x", "noise"} and batch["x"].shape == (6, 2)
    row = (x == batch["x"][0]).all(1).nonzero()[0, 0]  # each x comes with its own noise
    torch.testing.assert_close(batch["noise"][0], noise[row])
    assert data.config() == dataset("ring8").config()  # the data set still names the data


def test_bad_pairs_are_named(tmp_path):
    with pytest.raises(ValueError, match="stochastic"):
        make_pairs(zoo.load("toy2d/ring8"), 4, tmp_path / "p.npz", sampler="ddpm")
    with pytest.raises(ValueError, match="no file"):
        CoupledData(dataset("ring8"), tmp_path / "missing.npz")
    np.savez(tmp_path / "three.npz", x=np.zeros((4, 3), np.float32), noise=np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        CoupledData(dataset("ring8"), tmp_path / "three.npz")
    np.savez(tmp_path / "nolabel.npz", x=np.zeros((4, 1, 8, 8), np.float32), noise=np.zeros((4, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="lacks labels"):
        CoupledData(image_dataset("digits"), tmp_path / "nolabel.npz")
    np.savez(tmp_path / "nonoise.npz", x=np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="lacks"):
        CoupledData(dataset("ring8"), tmp_path / "nonoise.npz")
