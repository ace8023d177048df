import math

import pytest
import torch

from modalities.protein.networks import backbone_transformer, equivariance_error
from tests.helpers import gen

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"hidden": 32, "depth": 2, "heads": 4}


def randomised(net):
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=gen(p.numel()), dtype=p.dtype))
    return net


def rotation_about_z(angle):
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def test_a_fresh_network_outputs_zero():
    net = backbone_transformer(**TINY)
    x = torch.randn(2, 7, 4, 3, generator=gen(0))
    assert torch.equal(net(x, torch.zeros(2)), torch.zeros(2, 7, 4, 3))


def test_padding_is_ignored_and_zeroed():
    net = randomised(backbone_transformer(**TINY)).double()
    x = torch.randn(1, 5, 4, 3, generator=gen(1), dtype=torch.float64)
    padded = torch.cat([x, torch.randn(1, 3, 4, 3, generator=gen(2), dtype=torch.float64)], dim=1)
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]])
    out = net(padded, torch.zeros(1), mask)
    torch.testing.assert_close(out[:, :5], net(x, torch.zeros(1)))
    assert torch.equal(out[:, 5:], torch.zeros(1, 3, 4, 3))


def test_residue_order_matters():
    net = randomised(backbone_transformer(**TINY)).double()
    x = torch.randn(1, 6, 4, 3, generator=gen(3), dtype=torch.float64)
    reverse = torch.arange(5, -1, -1)
    assert not torch.allclose(net(x[:, reverse], torch.zeros(1))[:, reverse], net(x, torch.zeros(1)))


def test_equivariance_error_is_zero_for_an_equivariant_map_and_not_for_this_network():
    rotations = torch.stack([rotation_about_z(a) for a in (0.3, 1.2, 2.5)])
    x = torch.randn(2, 6, 4, 3, generator=gen(4), dtype=torch.float64)

    def scaled(v, t, mask=None):  # f(x) = 2 x is rotation-equivariant
        return 2 * v
    assert equivariance_error(scaled, x, torch.zeros(2), rotations) < 1e-12

    def shifted(v, t, mask=None):  # adding a fixed vector is not
        return v + torch.tensor([1.0, 0.0, 0.0], dtype=v.dtype)
    assert equivariance_error(shifted, x, torch.zeros(2), rotations) > 0.1
    net = randomised(backbone_transformer(**TINY)).double()
    assert equivariance_error(net, x, torch.zeros(2), rotations) > 1e-3  # augmentation, not construction


@pytest.mark.parametrize("call, message", [
    (lambda n: n(torch.zeros(2, 5, 3), torch.zeros(2)), r"\(B, L, 4, 3\), got \(2, 5, 3\)"),
    (lambda n: n(torch.zeros(2, 5, 4, 3), torch.zeros(2), torch.ones(2, 4)), r"mask must have shape \(2, 5\)"),
    (lambda n: n(torch.zeros(2, 5, 4, 3), torch.zeros(3)), r"noise_label must have shape \(2,\)"),
])
def test_bad_inputs_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(backbone_transformer(**TINY))


def test_residue_features_hold_bond_vectors_and_stop_at_ends_and_padding():
    from modalities.protein.geometry import ideal_helix
    from modalities.protein.networks import FEATURES, residue_features

    x = torch.zeros(2, 6, 4, 3, dtype=torch.float64)
    x[0], x[1, :4] = ideal_helix(6), ideal_helix(4)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    f = residue_features(x, mask)
    assert f.shape == (2, 6, FEATURES)
    own, to_next, to_previous = f[..., 12:21], f[..., 21:33], f[..., 33:45]
    assert torch.allclose(own[0, :, :3].norm(dim=-1), torch.tensor(1.458, dtype=torch.float64), atol=1e-6)  # N-CA
    torch.testing.assert_close(to_next[0, :-1].reshape(5, 4, 3), x[0, 1:] - x[0, :-1])
    torch.testing.assert_close(to_previous[0, 1:], -to_next[0, :-1])
    assert (to_next[0, -1] == 0).all() and (to_previous[0, 0] == 0).all()  # chain ends
    assert (to_next[1, 3] == 0).all() and (to_previous[1, 4] == 0).all()  # next to padding


def test_the_internal_coordinates_network_is_invariant_and_periodic():
    from modalities.protein import geometry as g

    net = randomised(backbone_transformer(**TINY, representation="internal")).double()
    chain = g.ideal_hairpin(16).double()
    internal = g.internal_from_backbone(chain)[None]
    out = net(internal, torch.zeros(1))
    assert out.shape == (1, 16, 6) and out.abs().max() > 1e-3
    turned = g.internal_from_backbone(chain @ rotation_about_z(0.7).T + 3.0)[None]  # turned and moved
    torch.testing.assert_close(net(turned, torch.zeros(1)), out)
    torch.testing.assert_close(net(internal + 2 * math.pi, torch.zeros(1)), out)  # angles modulo 2 pi
    with pytest.raises(ValueError, match=r"\(internal\) expects x of shape \(B, L, 6\)"):
        net(torch.zeros(1, 16, 4, 3, dtype=torch.float64), torch.zeros(1))
