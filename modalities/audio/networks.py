"""DiffWave (Kong et al. 2021): a stack of dilated, gated residual layers over the raw waveform.

Layer i: y = dilated_conv(x + W_t emb) + cond_i;  h = tanh(y_a) * sigmoid(y_b);
(residual, skip) = W_out h;  x <- (x + residual) / sqrt(2).  The skips are summed, scaled by
1 / sqrt(layers) and mapped to the output by two 1x1 convolutions.

The mel conditioner (two transposed 2-D convolutions that stretch frames to samples, then one
1x1 projection per layer, fused here into a single convolution) depends only on the mel, so
``condition(mel)`` computes it once per utterance and the sampler passes the result back in as
``conditioner=`` at every step.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from zoo.nn.embeddings import sinusoidal
from zoo.architectures import register

__all__ = ["DiffWave", "diffwave"]


class Upsampler(nn.Module):
    """mel (B, n_mels, frames) -> (B, n_mels, frames * hop) by transposed convolutions along time."""

    def __init__(self, factors: tuple[int, ...]):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ConvTranspose2d(1, 1, (3, 2 * f), stride=(1, f), padding=(1, f // 2)) for f in factors)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        h = mel[:, None]
        for layer in self.layers:
            h = nn.functional.leaky_relu(layer(h), 0.4)
        return h[:, 0]


class DiffWave(nn.Module):
    """x (B, T), noise_label (B,), mel (B, n_mels, T // hop) or conditioner from ``condition`` -> (B, T)."""

    def __init__(self, layers: int = 30, channels: int = 64, dilation_cycle: int = 10, n_mels: int = 80,
                 hop: int = 256, upsample: tuple[int, ...] = (16, 16), embedding: int = 128, unconditional: bool = False):
        super().__init__()
        if not unconditional and math.prod(upsample) != hop:
            raise ValueError(f"upsample factors {list(upsample)} must multiply to the hop {hop}")
        self.layers, self.channels, self.hop, self.unconditional = layers, channels, hop, unconditional
        self.embedding = embedding
        self.dilations = [2 ** (i % dilation_cycle) for i in range(layers)]
        self.input = nn.Conv1d(1, channels, 1)
        self.time = nn.Sequential(nn.Linear(embedding, 4 * embedding), nn.SiLU(),
                                  nn.Linear(4 * embedding, 4 * embedding), nn.SiLU())
        self.time_projection = nn.Linear(4 * embedding, layers * channels)  # every layer's W_t, fused
        self.dilated = nn.ModuleList(nn.Conv1d(channels, 2 * channels, 3, padding=d, dilation=d) for d in self.dilations)
        self.out = nn.ModuleList(nn.Conv1d(channels, 2 * channels, 1) for _ in range(layers))
        if not unconditional:
            self.upsampler = Upsampler(tuple(upsample))
            self.conditioner = nn.Conv1d(n_mels, layers * 2 * channels, 1)  # every layer's projection, fused
        self.skip = nn.Conv1d(channels, channels, 1)
        self.output = nn.Conv1d(channels, 1, 1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)
        for conv in (self.input, *self.dilated, *self.out, self.skip):
            nn.init.kaiming_normal_(conv.weight)

    def condition(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (B, n_mels, frames) -> conditioner (B, layers * 2 channels, frames * hop), once per utterance."""
        if self.unconditional:
            raise ValueError("this DiffWave is unconditional: it takes no mel")
        return self.conditioner(self.upsampler(mel))

    def forward(self, x: torch.Tensor, noise_label: torch.Tensor, mel: torch.Tensor | None = None,
                conditioner: torch.Tensor | None = None) -> torch.Tensor:
        if not self.unconditional and conditioner is None:
            if mel is None:
                raise ValueError("a mel-conditioned DiffWave needs mel= (B, n_mels, frames) or conditioner=")
            conditioner = self.condition(mel)
        if conditioner is not None and conditioner.shape[-1] != x.shape[-1]:
            raise ValueError(f"the mel covers {conditioner.shape[-1]} samples but x has {x.shape[-1]} "
                             f"(frames * hop must equal the waveform length; hop {self.hop})")
        h = nn.functional.relu(self.input(x[:, None]))
        emb = self.time(sinusoidal(noise_label, self.embedding).to(h.dtype))
        # split once: indexing a slice per layer would make autograd build one full-size gradient per slice
        steps = self.time_projection(emb).view(-1, self.layers, self.channels, 1).unbind(1)
        conds = conditioner.split(2 * self.channels, dim=1) if conditioner is not None else [None] * self.layers
        skips = torch.zeros_like(h)
        for i in range(self.layers):
            y = self.dilated[i](h + steps[i])
            if conds[i] is not None:
                y = y + conds[i]
            a, b = y.chunk(2, dim=1)
            residual, skip = self.out[i](torch.tanh(a) * torch.sigmoid(b)).chunk(2, dim=1)
            h = (h + residual) * math.sqrt(0.5)
            skips = skips + skip
        out = nn.functional.relu(self.skip(skips * (1 / math.sqrt(self.layers))))
        return self.output(out)[:, 0]


@register("audio/diffwave")
def diffwave(layers: int = 30, channels: int = 64, dilation_cycle: int = 10, n_mels: int = 80, hop: int = 256,
             upsample: list[int] = (16, 16), embedding: int = 128, unconditional: bool = False) -> DiffWave:
    """DiffWave; the defaults are the paper's base vocoder (30 layers x 64 channels, about 2.6M parameters)."""
    return DiffWave(layers, channels, dilation_cycle, n_mels, hop, tuple(upsample), embedding, unconditional)
