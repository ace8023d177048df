import pytest
import torch

from zoo.architectures import build_network


def test_shapes_and_class_conditioning():
    net = build_network("toy2d/mlp", {"hidden": 32, "depth": 2, "num_classes": 8})
    x, label = torch.randn(5, 2), torch.rand(5) * 999
    a = net(x, label, label=torch.zeros(5, dtype=torch.long))
    b = net(x, label, label=torch.ones(5, dtype=torch.long))
    null = net(x, label)  # no label: the null class
    assert a.shape == (5, 2) and not torch.allclose(a, b) and not torch.allclose(a, null)


def test_noise_label_matters():
    net = build_network("toy2d/mlp", {"hidden": 32, "depth": 2})
    x = torch.randn(4, 2)
    assert not torch.allclose(net(x, torch.full((4,), 10.0)), net(x, torch.full((4,), 900.0)))


def test_bad_input():
    with pytest.raises(ValueError, match="has no parameter\\(s\\) \\['width'\\]"):
        build_network("toy2d/mlp", {"width": 3})
    with pytest.raises(ValueError, match="unknown architecture 'toy2d/unet'"):
        build_network("toy2d/unet", {})
    with pytest.raises(ValueError, match="shape \\(B, 2\\)"):
        build_network("toy2d/mlp", {"hidden": 8, "depth": 1})(torch.randn(3, 3), torch.zeros(3))
