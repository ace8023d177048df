import math

import pytest
import torch

from modalities.image.networks import ResBlock, dit, sincos_2d, unet
from zoo.architectures import build_network

TINY_UNET = {"channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1, "attention_resolutions": [4], "resolution": 8,
             "head_channels": 4}
TINY_DIT = {"hidden": 32, "depth": 2, "heads": 2, "patch_size": 2, "resolution": 8}
BUILDERS = {"unet": (unet, TINY_UNET), "dit": (dit, TINY_DIT)}


def tiny(kind, **params):
    builder, defaults = BUILDERS[kind]
    torch.manual_seed(0)
    return builder(**{**defaults, **params})


def perturb(net, std=0.05):
    """Move every weight a little: the zero-initialised layers would otherwise hide any difference."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * std)
    return net


def train(net, x, target, label=None, steps=1, lr=1e-2):
    """A few AdamW steps on the MSE to ``target``; returns the losses before each step."""
    opt = torch.optim.AdamW(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(net(x, torch.full((x.shape[0],), 500.0), label), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("kind", ["unet", "dit"])
@pytest.mark.parametrize("channels,size,classes", [(1, 8, 0), (3, 8, 10), (3, 32, 0), (1, 32, 4)])
def test_shapes_and_dtype(kind, channels, size, classes):
    extra = {"attention_resolutions": [size // 2]} if kind == "unet" else {}
    net = tiny(kind, in_channels=channels, num_classes=classes, resolution=size, **extra)
    x = torch.randn(2, channels, size, size, dtype=torch.float64)
    label = torch.tensor([0, classes - 1]) if classes else None
    out = net.double()(x, torch.tensor([3.0, 700.0], dtype=torch.float64), label)
    assert out.shape == x.shape and out.dtype == torch.float64


@pytest.mark.parametrize("kind", ["unet", "dit"])
def test_out_channels_and_other_grid_sizes(kind):
    net = tiny(kind, in_channels=3, out_channels=6)
    assert net(torch.randn(1, 3, 16, 8), torch.tensor([1.0])).shape == (1, 6, 16, 8)


def test_unet_resample_with_resblocks_and_dropout():
    net = perturb(tiny("unet", resample_with_resblocks=True, dropout=0.1, channel_mult=[1, 2, 2]))
    assert not any(isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2) for m in net.modules())
    x = torch.randn(2, 1, 8, 8)
    assert net(x, torch.tensor([1.0, 2.0])).shape == (2, 1, 8, 8)
    net.eval()
    torch.testing.assert_close(net(x, torch.tensor([1.0, 2.0])), net(x, torch.tensor([1.0, 2.0])))


@pytest.mark.parametrize("kind", ["unet", "dit"])
def test_channels_last_gives_the_same_result(kind):
    net = perturb(tiny(kind, in_channels=3, num_classes=5))
    x, t, label = torch.randn(2, 3, 8, 8), torch.tensor([10.0, 900.0]), torch.tensor([1, 4])
    expected = net(x, t, label)
    net_cl = net.to(memory_format=torch.channels_last)
    torch.testing.assert_close(net_cl(x.to(memory_format=torch.channels_last), t, label), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["unet", "dit"])
def test_bf16_autocast_runs_and_stays_close(kind):
    net = perturb(tiny(kind, in_channels=3, num_classes=5))
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([10.0, 900.0])
    expected = net(x, t, torch.tensor([0, 1]))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x, t, torch.tensor([0, 1]))
    assert out.dtype == torch.float32
    assert (out - expected).abs().max() < 0.05 * expected.abs().max()


@pytest.mark.parametrize("kind", ["unet", "dit"])
def test_zero_output_at_init_then_one_step_learns(kind):
    net = tiny(kind, in_channels=3)
    x = torch.randn(4, 3, 8, 8)
    assert torch.equal(net(x, torch.rand(4) * 999), torch.zeros_like(x))
    target = torch.randn(4, 3, 8, 8)
    before = train(net, x, target, steps=1)[0]
    out = net(x, torch.full((4,), 500.0))
    assert out.abs().max() > 0
    assert torch.nn.functional.mse_loss(out, target).item() < before


@pytest.mark.parametrize("kind", ["unet", "dit"])
def test_null_class_and_labels_reach_the_output(kind):
    net = tiny(kind, num_classes=3)
    assert net.classes.num_embeddings == 4  # 3 classes + the null class
    x, t = torch.randn(6, 1, 8, 8), torch.full((6,), 500.0)
    torch.testing.assert_close(net(x, t), net(x, t, torch.full((6,), 3)), rtol=0, atol=0)
    label = torch.tensor([0, 1, 2, 0, 1, 2])
    target = label.float()[:, None, None, None].expand(6, 1, 8, 8) - 1  # -1, 0, 1 by class
    losses = train(net, x, target, label, steps=8, lr=3e-3)
    assert losses[-1] < losses[0]
    a, b, null = net(x, t, torch.zeros(6, dtype=torch.long)), net(x, t, torch.full((6,), 2)), net(x, t)
    assert (a - b).abs().mean() > 1e-3 and (a - null).abs().mean() > 1e-4


@pytest.mark.parametrize("kind", ["unet", "dit"])
def test_noise_label_matters(kind):
    net = perturb(tiny(kind))
    x = torch.randn(2, 1, 8, 8)
    assert not torch.allclose(net(x, torch.full((2,), 10.0)), net(x, torch.full((2,), 900.0)))
    torch.testing.assert_close(net(x, torch.tensor(7.0)), net(x, torch.full((2,), 7.0)))  # a scalar is broadcast


def test_dit_position_embedding_is_the_closed_form_and_not_in_the_weights():
    dim, rows, cols = 16, 3, 5
    pos = sincos_2d(dim, rows, cols)
    assert pos.shape == (rows * cols, dim)
    for r, c in [(0, 0), (1, 3), (2, 4)]:
        w = [10000 ** (-k / 4) for k in range(4)]
        expected = ([math.sin(c * f) for f in w] + [math.cos(c * f) for f in w]
                    + [math.sin(r * f) for f in w] + [math.cos(r * f) for f in w])
        torch.testing.assert_close(pos[r * cols + c], torch.tensor(expected))
    net = tiny("dit", resolution=16, patch_size=4, hidden=16)
    torch.testing.assert_close(net.pos, sincos_2d(16, 4, 4))
    state = net.state_dict()
    assert "pos" not in state
    other = tiny("dit", resolution=16, patch_size=4, hidden=16)
    other.load_state_dict(state, strict=True)


def test_dit_tokens_are_local_to_their_patch_before_attention():
    net = perturb(tiny("dit", depth=0, patch_size=2))  # no blocks: each output patch sees only its input patch
    x, t = torch.randn(1, 1, 8, 8), torch.tensor([5.0])
    changed = x.clone()
    changed[0, 0, 2, 5] += 1.0  # patch (row 1, col 2)
    diff = (net(changed, t) - net(x, t)).abs()[0, 0]
    moved = torch.nonzero(diff > 0)
    assert moved[:, 0].min() == 2 and moved[:, 0].max() == 3 and moved[:, 1].min() == 4 and moved[:, 1].max() == 5


def test_unet_parameter_count_matches_diffusers_ddpm_cifar10():
    diffusers = pytest.importorskip("diffusers")
    config = {"sample_size": 32, "in_channels": 3, "out_channels": 3, "block_out_channels": (128, 256, 256, 256),
              "layers_per_block": 2, "down_block_types": ("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
              "up_block_types": ("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D")}

    def count(module):
        return sum(p.numel() for p in module.parameters())

    with torch.device("meta"):  # counts only: no memory, no init
        ours = unet(in_channels=3, channels=128, channel_mult=(1, 2, 2, 2), num_res_blocks=2, attention_resolutions=(16,))
        plain = diffusers.UNet2DModel(**config)
        scale_shift = diffusers.UNet2DModel(**config, resnet_time_scale_shift="scale_shift")
    # ADM's scale-shift norm gives every residual block's embedding projection 2 * width outputs instead of
    # DDPM's width: 22 blocks, 2.56M parameters, 7% more than ddpm-cifar10-32 (35.7M).  Everything else is the
    # same, so the right comparison is diffusers in scale_shift mode, which also drops its middle attention's
    # GroupNorm (256 weights + 256 biases) that ADM and we keep.
    assert count(plain) == 35_746_307
    extra = sum((512 + 1) * m.norm2.num_channels for m in ours.modules() if isinstance(m, ResBlock))
    assert count(ours) == count(plain) + extra and abs(count(ours) / count(plain) - 1) < 0.075
    assert count(ours) == count(scale_shift) + 2 * 256


def test_dit_xl2_has_the_papers_parameter_count():
    with torch.device("meta"):
        net = dit(in_channels=4, out_channels=8, resolution=32, patch_size=2, hidden=1152, depth=28, heads=16,
                  num_classes=1000)
    count = sum(p.numel() for p in net.parameters()) + net.pos.numel()  # the reference stores pos as a frozen Parameter
    assert count == 675_129_632  # DiT-XL/2 (Peebles & Xie 2023, Table 1: 675M)


def test_bad_input_is_a_clear_value_error():
    net, cond = tiny("unet"), tiny("dit", num_classes=3)
    t = torch.zeros(2)
    with pytest.raises(ValueError, match=r"image/unet expects x of shape \(B, 1, H, W\), got \(2, 8, 8\)"):
        net(torch.randn(2, 8, 8), t)
    with pytest.raises(ValueError, match=r"image/unet expects x of shape \(B, 1, H, W\), got \(2, 3, 8, 8\)"):
        net(torch.randn(2, 3, 8, 8), t)
    with pytest.raises(ValueError, match=r"image/unet needs H and W divisible by 2, got x of shape \(2, 1, 8, 7\)"):
        net(torch.randn(2, 1, 8, 7), t)
    with pytest.raises(ValueError, match=r"image/dit needs H and W divisible by 2, got x of shape \(2, 1, 6, 9\)"):
        cond(torch.randn(2, 1, 6, 9), t)
    with pytest.raises(ValueError, match=r"noise_label must have shape \(2,\) .* got \(3,\)"):
        net(torch.randn(2, 1, 8, 8), torch.zeros(3))
    with pytest.raises(ValueError, match="image/unet is unconditional"):
        net(torch.randn(2, 1, 8, 8), t, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\] \(3 is the null class\), got values in \[0, 4\]"):
        cond(torch.randn(2, 1, 8, 8), t, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\]"):
        cond(torch.randn(2, 1, 8, 8), t, torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match=r"label must be integer class indices of shape \(2,\)"):
        cond(torch.randn(2, 1, 8, 8), t, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="attention_resolutions \\[16\\] must be among"):
        unet(resolution=8, channel_mult=(1, 2), attention_resolutions=(16,))
    with pytest.raises(ValueError, match="divisible by heads"):
        dit(hidden=30, heads=4)


def test_registry_builds_from_yaml_style_params_and_refuses_unknown_ones():
    net = build_network("image/unet", {**TINY_UNET, "channel_mult": [1, 2], "attention_resolutions": [4]})
    assert net(torch.randn(1, 1, 8, 8), torch.zeros(1)).shape == (1, 1, 8, 8)
    assert build_network("image/dit", TINY_DIT)(torch.randn(1, 1, 8, 8), torch.zeros(1)).shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['chanels'\]"):
        build_network("image/unet", {"chanels": 8})
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['width'\]"):
        build_network("image/dit", {"width": 8})
