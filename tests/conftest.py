import pytest

from zoo import core


@pytest.fixture
def ring():
    """The planning benchmark's data: 8 equal Gaussians on the unit circle, std 0.1."""
    return core.mixture.GaussianMixture.ring()


@pytest.fixture
def smooth_ring():
    """A smoother ring (std 0.3): samplers reach their asymptotic order at modest step counts."""
    return core.mixture.GaussianMixture.ring(std=0.3)
