"""Embeddings of the noise label a network is conditioned on."""
from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal(label: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features (Vaswani et al. 2017; Ho et al. 2020) of labels (B,) -> (B, dim).

    Frequencies run geometrically from 1 down to ``1 / max_period``, so integer table steps
    (0..999) and log-sigma labels (about -3..3) both get resolved features.
    """
    if dim % 2:
        raise ValueError(f"embedding dimension must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=label.device, dtype=torch.float32) / half)
    angles = label.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class NoiseLabelEmbedding(nn.Module):
    """Sinusoidal features followed by a two-layer MLP: labels (B,) -> (B, dim)."""

    def __init__(self, dim: int, features: int | None = None):
        super().__init__()
        self.features = features or dim
        self.mlp = nn.Sequential(nn.Linear(self.features, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, label: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal(label, self.features).to(self.mlp[0].weight.dtype))
