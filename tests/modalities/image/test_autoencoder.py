import pytest
import torch
from torch.distributions import Normal, kl_divergence

from modalities.image.autoencoder import Autoencoder, vae
from zoo.architectures import build_network


@pytest.mark.parametrize("params, image, latent", [
    ({"in_channels": 1, "resolution": 32, "channel_mult": [1, 2, 2]}, (1, 32, 32), (4, 8, 8)),
    ({"in_channels": 3, "resolution": 8, "channels": 16, "channel_mult": (1, 2), "latent_channels": 3},
     (3, 8, 8), (3, 4, 4)),
    ({"in_channels": 3, "resolution": 32, "channels": 8, "channel_mult": [1, 1, 2], "num_res_blocks": 2},
     (3, 32, 32), (4, 8, 8)),
])
def test_shapes(params, image, latent):
    net = build_network("image/vae", params)
    assert isinstance(net, Autoencoder) and net.latent_shape == latent
    mean, logvar = net.encode(torch.randn(2, *image))
    assert mean.shape == logvar.shape == (2, *latent)
    assert net.decode(mean).shape == (2, *image)
    assert net(torch.randn(2, *image), torch.randn(2, *latent)).shape == (2,)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(5, 3, 4, 4, generator=g) * 2, torch.randn(5, 3, 4, 4, generator=g) * 3
    expected = kl_divergence(Normal(mean, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).flatten(1).sum(1)
    torch.testing.assert_close(Autoencoder.kl(mean, logvar), expected)
    assert torch.all(Autoencoder.kl(torch.zeros(2, 4), torch.zeros(2, 4)) == 0)


@pytest.mark.parametrize("reconstruction", ["l1", "l2"])
def test_forward_is_the_reconstruction_error_at_zero_noise(reconstruction):
    torch.manual_seed(0)
    net = vae(in_channels=3, resolution=8, channels=8, channel_mult=(1, 2), kl_weight=0.0,
              reconstruction=reconstruction)
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    error = net.decode(net.encode(x)[0]) - x
    expected = (error.abs() if reconstruction == "l1" else error.square()).mean(dim=(1, 2, 3))
    torch.testing.assert_close(net(x, torch.zeros(4, *net.latent_shape)), expected)
    # with a KL weight the loss grows by exactly kl_weight * KL / (pixel dims)
    net.kl_weight = 0.5
    mean, logvar = net.encode(x)
    torch.testing.assert_close(net(x, torch.zeros(4, *net.latent_shape)),
                               expected + 0.5 * Autoencoder.kl(mean, logvar) / (3 * 8 * 8))


def test_noise_matters_and_bfloat16_autocast():
    torch.manual_seed(0)
    net = vae(resolution=8, channels=8, channel_mult=(1, 2))
    x, noise = torch.rand(3, 1, 8, 8) * 2 - 1, torch.randn(3, *net.latent_shape)
    assert not torch.allclose(net(x, noise), net(x, torch.zeros_like(noise)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = net(x, noise)
    assert loss.dtype == torch.float32 and loss.shape == (3,) and torch.isfinite(loss).all()
    loss.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def blobs(n: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """n images (n, 1, side, side) in [-1, 1]: one Gaussian blob each, random centre, width and brightness."""
    centre = torch.rand(n, 2, 1, 1, generator=generator) * side
    width = 1.0 + 1.5 * torch.rand(n, 1, 1, generator=generator)
    brightness = 0.5 + 0.5 * torch.rand(n, 1, 1, generator=generator)
    grid = torch.arange(side, dtype=torch.float32) + 0.5
    d2 = (grid.view(1, side, 1) - centre[:, 0]) ** 2 + (grid.view(1, 1, side) - centre[:, 1]) ** 2
    return (2 * brightness * torch.exp(-d2 / (2 * width ** 2)) - 1).unsqueeze(1)


@pytest.mark.slow
def test_training_reduces_reconstruction_error_below_the_mean_image():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = blobs(32, 8, g)
    net = vae(resolution=8, channels=8, channel_mult=(1, 2), latent_channels=2)  # 64 pixels -> 32 latents
    noise = [torch.randn(32, *net.latent_shape, generator=g) for _ in range(300)]

    def l1():
        with torch.no_grad():
            return (net.decode(net.encode(x)[0]) - x).abs().mean().item()

    baseline = (x.mean(0, keepdim=True) - x).abs().mean().item()  # predict the mean image: about 0.33
    initial = l1()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: threads only spin against other work on a busy machine
    try:
        for eps in noise:
            opt.zero_grad()
            net(x, eps).mean().backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    final = l1()  # about 0.02
    assert final < 0.1 * initial and final < 0.25 * baseline, (initial, baseline, final)


def test_bad_input():
    net = vae(in_channels=3, resolution=8, channels=8, channel_mult=(1, 2))
    with pytest.raises(ValueError, match=r"x of shape \(B, 3, 8, 8\), got \(3, 8, 8\)"):
        net.encode(torch.randn(3, 8, 8))
    with pytest.raises(ValueError, match=r"x of shape \(B, 3, 8, 8\), got \(2, 1, 8, 8\)"):
        net(torch.randn(2, 1, 8, 8), torch.randn(2, 4, 4, 4))
    with pytest.raises(ValueError, match=r"x of shape \(B, 3, 8, 8\), got \(2, 3, 16, 16\)"):
        net.encode(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"noise of shape \(2, 4, 4, 4\).*got \(2, 4, 8, 8\)"):
        net(torch.randn(2, 3, 8, 8), torch.randn(2, 4, 8, 8))
    with pytest.raises(ValueError, match=r"z of shape \(B, 4, 4, 4\), got \(2, 3, 4, 4\)"):
        net.decode(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="resolution 10 must be divisible by .* = 4"):
        vae(resolution=10)
    with pytest.raises(ValueError, match="reconstruction must be 'l1' or 'l2', got 'huber'"):
        vae(reconstruction="huber")
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['bogus'\]"):
        build_network("image/vae", {"bogus": 1})
