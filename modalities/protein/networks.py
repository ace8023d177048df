"""The backbone denoiser: a transformer over residues, trained with random rotations.

Each residue is a token made through a linear layer from its four backbone atoms (N, CA, C, O: 12
coordinates), the same atoms relative to its CA (9), and the differences to the previous and the
next residue's atoms (12 + 12, zero at the chain ends and next to padding), so that bond vectors
are inputs rather than something attention must learn to subtract; plus a sinusoidal embedding of
its index along the chain (order matters in a chain, unlike in a point cloud).  Padding residues
(``mask`` 0) are never attended to and get a zero output.  Time conditions every block through
adaLN-Zero (``zoo.nn.AdaLNZeroBlock``, shared with the image DiT and the point transformer).

The network is not rotation-equivariant by construction: rotations are handled by training on
randomly rotated chains (augmentation), and ``equivariance_error`` measures how far the trained
network is from ``f(R x) = R f(x)``, the number to report beside its samples.

``representation="internal"``: the same transformer over a chain's internal coordinates x (B, L, 6)
(torsions phi, psi, omega and bond angles N-CA-C, CA-C-N, C-N-CA in radians, read modulo 2 pi): each
residue's token is made from the sines and cosines of its own and its two neighbours' six angles
(36 features, zero beyond the chain ends), and it predicts the noise of its six angles.  Internal
coordinates do not change when the chain turns, so this network is invariant by construction.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.architectures import register
from zoo.nn import AdaLNZeroBlock, NoiseLabelEmbedding, modulate, sinusoidal, time_and_class

__all__ = ["BackboneTransformer", "backbone_transformer", "equivariance_error", "residue_features", "internal_features",
           "REPRESENTATIONS"]

ATOMS = 4  # N, CA, C, O
FEATURES = 3 * ATOMS + 9 + 2 * 3 * ATOMS  # atoms, atoms relative to CA, differences to both neighbours
INTERNAL = 6  # phi, psi, omega, N-CA-C, CA-C-N, C-N-CA
REPRESENTATIONS = {"atoms": (ATOMS, 3), "internal": (INTERNAL,)}  # one residue's shape in each


def residue_features(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Token features (B, L, FEATURES) of backbones x (B, L, 4, 3) (module docstring)."""
    b, length = x.shape[:2]
    real = torch.ones(b, length, dtype=torch.bool, device=x.device) if mask is None else mask.bool()
    flat = x.flatten(2)
    own = (x[:, :, [0, 2, 3]] - x[:, :, 1:2]).flatten(2)
    pad = torch.zeros_like(flat[:, :1])
    has_next = torch.cat([real[:, 1:] & real[:, :-1], torch.zeros_like(real[:, :1])], 1)
    has_previous = torch.cat([torch.zeros_like(real[:, :1]), real[:, 1:] & real[:, :-1]], 1)
    to_next = torch.cat([flat[:, 1:] - flat[:, :-1], pad], 1) * has_next[..., None]
    to_previous = torch.cat([pad, flat[:, :-1] - flat[:, 1:]], 1) * has_previous[..., None]
    return torch.cat([flat, own, to_next, to_previous], 2)


def internal_features(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Token features (B, L, 36) of internal coordinates x (B, L, 6): sin and cos of a residue's own
    angles and of its neighbours' (zero past the ends and next to padding)."""
    real = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask.bool()
    own = torch.cat([torch.sin(x), torch.cos(x)], 2) * real[..., None]
    pad = torch.zeros_like(own[:, :1])
    return torch.cat([own, torch.cat([pad, own[:, :-1]], 1), torch.cat([own[:, 1:], pad], 1)], 2)


class BackboneTransformer(nn.Module):
    """x (B, L, 4, 3) in Angstrom (as scaled by the denoiser's preconditioning), or (B, L, 6) internal
    coordinates in radians with ``representation="internal"``; noise_label (B,) or (); mask (B, L) of real residues
    or None -> x's shape, zero at padding."""

    def __init__(self, hidden: int = 256, depth: int = 8, heads: int = 8, mlp_ratio: float = 4.0,
                 representation: str = "atoms"):
        super().__init__()
        if hidden % heads or hidden % 2:
            raise ValueError(f"hidden ({hidden}) must be even and divisible by heads ({heads})")
        if representation not in REPRESENTATIONS:
            raise ValueError(f"unknown representation {representation!r}; choose one of {sorted(REPRESENTATIONS)}")
        self.hidden, self.representation = hidden, representation
        self.residue_shape = REPRESENTATIONS[representation]
        self.time = NoiseLabelEmbedding(hidden, 256)
        self.embed = nn.Linear(FEATURES if representation == "atoms" else 6 * INTERNAL, hidden)
        self.blocks = nn.ModuleList(AdaLNZeroBlock(hidden, heads, mlp_ratio) for _ in range(depth))
        self.final_norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Linear(hidden, 2 * hidden)
        self.final = nn.Linear(hidden, math.prod(self.residue_shape))
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        for layer in (self.time.mlp[0], self.time.mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        for layer in [b.modulation for b in self.blocks] + [self.final_modulation, self.final]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, noise_label: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 2 + len(self.residue_shape) or \
                tuple(x.shape[2:]) != self.residue_shape:
            shape = ", ".join(map(str, self.residue_shape))
            raise ValueError(f"protein/transformer ({self.representation}) expects x of shape (B, L, {shape}), "
                             f"got {tuple(getattr(x, 'shape', ()))}")
        b, length = x.shape[:2]
        if mask is not None and tuple(mask.shape) != (b, length):
            raise ValueError(f"mask must have shape ({b}, {length}) for x of shape {tuple(x.shape)}, "
                             f"got {tuple(mask.shape)}")
        c = time_and_class(self.time, None, noise_label, None, x, "protein/transformer")
        position = sinusoidal(torch.arange(length, device=x.device), self.hidden)
        features = residue_features(x, mask) if self.representation == "atoms" else internal_features(x, mask)
        h = self.embed(features.to(self.embed.weight.dtype)) + position.to(self.embed.weight.dtype)
        for block in self.blocks:
            h = block(h, c, mask)
        shift, scale = self.final_modulation(F.silu(c))[:, None].chunk(2, dim=2)
        out = self.final(modulate(self.final_norm(h), shift, scale)).reshape(x.shape).to(x.dtype)
        return out if mask is None else out * mask.reshape(b, length, *([1] * len(self.residue_shape))).to(out.dtype)


@register("protein/transformer")
def backbone_transformer(hidden: int = 256, depth: int = 8, heads: int = 8, mlp_ratio: float = 4.0,
                         representation: str = "atoms") -> BackboneTransformer:
    """Transformer over residues with adaLN-Zero time conditioning, on atoms or internal coordinates."""
    return BackboneTransformer(hidden, depth, heads, mlp_ratio, representation)


@torch.no_grad()
def equivariance_error(network: nn.Module, x: torch.Tensor, noise_label: torch.Tensor, rotations: torch.Tensor,
                       mask: torch.Tensor | None = None) -> float:
    """Relative rotation-equivariance error of a network on backbones x (B, L, 4, 3) centred at the
    origin: mean over rotations R (K, 3, 3) of ||f(x R^T) - f(x) R^T|| / ||f(x)||.  0 for an
    equivariant network."""
    out = network(x, noise_label, mask)
    scale = out.norm().clamp(min=1e-12)
    errors = [(network(x @ r.T, noise_label, mask) - out @ r.T).norm() / scale for r in rotations.to(x)]
    return float(torch.stack(errors).mean())
