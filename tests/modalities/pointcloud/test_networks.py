import pytest
import torch

from modalities.pointcloud.networks import point_transformer
from tests.helpers import gen

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"hidden": 32, "depth": 2, "heads": 4}


def trained_like(net):
    """Random weights everywhere, so that no zero-initialised layer hides a bug."""
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=gen(sum(p.shape))))
    return net


def test_a_fresh_network_outputs_exactly_zero_and_learns_to_move():
    net = point_transformer(**TINY, num_classes=3)
    x = torch.randn(2, 40, 3, generator=gen(0))
    assert torch.equal(net(x, torch.zeros(2), torch.tensor([0, 1])), torch.zeros(2, 40, 3))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss = (net(x, torch.zeros(2)) - x).pow(2).mean()
    loss.backward()
    optimizer.step()
    assert net(x, torch.zeros(2)).abs().max() > 0


def test_permuting_the_points_permutes_the_output():
    net = trained_like(point_transformer(**TINY, num_classes=3)).double()
    x = torch.randn(3, 50, 3, generator=gen(1), dtype=torch.float64)
    perm = torch.randperm(50, generator=gen(2))
    out = net(x, torch.tensor([0.1, 0.5, -0.3]), torch.tensor([0, 2, 3]))
    torch.testing.assert_close(net(x[:, perm], torch.tensor([0.1, 0.5, -0.3]), torch.tensor([0, 2, 3])), out[:, perm])


def test_any_number_of_points_and_every_point_sees_the_cloud():
    net = trained_like(point_transformer(**TINY)).double()
    x = torch.randn(1, 30, 3, generator=gen(3), dtype=torch.float64)
    assert net(x, torch.zeros(1)).shape == (1, 30, 3)
    assert net(x[:, :7], torch.zeros(1)).shape == (1, 7, 3)
    moved = x.clone()
    moved[0, 29] += 1.0  # one point moves: the others' outputs change (attention), not only its own
    assert not torch.allclose(net(moved, torch.zeros(1))[0, 0], net(x, torch.zeros(1))[0, 0])


def test_time_and_class_reach_the_output_and_none_is_the_null_class():
    net = trained_like(point_transformer(**TINY, num_classes=3))
    x = torch.randn(2, 20, 3, generator=gen(4))
    a = net(x, torch.zeros(2), torch.tensor([0, 0]))
    assert not torch.allclose(a, net(x, torch.ones(2), torch.tensor([0, 0])))
    assert not torch.allclose(a, net(x, torch.zeros(2), torch.tensor([1, 1])))
    torch.testing.assert_close(net(x, torch.zeros(2)), net(x, torch.zeros(2), torch.tensor([3, 3])))
    torch.testing.assert_close(net(x, 0.0), net(x, torch.zeros(2)))  # a scalar noise label is broadcast


def test_parameter_count_of_the_default_size():
    # per block: qkv + proj + mlp (12 d^2 + 9 d) and adaLN modulation (6 d^2 + 6 d); d = 256, 6 blocks
    d = 256
    blocks = 6 * (12 * d * d + 9 * d + 6 * d * d + 6 * d)
    time = 256 * d + d + d * d + d
    rest = (3 * d + d) + (2 * d * d + 2 * d) + (3 * d + 3) + 9 * d  # embed, final modulation, final, 9-row class table
    net = point_transformer(hidden=d, depth=6, heads=4, num_classes=8)
    assert sum(p.numel() for p in net.parameters()) == blocks + time + rest


def test_state_dict_round_trip():
    a = trained_like(point_transformer(**TINY, num_classes=2))
    b = point_transformer(**TINY, num_classes=2)
    b.load_state_dict(a.state_dict(), strict=True)
    x = torch.randn(1, 10, 3, generator=gen(5))
    torch.testing.assert_close(a(x, torch.zeros(1), torch.tensor([1])), b(x, torch.zeros(1), torch.tensor([1])))


@pytest.mark.parametrize("call, message", [
    (lambda n: n(torch.zeros(2, 10, 2), torch.zeros(2)), r"shape \(B, N, 3\), got \(2, 10, 2\)"),
    (lambda n: n(torch.zeros(2, 10, 3), torch.zeros(3)), r"noise_label must have shape \(2,\)"),
    (lambda n: n(torch.zeros(2, 10, 3), torch.zeros(2), torch.tensor([0.5, 1.0])), "integer class indices"),
    (lambda n: n(torch.zeros(2, 10, 3), torch.zeros(2), torch.tensor([0, 4])), r"\[0, 3\] \(3 is the null class\)"),
])
def test_bad_inputs_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(point_transformer(**TINY, num_classes=3))


def test_unconditional_network_refuses_labels_and_bad_widths():
    with pytest.raises(ValueError, match="unconditional"):
        point_transformer(**TINY)(torch.zeros(1, 4, 3), torch.zeros(1), torch.tensor([0]))
    with pytest.raises(ValueError, match="divisible by heads"):
        point_transformer(hidden=30, heads=4)
