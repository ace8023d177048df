"""ImageModel: the ZooModel of the image modality.

``sample(n, cond=labels, guidance=w)`` takes class labels as an integer tensor (n,) (or one int)
and returns images (n, C, H, W) in [-1, 1]: a pixel model's samples clamped to that range, a
latent model's samples decoded by its autoencoder.  A model trained with ``task: autoencoder``
(``image/vae``) samples by decoding standard-normal latents and adds ``reconstruct``.
"""
from __future__ import annotations

import torch

from zoo.core.samplers import SampleInfo
from zoo.model import ZooModel

__all__ = ["ImageModel"]


class ImageModel(ZooModel):
    @property
    def class_names(self) -> tuple[str, ...]:
        from .data import CLASSES

        return tuple(self.config.get("class_names") or CLASSES.get(self.config["data"]["name"], ())) \
            if self.num_classes else ()

    @property
    def is_autoencoder(self) -> bool:
        return self.config.get("task") == "autoencoder"

    @property
    def is_latent(self) -> bool:
        """A latent diffusion model (``image/latent``): it samples latents and decodes them."""
        return self.config["architecture"] == "image/latent" and not self.is_autoencoder

    @property
    def image_shape(self) -> tuple:
        """(C, H, W) of the images this model makes (for a latent model not its sample_shape)."""
        if self.is_latent:
            vae = self.network.autoencoder
            return (vae.in_channels, vae.resolution, vae.resolution)
        return self.sample_shape

    @torch.no_grad()
    def sample(self, n: int = 16, *, cond=None, guidance: float | None = None, generator: torch.Generator | None = None,
               return_info: bool = False, **options):
        """n images (n, C, H, W) in [-1, 1]; ``cond``: class labels (n,) or one int, ``guidance``:
        classifier-free guidance scale (default: the model's); ``options`` as for ``ZooModel.sample``."""
        if self.is_autoencoder:
            if cond is not None or guidance is not None:
                raise ValueError(f"{self.name} is an autoencoder: it samples from its prior, without labels or guidance")
            param = next(self.network.parameters())
            z = torch.randn((n, *self.network.latent_shape), generator=generator).to(param.device, param.dtype)
            images = self.network.decode(z).clamp(-1, 1)
            info = SampleInfo(sampler="decoder", nfe=1, ts=torch.tensor([1.0, 0.0]), options={})
            return (images, info) if return_info else images
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        labels = self.labels(cond, n)
        if labels is not None:
            labels = labels.to(next(self.network.parameters()).device)
        out = super().sample(n, cond=None if labels is None else {"label": labels}, guidance=guidance,
                             generator=generator, return_info=return_info, **options)
        x, info = out if return_info else (out, None)
        images = (self.network.decode(x) if self.is_latent else x).clamp(-1, 1)
        return (images, info) if return_info else images

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """An autoencoder's reconstruction (B, C, H, W) of images (B, C, H, W) in [-1, 1] (from the latent mean)."""
        if not (self.is_latent or self.is_autoencoder):
            raise ValueError(f"{self.name} has no autoencoder to reconstruct with")
        network = self.network.autoencoder if self.is_latent else self.network
        return network.decode(network.encode(images)[0]).clamp(-1, 1)
