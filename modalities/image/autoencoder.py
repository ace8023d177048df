"""The KL-regularised autoencoder of latent diffusion (Rombach et al. 2022, the KL-f4/f8 models).

An encoder maps an image (B, C, H, W) in [-1, 1] to a diagonal Gaussian q(z|x) over latents
(B, latent_channels, H/f, W/f) with f = 2 ** (len(channel_mult) - 1); a mirrored decoder maps a
latent back to pixels.  Training minimises a reconstruction error plus a small KL term towards
N(0, I) (Kingma & Welling 2014), which keeps the latent scale tame for the diffusion model that
is trained on it afterwards.  No attention: at these sizes convolutions suffice.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from zoo.architectures import register


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with at most 8 groups, a group count that divides ``channels``."""
    return nn.GroupNorm(math.gcd(channels, 8), channels)


class ResBlock(nn.Module):
    """x + conv(silu(norm(conv(silu(norm(x)))))): (B, c_in, H, W) -> (B, c_out, H, W)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x):
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        return self.skip(x) + self.conv2(nn.functional.silu(self.norm2(h)))


class Upsample(nn.Module):
    """Nearest-neighbour x2 then a 3x3 conv: (B, c, H, W) -> (B, c, 2H, 2W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))


class Autoencoder(nn.Module):
    """Image (B, C, R, R) <-> latent (B, latent_channels, R/f, R/f), f = 2 ** (len(channel_mult) - 1).

    ``forward(x, noise)`` is the per-example training loss (B,): the reconstruction error of
    decode(mean + exp(logvar / 2) * noise), averaged over pixels ("l1" absolute or "l2" squared),
    plus ``kl_weight`` times KL(q(z|x) || N(0, I)) in nats divided by the number of pixel dims
    C * R * R, so ``kl_weight`` is a weight per pixel dim, like the reconstruction term.
    """

    def __init__(self, in_channels: int = 1, resolution: int = 32, channels: int = 32,
                 channel_mult=(1, 2, 2), latent_channels: int = 4, num_res_blocks: int = 1,
                 kl_weight: float = 1e-4, reconstruction: str = "l1"):
        super().__init__()
        channel_mult = tuple(int(m) for m in channel_mult)
        if not channel_mult:
            raise ValueError("channel_mult must name at least one level, got ()")
        self.factor = 2 ** (len(channel_mult) - 1)
        if resolution % self.factor:
            raise ValueError(f"resolution {resolution} must be divisible by 2 ** (len(channel_mult) - 1) "
                             f"= {self.factor}, channel_mult={channel_mult}")
        if reconstruction not in ("l1", "l2"):
            raise ValueError(f"reconstruction must be 'l1' or 'l2', got {reconstruction!r}")
        if kl_weight < 0:
            raise ValueError(f"kl_weight must be >= 0, got {kl_weight}")
        self.in_channels, self.resolution, self.latent_channels = in_channels, resolution, latent_channels
        self.kl_weight, self.reconstruction = float(kl_weight), reconstruction
        widths = [channels * m for m in channel_mult]

        encoder, c = [nn.Conv2d(in_channels, channels, 3, padding=1)], channels
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                encoder.append(ResBlock(c, width))
                c = width
            if level < len(widths) - 1:
                encoder.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        encoder += [ResBlock(c, c), _norm(c), nn.SiLU(), nn.Conv2d(c, 2 * latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*encoder)

        decoder = [nn.Conv2d(latent_channels, c, 3, padding=1), ResBlock(c, c)]
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(num_res_blocks):
                decoder.append(ResBlock(c, width))
                c = width
            if level > 0:
                decoder.append(Upsample(c))
        decoder += [_norm(c), nn.SiLU(), nn.Conv2d(c, in_channels, 3, padding=1)]
        self.decoder = nn.Sequential(*decoder)

    @property
    def latent_shape(self) -> tuple:
        """(latent_channels, R/f, R/f)."""
        side = self.resolution // self.factor
        return (self.latent_channels, side, side)

    def _check(self, what: str, t: torch.Tensor, shape: tuple) -> None:
        if t.ndim != 4 or tuple(t.shape[1:]) != shape:
            raise ValueError(f"image/vae expects {what} of shape (B, {', '.join(map(str, shape))}), "
                             f"got {tuple(t.shape)}")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, R, R) -> (mean, logvar), each (B, latent_channels, R/f, R/f); logvar in [-30, 20]."""
        self._check("x", x, (self.in_channels, self.resolution, self.resolution))
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_channels, R/f, R/f) -> (B, C, R, R), unbounded (the data lives in [-1, 1])."""
        self._check("z", z, self.latent_shape)
        return self.decoder(z)

    @staticmethod
    def kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(N(mean, exp(logvar)) || N(0, I)) in nats, summed over latent dims: (B, ...) -> (B,)."""
        return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x (B, C, R, R), noise (B, *latent_shape) standard normal -> per-example loss (B,), float32."""
        self._check("x", x, (self.in_channels, self.resolution, self.resolution))
        if tuple(noise.shape) != (x.shape[0], *self.latent_shape):
            raise ValueError(f"image/vae expects noise of shape {(x.shape[0], *self.latent_shape)} "
                             f"(B, *latent_shape), got {tuple(noise.shape)}")
        mean, logvar = self.encode(x)
        mean, logvar = mean.float(), logvar.float()
        z = mean + torch.exp(0.5 * logvar) * noise.float()
        error = self.decode(z).float() - x.float()
        error = error.abs() if self.reconstruction == "l1" else error.square()
        pixels = x[0].numel()
        return error.flatten(1).mean(1) + self.kl_weight * self.kl(mean, logvar) / pixels


@register("image/vae")
def vae(in_channels: int = 1, resolution: int = 32, channels: int = 32, channel_mult=(1, 2, 2),
        latent_channels: int = 4, num_res_blocks: int = 1, kl_weight: float = 1e-4,
        reconstruction: str = "l1") -> Autoencoder:
    """KL autoencoder; the defaults map 32x32x1 images to 8x8x4 latents (f = 4, about 0.6M parameters)."""
    return Autoencoder(in_channels, resolution, channels, channel_mult, latent_channels, num_res_blocks,
                       kl_weight, reconstruction)
