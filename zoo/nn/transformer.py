"""Transformer pieces shared by token backbones (the image DiT, the point-cloud transformer).

``AdaLNZeroBlock`` is DiT's block (Peebles & Xie 2023): pre-norm self-attention and MLP whose
norms are shifted and scaled, and whose residual branches are gated, by a conditioning vector;
the modulation starts at zero so a fresh block is the identity.  It adds no positions: a stack of
these blocks is permutation-equivariant over the tokens.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AdaLNZeroBlock", "attention", "modulate"]


def attention(qkv: torch.Tensor, heads: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-head self-attention: qkv (B, T, 3 * D), packed [q | k | v] -> (B, T, D).

    mask: optional (B, T), True (or 1) for real tokens: padding is never attended to (each row needs
    at least one real token)."""
    b, t, d3 = qkv.shape
    q, k, v = qkv.reshape(b, t, 3, heads, d3 // (3 * heads)).permute(2, 0, 3, 1, 4)  # each (B, heads, T, d)
    keep = None if mask is None else mask.bool()[:, None, None, :]  # (B, 1, 1, T): which keys to attend to
    return F.scaled_dot_product_attention(q, k, v, attn_mask=keep).transpose(1, 2).reshape(b, t, d3 // 3)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class AdaLNZeroBlock(nn.Module):
    """adaLN-Zero transformer block: tokens (B, T, D), c (B, D) -> (B, T, D).

    ``modulation`` must be zeroed by the owner after its own initialisation (DiT zeroes it after
    the xavier init of every linear layer)."""

    def __init__(self, hidden: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads, width = heads, int(hidden * mlp_ratio)
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.qkv, self.proj = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(hidden, width), nn.GELU(approximate="tanh"), nn.Linear(width, hidden))
        self.modulation = nn.Linear(hidden, 6 * hidden)

    def forward(self, x: torch.Tensor, c: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D), c (B, D), mask (B, T) of real tokens or None -> (B, T, D)."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(F.silu(c))[:, None].chunk(6, dim=2)
        x = x + gate1 * self.proj(attention(self.qkv(modulate(self.norm1(x), shift1, scale1)), self.heads, mask))
        return x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))
