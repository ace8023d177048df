"""Shared test helpers: exact denoisers of Gaussian mixtures, seeded noise."""
import torch

from zoo import core

F64 = torch.float64


def oracle(mixture, schedule, prediction="eps", **kwargs):
    """The exact denoiser of ``mixture`` for a schedule and parameterization."""
    return core.Denoiser(mixture.model(schedule, prediction), schedule, prediction, **kwargs)


def noise(n, dim=2, seed=0, dtype=F64):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)
