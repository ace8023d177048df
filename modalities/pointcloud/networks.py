"""The point-cloud denoiser: a transformer over points without positional encoding.

As in Point-E (Nichol et al. 2022), every point is a token (its coordinates through a linear
layer) and self-attention lets each point see the whole cloud; nothing tells the network where a
token sits in the list, so permuting the input points permutes the output the same way
(permutation equivariance, tested).  Time and class condition every block through adaLN-Zero (the
DiT block shared with the image modality, ``zoo.nn.AdaLNZeroBlock``) rather than as extra tokens:
the block and its zero initialisation are shared, and a fresh network outputs exactly zero.
The class table has ``num_classes + 1`` rows; row ``num_classes`` is the null class of
classifier-free guidance (``label=None``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.architectures import register
from zoo.nn import AdaLNZeroBlock, NoiseLabelEmbedding, modulate, time_and_class

__all__ = ["PointTransformer", "point_transformer"]


class PointTransformer(nn.Module):
    """x (B, N, 3), noise_label (B,) or (), label (B,) ints or None -> (B, N, 3)."""

    def __init__(self, hidden: int = 256, depth: int = 8, heads: int = 4, mlp_ratio: float = 4.0, num_classes: int = 0):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.num_classes = num_classes
        self.time = NoiseLabelEmbedding(hidden, 256)
        self.classes = nn.Embedding(num_classes + 1, hidden) if num_classes else None
        self.embed = nn.Linear(3, hidden)
        self.blocks = nn.ModuleList(AdaLNZeroBlock(hidden, heads, mlp_ratio) for _ in range(depth))
        self.final_norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Linear(hidden, 2 * hidden)
        self.final = nn.Linear(hidden, 3)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        for layer in (self.time.mlp[0], self.time.mlp[2], self.classes):
            if layer is not None:
                nn.init.normal_(layer.weight, std=0.02)
        for layer in [b.modulation for b in self.blocks] + [self.final_modulation, self.final]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def _condition(self, x: torch.Tensor, noise_label, label) -> torch.Tensor:
        """Check the inputs; the conditioning vector c (B, hidden)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"pointcloud/transformer expects clouds x of shape (B, N, 3), got {tuple(getattr(x, 'shape', ()))}")
        return time_and_class(self.time, self.classes, noise_label, label, x, "pointcloud/transformer")

    def forward(self, x: torch.Tensor, noise_label: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        c = self._condition(x, noise_label, label)
        h = self.embed(x.to(self.embed.weight.dtype))
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.final_modulation(F.silu(c))[:, None].chunk(2, dim=2)
        return self.final(modulate(self.final_norm(h), shift, scale)).to(x.dtype)


@register("pointcloud/transformer")
def point_transformer(hidden: int = 256, depth: int = 8, heads: int = 4, mlp_ratio: float = 4.0,
                      num_classes: int = 0) -> PointTransformer:
    """Point-E-style transformer over points, adaLN-Zero conditioning (6.5M parameters at the defaults)."""
    return PointTransformer(hidden, depth, heads, mlp_ratio, num_classes)
