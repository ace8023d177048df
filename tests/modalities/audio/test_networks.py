import pytest
import torch

from modalities.audio.networks import diffwave


def test_base_size_is_the_papers():
    assert 2.55e6 < sum(p.numel() for p in diffwave().parameters()) < 2.7e6


def test_cached_conditioner_gives_the_same_output_as_the_mel():
    torch.manual_seed(0)
    net = diffwave(layers=4, channels=8, dilation_cycle=2)
    for p in net.output.parameters():  # the zero-initialised output would hide any difference
        torch.nn.init.normal_(p)
    mel, x, label = torch.randn(2, 80, 8), torch.randn(2, 8 * 256), torch.tensor([3.0, 17.5])
    torch.testing.assert_close(net(x, label, mel=mel), net(x, label, conditioner=net.condition(mel)))
    assert net.condition(mel).shape == (2, 4 * 2 * 8, 8 * 256)


def test_receptive_field_is_local_and_the_mel_frames_map_to_their_samples():
    torch.manual_seed(0)
    net = diffwave(layers=4, channels=8, dilation_cycle=2)
    torch.nn.init.normal_(net.output.weight)
    mel, x = torch.randn(1, 80, 16), torch.randn(1, 16 * 256)
    base = net(x, torch.tensor([5.0]), mel=mel)
    changed = mel.clone()
    changed[..., 12] += 1.0  # frame 12 covers samples [3072, 3328), blurred by the upsampler's kernels
    diff = (net(x, torch.tensor([5.0]), mel=changed) - base).abs()[0]
    moved = torch.nonzero(diff > 1e-6).flatten()
    assert moved.min() > 10 * 256 and moved.max() < 14 * 256 + 32


def test_unconditional_and_bad_inputs():
    net = diffwave(layers=2, channels=4, dilation_cycle=2, unconditional=True)
    assert net(torch.randn(3, 1000), torch.tensor([1.0, 2.0, 3.0])).shape == (3, 1000)
    with pytest.raises(ValueError, match="unconditional"):
        net.condition(torch.randn(1, 80, 2))
    cond = diffwave(layers=2, channels=4, dilation_cycle=2)
    with pytest.raises(ValueError, match="needs mel="):
        cond(torch.randn(1, 512), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="covers 512 samples but x has 500"):
        cond(torch.randn(1, 500), torch.tensor([1.0]), mel=torch.randn(1, 80, 2))
    with pytest.raises(ValueError, match="must multiply to the hop"):
        diffwave(upsample=[16, 8])
