import math

import pytest
import torch

from modalities.toy2d import DATASETS, dataset

F64 = torch.float64


def grid(limit=4.0, n=160):
    """Cell midpoints of an n x n grid on [-limit, limit]^2, and the cell area."""
    h = 2 * limit / n
    g = -limit + (torch.arange(n, dtype=F64) + 0.5) * h
    return torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2), h * h


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_density_integrates_to_one(name):
    """Midpoint rule on a 0.05 grid.  For a Gaussian of std s the lattice sum's relative error is about
    4 exp(-2 pi^2 s^2 / h^2) (Poisson summation), below 1e-21 for the sets' s >= 0.08; the checkerboard's
    edges lie on grid lines, so its sum is exact.  The 2e-3 tolerance is left for the density itself."""
    xy, cell = grid()
    total = dataset(name).log_prob(xy).exp().sum().item() * cell
    assert total == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_samples_follow_the_density(name):
    """Histogram of 200k draws against the density integrated over the same 0.25-wide bins."""
    data = dataset(name)
    x = data.sample(200_000, torch.Generator().manual_seed(0))
    edges = torch.linspace(-4, 4, 33, dtype=F64)
    counts = torch.histogramdd(x, bins=[edges, edges]).hist / len(x)
    fine = -4 + (torch.arange(256, dtype=F64) + 0.5) * (8 / 256)  # 8 x 8 midpoints per bin
    pts = torch.stack(torch.meshgrid(fine, fine, indexing="ij"), -1).reshape(-1, 2)
    mass = (data.log_prob(pts).exp() * (8 / 256) ** 2).reshape(32, 8, 32, 8).sum((1, 3))
    assert (counts - mass).abs().max().item() < 0.004
    assert abs(counts.sum().item() - 1) < 1e-3  # nothing outside [-4, 4]^2


def test_checkerboard_support():
    board = dataset("checkerboard")
    assert board.on_support(board.sample(5000)).all()
    uniform = torch.rand(20000, 2, generator=torch.Generator().manual_seed(1), dtype=F64) * 4 - 2
    assert board.on_support(uniform).double().mean().item() == pytest.approx(0.5, abs=0.02)
    assert board.entropy()[0] == pytest.approx(math.log(8), abs=1e-9)


def test_entropy_of_a_gaussian_mixture_with_separated_modes():
    """8 well separated N(mu, 0.1^2 I): H = log 8 + log(2 pi e 0.01)."""
    h, se = dataset("ring8").entropy()
    assert h == pytest.approx(math.log(8) + math.log(2 * math.pi * math.e * 0.01), abs=4 * se + 1e-3)


def test_bad_names_and_options():
    with pytest.raises(ValueError, match="unknown toy2d data set 'rings'"):
        dataset("rings")
    with pytest.raises(ValueError, match="no option\\(s\\) \\['sigma'\\]"):
        dataset("ring8", sigma=0.2)
