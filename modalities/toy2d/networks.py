"""The 2-D denoiser: a residual MLP conditioned on the noise label (and optionally a class)."""
from __future__ import annotations

import torch
from torch import nn

from zoo.nn import NoiseLabelEmbedding
from zoo.architectures import register


class ResidualBlock(nn.Module):
    """h + W2 silu(W1 silu(norm(h)) + emb): (B, hidden) -> (B, hidden)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1, self.fc2 = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.emb = nn.Linear(hidden, hidden)

    def forward(self, h, emb):
        return h + self.fc2(nn.functional.silu(self.fc1(nn.functional.silu(self.norm(h))) + self.emb(emb)))


class MLPDenoiser(nn.Module):
    """x (B, dim), noise_label (B,), label (B,) int or None -> (B, dim).

    With ``num_classes`` > 0 the class embedding table has one extra row, index
    ``num_classes``, the null class used for classifier-free guidance.  With ``fourier`` > 0 the
    input also gets sin/cos of ``fourier`` fixed random projections of x (scale
    ``fourier_scale``), which lets an MLP draw sharp edges (Tancik et al. 2020).
    """

    def __init__(self, dim: int = 2, hidden: int = 256, depth: int = 4, num_classes: int = 0, fourier: int = 0,
                 fourier_scale: float = 1.0):
        super().__init__()
        self.dim, self.num_classes = dim, num_classes
        self.time = NoiseLabelEmbedding(hidden)
        self.classes = nn.Embedding(num_classes + 1, hidden) if num_classes else None
        if fourier:  # fixed and seeded: the same for every instance, saved with the weights
            projection = torch.randn(dim, fourier, generator=torch.Generator().manual_seed(0)) * fourier_scale
            self.register_buffer("projection", projection)
        else:
            self.projection = None
        self.inp = nn.Linear(dim + 2 * fourier, hidden)
        self.blocks = nn.ModuleList(ResidualBlock(hidden) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, noise_label: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"toy2d/mlp expects x of shape (B, {self.dim}), got {tuple(x.shape)}")
        emb = self.time(noise_label)
        if self.classes is not None:
            if label is None:
                label = torch.full((x.shape[0],), self.num_classes, device=x.device)
            emb = emb + self.classes(label.long())
        features = x.to(self.inp.weight.dtype)
        if self.projection is not None:
            angles = 2 * torch.pi * features @ self.projection
            features = torch.cat([features, torch.sin(angles), torch.cos(angles)], dim=1)
        h = self.inp(features)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h).to(x.dtype)


@register("toy2d/mlp")
def mlp(dim: int = 2, hidden: int = 256, depth: int = 4, num_classes: int = 0, fourier: int = 0,
        fourier_scale: float = 1.0) -> MLPDenoiser:
    """Residual MLP denoiser for 2-D points (about 0.9M parameters at the defaults)."""
    return MLPDenoiser(dim, hidden, depth, num_classes, fourier, fourier_scale)
