"""``image/latent``: a denoiser of autoencoder latents that carries its (frozen) autoencoder.

Latent diffusion (Rombach et al. 2022) in one network, so that one ``model.safetensors`` holds
everything a sample needs: ``backbone`` (an ``image/unet`` or ``image/dit`` over latents of shape
(latent_channels, H/f, W/f)) and ``autoencoder`` (an ``image/vae``) with the ``latent_scale``
that maps its latents to unit variance.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.architectures import build_network, register

BACKBONES = ("image/unet", "image/dit")


class LatentDenoiser(nn.Module):
    """forward(z: (B, latent_channels, h, w), noise_label (B,), label (B,) | None) -> like z;
    ``decode(z) -> (B, C, H, W)`` images, ``encode(x) -> (B, latent_channels, h, w)`` scaled latent means."""

    def __init__(self, backbone: nn.Module, autoencoder: nn.Module):
        super().__init__()
        self.backbone, self.autoencoder = backbone, autoencoder.requires_grad_(False)
        self.register_buffer("latent_scale", torch.ones(()))

    def forward(self, z: torch.Tensor, noise_label: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return self.backbone(z, noise_label, label)

    def set_autoencoder(self, state: dict, latent_scale: float) -> None:
        """Load the trained autoencoder's weights and the latent scale (done once, before training)."""
        self.autoencoder.load_state_dict(state)
        self.latent_scale.fill_(latent_scale)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.decode(z / self.latent_scale)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.encode(x)[0] * self.latent_scale


@register("image/latent")
def latent(backbone: str = "image/dit", backbone_params: dict | None = None,
           autoencoder: dict | None = None) -> LatentDenoiser:
    """A latent-diffusion network: ``backbone`` with ``backbone_params`` over the latents of an
    ``image/vae`` with parameters ``autoencoder``."""
    if backbone not in BACKBONES:
        raise ValueError(f"image/latent backbone must be one of {BACKBONES}, got {backbone!r}")
    return LatentDenoiser(build_network(backbone, dict(backbone_params or {})),
                          build_network("image/vae", dict(autoencoder or {})))
