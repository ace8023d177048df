import pytest
import torch

from modalities.protein import ProteinModel
from tests.helpers import gen


@pytest.fixture(scope="module")
def tiny_protein():
    """A small protein transformer (hidden 16, one layer) with fixed random weights, 64 residues at most."""
    m = ProteinModel.from_config({
        "name": "protein/test", "modality": "protein", "architecture": "protein/transformer",
        "network": {"hidden": 16, "depth": 1, "heads": 2}, "schedule": {"name": "EDM"}, "prediction": "edm",
        "sigma_data": 10.0, "prior": "zero_com", "sample_shape": [64, 4, 3],
        "sampling": {"sampler": "dpmpp_2m", "steps": 3, "timesteps": "karras"}, "data": {"name": "ideal"}})
    with torch.no_grad():
        for p in m.network.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=gen(p.numel())))
    return m


@pytest.fixture(scope="module")
def tiny_internal():
    """The same small transformer on internal coordinates (torus prior, eps on EDM), fixed random weights."""
    m = ProteinModel.from_config({
        "name": "protein/test-internal", "modality": "protein", "architecture": "protein/transformer",
        "network": {"hidden": 16, "depth": 1, "heads": 2, "representation": "internal"},
        "schedule": {"name": "EDM", "sigma_min": 0.005, "sigma_max": 4.0}, "prediction": "eps", "prior": "torus",
        "sample_shape": [64, 6], "sampling": {"sampler": "dpmpp_2m", "steps": 3, "timesteps": "karras"},
        "data": {"name": "ideal", "representation": "internal"}})
    with torch.no_grad():
        for p in m.network.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=gen(p.numel())))
    return m
