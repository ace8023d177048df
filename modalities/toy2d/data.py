"""2-D data sets with known densities.

Every set is a distribution we can sample and evaluate exactly:
- ``checkerboard``: uniform on the 8 dark squares of a 4 x 4 board on [-2, 2]^2 (density 1/8);
- ``ring8``: 8 Gaussians (std 0.1) on a circle of radius 2; ``grid25``: 5 x 5 Gaussians (std 0.1)
  on {-2, ..., 2}^2;
- ``swissroll``, ``moons``, ``spirals``: a curve blurred by Gaussian noise, tabulated as a
  mixture of ``points`` Gaussians along the curve; sampling draws from that same mixture, so the
  tabulated density is the exact density of the samples.
"""
from __future__ import annotations

import inspect
import math

import torch

from zoo.core.mixture import GaussianMixture
from zoo.modality import Batch, Dataset

__all__ = ["Toy2D", "Checkerboard", "MixtureData", "DATASETS", "dataset"]

F64 = torch.float64


class Toy2D(Dataset):
    """Base: ``sample(n, generator) -> (n, 2)``, ``log_prob(x) -> (n,)`` (nats), ``batch`` for training."""

    name = ""
    sample_shape = (2,)
    params: dict = {}

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def batch(self, n: int, generator: torch.Generator) -> Batch:
        """A training batch: ``{"x": (n, 2) float32}``."""
        return {"x": self.sample(n, generator).float()}

    def entropy(self, n: int = 200_000, seed: int = 0) -> tuple[float, float]:
        """Differential entropy in nats by Monte Carlo, and its standard error."""
        lp = self.log_prob(self.sample(n, torch.Generator().manual_seed(seed)))
        return float(-lp.mean()), float(lp.std() / math.sqrt(n))

    def config(self) -> dict:
        return {"name": self.name, **self.params}


class Checkerboard(Toy2D):
    """Uniform on the squares [i, i+1) x [j, j+1), i, j in {-2..1}, with i + j even."""

    name = "checkerboard"

    def __init__(self):
        cells = [(i, j) for i in range(-2, 2) for j in range(-2, 2) if (i + j) % 2 == 0]
        self.corners = torch.tensor(cells, dtype=F64)

    def sample(self, n, generator=None):
        cell = torch.randint(0, len(self.corners), (n,), generator=generator)
        return self.corners[cell] + torch.rand(n, 2, generator=generator, dtype=F64)

    def on_support(self, x: torch.Tensor) -> torch.Tensor:
        """(n,) bool: inside one of the 8 squares."""
        x = torch.as_tensor(x, dtype=F64)
        f = torch.floor(x)
        inside = (x.abs() < 2).all(1)
        return inside & ((f[:, 0] + f[:, 1]).remainder(2) == 0)

    def log_prob(self, x):
        return torch.where(self.on_support(x), torch.tensor(math.log(1 / 8), dtype=F64), torch.tensor(-math.inf, dtype=F64))


class MixtureData(Toy2D):
    """A Gaussian mixture data set; ``discrete_modes`` marks sets whose components are the modes."""

    def __init__(self, name: str, mixture: GaussianMixture, discrete_modes: bool):
        self.name, self.mixture, self.discrete_modes = name, mixture, discrete_modes

    @property
    def std(self) -> float:
        return float(self.mixture.stds.max())

    def sample(self, n, generator=None):
        return self.mixture.sample(n, generator)

    def log_prob(self, x):
        return self.mixture.log_prob(x)

    def distance_to_modes(self, x: torch.Tensor) -> torch.Tensor:
        """(n,) distance from each point to the nearest component mean."""
        return torch.cdist(torch.as_tensor(x, dtype=F64), self.mixture.means).min(1).values

    def nearest_mode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cdist(torch.as_tensor(x, dtype=F64), self.mixture.means).argmin(1)


def _curve(name: str, points: torch.Tensor, std: float) -> MixtureData:
    return MixtureData(name, GaussianMixture(points, std), discrete_modes=False)


def ring8(radius: float = 2.0, std: float = 0.1) -> MixtureData:
    return MixtureData("ring8", GaussianMixture.ring(8, radius, std), discrete_modes=True)


def grid25(spacing: float = 1.0, std: float = 0.1) -> MixtureData:
    g = torch.arange(-2, 3, dtype=F64) * spacing
    means = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    return MixtureData("grid25", GaussianMixture(means, std), discrete_modes=True)


def swissroll(std: float = 0.1, points: int = 512) -> MixtureData:
    t = 1.5 * math.pi * (1 + 2 * (torch.arange(points, dtype=F64) + 0.5) / points)
    return _curve("swissroll", torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 5.0, std)


def moons(std: float = 0.08, points: int = 512) -> MixtureData:
    theta = math.pi * (torch.arange(points // 2, dtype=F64) + 0.5) / (points // 2)
    outer = torch.stack([torch.cos(theta), torch.sin(theta)], 1)
    inner = torch.stack([1 - torch.cos(theta), 0.5 - torch.sin(theta)], 1)
    return _curve("moons", (torch.cat([outer, inner]) - torch.tensor([0.5, 0.25], dtype=F64)) * 1.5, std)


def spirals(std: float = 0.08, points: int = 512) -> MixtureData:
    u = (torch.arange(points // 2, dtype=F64) + 0.5) / (points // 2)
    theta = math.sqrt(0.05) + (3 * math.pi - math.sqrt(0.05)) * torch.sqrt(u)  # about even spacing along the arm
    arm = torch.stack([theta * torch.cos(theta), theta * torch.sin(theta)], 1) / (1.5 * math.pi)
    return _curve("spirals", torch.cat([arm, -arm]), std)


DATASETS = {"checkerboard": Checkerboard, "ring8": ring8, "grid25": grid25, "swissroll": swissroll,
            "moons": moons, "spirals": spirals}


def dataset(name: str, **params) -> Toy2D:
    """A toy data set by name; ``params`` are its keyword options (e.g. ``std``)."""
    if name not in DATASETS:
        raise ValueError(f"unknown toy2d data set {name!r}; choose one of {sorted(DATASETS)}")
    allowed = set(inspect.signature(DATASETS[name]).parameters)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"toy2d data set {name!r} has no option(s) {unknown}; it takes {sorted(allowed)}")
    data = DATASETS[name](**params)
    data.params = dict(params)
    return data
