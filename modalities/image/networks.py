"""Image denoisers (B, C, H, W) -> (B, C_out, H, W): an ADM-style U-Net and a DiT.

U-Net (Ho et al. 2020; Dhariwal & Nichol 2021, "Diffusion Models Beat GANs"): residual blocks
whose second GroupNorm is scaled and shifted by the embedding ("use_scale_shift_norm"),
multi-head self-attention at chosen resolutions, skips concatenated across the U.
DiT (Peebles & Xie 2023): a transformer over patches; every block is modulated by the
conditioning vector through adaLN-Zero, the patch grid carries fixed 2-D sin-cos positions.

Both condition on the noise label and, with ``num_classes`` > 0, on a class: the embedding table
has ``num_classes + 1`` rows and row ``num_classes`` is the null class of classifier-free
guidance (``label=None``).  Every residual branch and the output layer start at zero, so a fresh
network outputs exactly zero.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.nn import AdaLNZeroBlock, NoiseLabelEmbedding, attention, modulate, time_and_class
from zoo.architectures import register

__all__ = ["DiT", "UNet", "dit", "sincos_2d", "unet"]


def norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups, or as many as divide ``channels`` (gcd) for narrow layers."""
    return nn.GroupNorm(math.gcd(32, channels), channels)


def zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class Conditioned(nn.Module):
    """What both backbones share: the input checks and the conditioning vector
    c = MLP(sinusoidal(noise_label)) + class_table[label] (label None -> the null class ``num_classes``)."""

    def __init__(self, name: str, in_channels: int, num_classes: int, emb_dim: int, features: int, multiple: int):
        super().__init__()
        self.arch, self.in_channels, self.num_classes, self.multiple = name, in_channels, num_classes, multiple
        self.time = NoiseLabelEmbedding(emb_dim, features)
        self.classes = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None

    def condition(self, x: torch.Tensor, noise_label, label=None) -> torch.Tensor:
        """Check x (B, C, H, W), noise_label (B,) or (), label (B,) ints or None; return c (B, emb_dim)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self.arch} expects x of shape (B, {self.in_channels}, H, W), "
                             f"got {tuple(getattr(x, 'shape', ()))}")
        height, width = x.shape[2:]
        if height % self.multiple or width % self.multiple:
            raise ValueError(f"{self.arch} needs H and W divisible by {self.multiple}, got x of shape {tuple(x.shape)}")
        return time_and_class(self.time, self.classes, noise_label, label, x, self.arch)


# ADM U-Net
# ------------------------------------------------------------------------------------------------

class ResBlock(nn.Module):
    """(B, cin, H, W), emb (B, E) -> (B, cout, H', W'): norm-SiLU-conv, norm * (1 + scale) + shift,
    SiLU-dropout-conv (zero-init), plus a 1x1 skip when the width changes.  ``resample`` "down" or
    "up" halves (average pooling) or doubles (nearest) H and W inside the block, as ADM's resblock_updown."""

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float = 0.0, resample: str | None = None):
        super().__init__()
        self.resample = resample
        self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2, self.dropout = norm(cout), nn.Dropout(dropout)
        self.conv2 = zero(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def _resample(self, x):
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        return F.interpolate(x, scale_factor=2.0, mode="nearest") if self.resample == "up" else x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(x))
        h, x = self.conv1(self._resample(h)), self._resample(x)
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.conv2(self.dropout(F.silu(self.norm2(h) * (1 + scale) + shift)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Residual multi-head self-attention over the pixels: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, head_channels: int):
        super().__init__()
        self.heads = max(1, channels // head_channels)
        if channels % self.heads:
            raise ValueError(f"attention over {channels} channels cannot be split into heads of {head_channels}")
        self.norm, self.qkv = norm(channels), nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor, emb=None) -> torch.Tensor:
        b, c, height, width = x.shape
        qkv = self.qkv(self.norm(x)).permute(0, 2, 3, 1).reshape(b, height * width, 3 * c)  # a view if channels_last
        h = attention(qkv, self.heads).reshape(b, height, width, c).permute(0, 3, 1, 2)
        return x + self.proj(h)


class Resample(nn.Module):
    """Halve H and W by a strided 3x3 conv, or double them by nearest upsampling and a 3x3 conv."""

    def __init__(self, channels: int, up: bool):
        super().__init__()
        self.up, self.conv = up, nn.Conv2d(channels, channels, 3, stride=1 if up else 2, padding=1)

    def forward(self, x: torch.Tensor, emb=None) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest") if self.up else x)


class UNet(Conditioned):
    """ADM U-Net: x (B, C, H, W), noise_label (B,), label (B,) or None -> (B, out_channels, H, W).

    Level i has width ``channels * channel_mult[i]`` and works at ``resolution / 2**i`` (H and W
    must be divisible by 2**(levels - 1)); attention sits at the levels whose resolution is in
    ``attention_resolutions`` and in the middle.  The embedding has 4 * ``channels`` features.
    """

    def __init__(self, in_channels=1, out_channels=None, resolution=32, channels=64, channel_mult=(1, 2, 2),
                 num_res_blocks=2, attention_resolutions=(16,), head_channels=32, dropout=0.0, num_classes=0,
                 resample_with_resblocks=False):
        mult, emb = tuple(channel_mult), 4 * channels
        levels = [resolution // 2**i for i in range(len(mult))]
        if not set(attention_resolutions) <= set(levels):
            raise ValueError(f"attention_resolutions {list(attention_resolutions)} must be among the levels' "
                             f"resolutions {levels} (resolution {resolution}, channel_mult {list(mult)})")
        super().__init__("image/unet", in_channels, num_classes, emb, channels, 2 ** (len(mult) - 1))
        self.out_channels = out_channels or in_channels

        def stage(cin, cout, res):
            layers = [ResBlock(cin, cout, emb, dropout)]
            return nn.ModuleList(layers + ([Attention(cout, head_channels)] if res in attention_resolutions else []))

        def resample(ch, up):
            return ResBlock(ch, ch, emb, dropout, "up" if up else "down") if resample_with_resblocks else Resample(ch, up)

        self.inp = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.down, self.up, skips, ch = nn.ModuleList(), nn.ModuleList(), [channels], channels
        for level, m in enumerate(mult):
            for _ in range(num_res_blocks):
                self.down.append(stage(ch, m * channels, levels[level]))
                ch = m * channels
                skips.append(ch)
            if level < len(mult) - 1:
                self.down.append(nn.ModuleList([resample(ch, up=False)]))
                skips.append(ch)
        self.middle = nn.ModuleList([ResBlock(ch, ch, emb, dropout), Attention(ch, head_channels),
                                     ResBlock(ch, ch, emb, dropout)])
        for level, m in reversed(list(enumerate(mult))):
            for i in range(num_res_blocks + 1):
                block = stage(ch + skips.pop(), m * channels, levels[level])
                ch = m * channels
                if level and i == num_res_blocks:
                    block.append(resample(ch, up=True))
                self.up.append(block)
        self.out = nn.Sequential(norm(ch), nn.SiLU(), zero(nn.Conv2d(ch, self.out_channels, 3, padding=1)))

    def forward(self, x: torch.Tensor, noise_label: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.condition(x, noise_label, label)
        h = self.inp(x.to(self.inp.weight.dtype))
        skips = [h]
        for block in self.down:
            for layer in block:
                h = layer(h, emb)
            skips.append(h)
        for layer in self.middle:
            h = layer(h, emb)
        for block in self.up:
            h = torch.cat([h, skips.pop()], dim=1)
            for layer in block:
                h = layer(h, emb)
        return self.out(h).to(x.dtype)


# DiT
# ------------------------------------------------------------------------------------------------

def sincos_2d(dim: int, rows: int, cols: int) -> torch.Tensor:
    """Fixed 2-D position embedding of a rows x cols grid in raster order: (rows * cols, dim).

    Token (r, c) gets [sin(c w), cos(c w), sin(r w), cos(r w)] with w_k = 10000^(-k / (dim / 4)),
    k = 0 .. dim/4 - 1: the first half encodes the column, the second the row (as DiT and MAE).
    """
    quarter = dim // 4
    w = 10000.0 ** (-torch.arange(quarter, dtype=torch.float64) / quarter)
    r, c = torch.meshgrid(torch.arange(rows, dtype=torch.float64), torch.arange(cols, dtype=torch.float64), indexing="ij")
    angles = [p.reshape(-1, 1) * w for p in (c, r)]
    return torch.cat([f(a) for a in angles for f in (torch.sin, torch.cos)], dim=1).float()


class DiT(Conditioned):
    """DiT: x (B, C, H, W), noise_label (B,), label (B,) or None -> (B, out_channels, H, W).

    Patches of ``patch_size`` become tokens of width ``hidden``; H and W must be divisible by
    ``patch_size``.  The position embedding is a non-persistent buffer for the ``resolution`` grid
    (recomputed for another grid), so it is never stored with the weights.
    """

    def __init__(self, in_channels=1, out_channels=None, resolution=32, patch_size=4, hidden=256, depth=6, heads=4,
                 mlp_ratio=4.0, num_classes=0):
        if hidden % heads or hidden % 4:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads}) and by 4")
        if resolution % patch_size:
            raise ValueError(f"resolution ({resolution}) must be divisible by patch_size ({patch_size})")
        super().__init__("image/dit", in_channels, num_classes, hidden, 256, patch_size)
        self.patch, self.hidden, self.out_channels = patch_size, hidden, out_channels or in_channels
        self.grid = (resolution // patch_size,) * 2
        self.embed = nn.Conv2d(in_channels, hidden, patch_size, stride=patch_size)
        self.register_buffer("pos", sincos_2d(hidden, *self.grid), persistent=False)
        self.blocks = nn.ModuleList(AdaLNZeroBlock(hidden, heads, mlp_ratio) for _ in range(depth))
        self.final_norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Linear(hidden, 2 * hidden)
        self.final = nn.Linear(hidden, patch_size**2 * self.out_channels)
        for module in self.blocks.modules():  # DiT's init: xavier linears, small embeddings, zeroed adaLN and output
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.embed.weight.view(hidden, -1))
        for layer in (self.time.mlp[0], self.time.mlp[2], self.classes):
            if layer is not None:
                nn.init.normal_(layer.weight, std=0.02)
        for layer in [b.modulation for b in self.blocks] + [self.final_modulation, self.final]:
            zero(layer)

    def forward(self, x: torch.Tensor, noise_label: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        c = self.condition(x, noise_label, label)
        b, _, height, width = x.shape
        p, grid = self.patch, (height // self.patch, width // self.patch)
        h = self.embed(x.to(self.embed.weight.dtype)).flatten(2).transpose(1, 2)  # (B, T, D), raster order
        pos = self.pos if grid == self.grid else sincos_2d(self.hidden, *grid).to(h.device)
        h = h + pos.to(h.dtype)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.final_modulation(F.silu(c))[:, None].chunk(2, dim=2)
        h = self.final(modulate(self.final_norm(h), shift, scale))  # (B, T, p * p * C_out)
        h = h.reshape(b, *grid, p, p, self.out_channels).permute(0, 5, 1, 3, 2, 4)
        return h.reshape(b, self.out_channels, height, width).to(x.dtype)


@register("image/unet")
def unet(in_channels: int = 1, out_channels: int | None = None, resolution: int = 32, channels: int = 64,
         channel_mult=(1, 2, 2), num_res_blocks: int = 2, attention_resolutions=(16,), head_channels: int = 32,
         dropout: float = 0.0, num_classes: int = 0, resample_with_resblocks: bool = False) -> UNet:
    """ADM-style U-Net (6.9M parameters at the defaults; 38.3M at DDPM's CIFAR-10 widths)."""
    return UNet(in_channels, out_channels, resolution, channels, tuple(channel_mult), num_res_blocks,
                tuple(attention_resolutions), head_channels, dropout, num_classes, resample_with_resblocks)


@register("image/dit")
def dit(in_channels: int = 1, out_channels: int | None = None, resolution: int = 32, patch_size: int = 4,
        hidden: int = 256, depth: int = 6, heads: int = 4, mlp_ratio: float = 4.0, num_classes: int = 0) -> DiT:
    """DiT with adaLN-Zero (7.4M parameters at the defaults; DiT-XL/2 is hidden 1152, depth 28, heads 16)."""
    return DiT(in_channels, out_channels, resolution, patch_size, hidden, depth, heads, mlp_ratio, num_classes)
