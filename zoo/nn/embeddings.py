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


def time_and_class(time: NoiseLabelEmbedding, classes: nn.Embedding | None, noise_label, label, x: torch.Tensor,
                   arch: str) -> torch.Tensor:
    """The conditioning vector c (B, dim) = time(noise_label) + classes[label] of a network given x (B, ...).

    noise_label: (B,) or a scalar (broadcast); label: (B,) integer class indices, or None for the null
    class (row ``num_classes`` of the table, classifier-free guidance); ``classes`` None: unconditional.
    Bad shapes, dtypes or values are ValueErrors naming ``arch``."""
    b = x.shape[0]
    noise_label = torch.as_tensor(noise_label, device=x.device)
    if noise_label.ndim == 0:
        noise_label = noise_label.expand(b)
    if noise_label.shape != (b,):
        raise ValueError(f"noise_label must have shape ({b},) for x of shape {tuple(x.shape)}, "
                         f"got {tuple(noise_label.shape)}")
    c = time(noise_label)
    if classes is None:
        if label is not None:
            raise ValueError(f"{arch} is unconditional (num_classes=0) but got a label")
        return c
    null = classes.num_embeddings - 1
    if label is None:
        return c + classes.weight[null]
    label = torch.as_tensor(label, device=x.device)
    if label.shape != (b,) or label.is_floating_point() or label.is_complex() or label.dtype == torch.bool:
        raise ValueError(f"label must be integer class indices of shape ({b},) for x of shape {tuple(x.shape)}, "
                         f"got {label.dtype} of shape {tuple(label.shape)}")
    if not torch.compiler.is_compiling() and (label.min() < 0 or label.max() > null):  # (a sync: eager only)
        raise ValueError(f"labels must lie in [0, {null}] ({null} is the null class), "
                         f"got values in [{label.min().item()}, {label.max().item()}]")
    return c + classes(label.long())
