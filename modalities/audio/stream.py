"""Long audio in bounded memory: resampling and the mel front end over a stream of blocks.

Each function takes an iterable of blocks (B, t_i) of one signal, in order, and yields its result in
blocks, holding only what the next block needs (a few kernel widths of samples), whatever the length:

- ``resample_stream``: torchaudio's windowed-sinc resampler (``torchaudio.functional.resample``, Hann
  window, ``lowpass_filter_width`` 6, rolloff 0.99), piece by piece with margins wider than its kernel, so
  the pieces join into what one call on the whole signal gives.  torchaudio builds one filter per output
  phase, (new, orig + 2 width) values for the rates reduced by their gcd: 7.8 GB for 44,101 -> 22,050 Hz.
  Above ``KERNEL_BUDGET`` values the same kernel is evaluated directly at each output sample's 2 width + 1
  input taps instead (``_direct``), in pieces of ``block`` outputs.
- ``mel_stream``: ``FrontEnd``'s log-mel, frames in pieces, with the same reflect padding at both ends.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import torch
import torchaudio

__all__ = ["Buffer", "blocks_of", "resample_stream", "resampled_length", "mel_stream", "KERNEL_BUDGET"]

LOWPASS_WIDTH, ROLLOFF = 6, 0.99  # torchaudio.functional.resample's defaults
KERNEL_BUDGET = 2 ** 22  # filter values torchaudio may build (32 MiB of float64) before the direct evaluation takes over


def blocks_of(x: torch.Tensor, size: int = 2 ** 16) -> Iterator[torch.Tensor]:
    """x (B, T) -> views (B, <= size) in order."""
    for start in range(0, x.shape[-1], size):
        yield x[..., start:start + size]


def resampled_length(length: int, orig: int, new: int) -> int:
    """Samples of a signal of ``length`` samples resampled from ``orig`` to ``new`` Hz (torchaudio's count)."""
    g = math.gcd(orig, new)
    return -(-length * (new // g) // (orig // g))


class Buffer:
    """The samples (along the last dimension) of a stream from ``start`` on: (B, ..., held) in ``x``, ``end`` =
    samples seen so far."""

    def __init__(self):
        self.x, self.start = None, 0

    @property
    def end(self) -> int:
        return self.start + (0 if self.x is None else self.x.shape[-1])

    def add(self, block: torch.Tensor) -> None:
        if block.dim() < 2:
            raise ValueError(f"stream blocks must be (B, ..., t), got shape {tuple(block.shape)}")
        self.x = block if self.x is None else torch.cat([self.x, block.to(self.x.dtype)], dim=-1)

    def get(self, lo: int, hi: int) -> torch.Tensor:
        """Samples [lo, hi) of the stream (lo >= start, hi <= end)."""
        return self.x[..., lo - self.start: hi - self.start]

    def drop_before(self, position: int) -> None:
        cut = max(0, position - self.start)
        if cut:
            self.x, self.start = self.x[..., cut:], self.start + cut


def _direct(x: torch.Tensor, x_start: int, total: int, m0: int, m1: int, o: int, n: int, width: int) -> torch.Tensor:
    """Outputs [m0, m1) of the resampler (rates o -> n, reduced) from input samples x (B, .) that start at
    ``x_start``; input outside [0, total) is zero.  Output m sits at input time tau = m o / n and is
    sum_j x[j] h(j - tau), h(u) = r sinc(u r) cos^2(pi u r / (2 L)) for |u r| < L, r = rolloff min(o, n) / o."""
    m = torch.arange(m0, m1, dtype=torch.int64)
    base = (m * o) // n  # floor(tau)
    frac = ((m * o) % n).double() / n
    taps = torch.arange(-width, width + 1, dtype=torch.int64)
    j = base[:, None] + taps  # (M, 2 width + 1)
    r = ROLLOFF * min(o, n) / o
    t = ((taps[None].double() - frac[:, None]) * r).clamp(-LOWPASS_WIDTH, LOWPASS_WIDTH)
    h = r * torch.special.sinc(t) * torch.cos(t * math.pi / (2 * LOWPASS_WIDTH)) ** 2
    inside = (j >= 0) & (j < total)
    values = x[:, (j - x_start).clamp(0, x.shape[-1] - 1)].double() * inside
    return (values * h).sum(-1).to(x.dtype)


def resample_stream(blocks: Iterable[torch.Tensor], orig: int, new: int, *, block: int = 2 ** 16
                    ) -> Iterator[torch.Tensor]:
    """Blocks (B, t_i) at ``orig`` Hz -> blocks at ``new`` Hz, ``resampled_length`` samples in all (see the
    module docstring); memory: a few ``block``s of samples, whatever the length."""
    if not (isinstance(orig, int) and isinstance(new, int) and orig > 0 and new > 0):
        raise ValueError(f"sample rates must be positive integers, got {orig!r} and {new!r}")
    g = math.gcd(orig, new)
    o, n = orig // g, new // g
    if o == n:
        yield from blocks
        return
    width = math.ceil(LOWPASS_WIDTH * o / (ROLLOFF * min(o, n)))
    library = n * (o + 2 * width) <= KERNEL_BUDGET
    margin = o * (width // o + 2)  # torchaudio's pieces: whole periods of o input samples beyond the kernel
    step = n * max(1, block // n) if library else block  # outputs per piece

    def need(m0: int, m1: int) -> tuple[int, int]:  # the inputs outputs [m0, m1) read
        if library:
            return max(0, m0 // n * o - margin), m1 // n * o + margin
        return max(0, m0 * o // n - width), (m1 - 1) * o // n + width + 1

    def piece(buffer: Buffer, m0: int, m1: int, total: int) -> torch.Tensor:
        lo, hi = need(m0, m1)
        hi = min(hi, total)
        if not library:
            return _direct(buffer.get(lo, hi), lo, total, m0, m1, o, n, width)
        y = torchaudio.functional.resample(buffer.get(lo, hi), o, n)
        skip = (m0 // n * o - lo) // o * n
        return y[..., skip: skip + m1 - m0]

    buffer, m0 = Buffer(), 0
    for x in blocks:
        buffer.add(x)
        while need(m0, m0 + step)[1] <= buffer.end:
            yield piece(buffer, m0, m0 + step, math.inf)
            m0 += step
            buffer.drop_before(need(m0, m0 + step)[0])
    if buffer.x is None:
        return
    total = buffer.end
    last = resampled_length(total, o, n)
    while m0 < last:
        m1 = min(last, m0 + step)
        yield piece(buffer, m0, m1, total)
        m0 = m1


def mel_stream(frontend, blocks: Iterable[torch.Tensor], *, frames: int = 512) -> Iterator[torch.Tensor]:
    """Blocks (B, t_i) at the front end's rate -> its log-mel (B, n_mels, f_i) in pieces of ``frames`` frames,
    equal to ``frontend(whole signal)``: T // hop frames in all, frame k over samples [k hop - p, (k + 1) hop + p),
    p = (n_fft - hop) / 2, reflect-padded at both ends."""
    hop, pad = frontend.hop, frontend.pad
    buffer, k0 = Buffer(), 0
    for x in blocks:
        buffer.add(x)
        while (k0 + frames) * hop + pad <= buffer.end and (k0 > 0 or buffer.end > pad):
            yield frontend.log_mel(_framed(buffer, k0, k0 + frames, hop, pad, None))
            k0 += frames
            buffer.drop_before(k0 * hop - pad)
    total = buffer.end
    if total <= pad:
        raise ValueError(f"waveform of {total} samples is too short for the front end (needs > {pad})")
    while k0 < total // hop:
        k1 = min(total // hop, k0 + frames)
        yield frontend.log_mel(_framed(buffer, k0, k1, hop, pad, total))
        k0 = k1


def _framed(buffer: Buffer, k0: int, k1: int, hop: int, pad: int, total: int | None) -> torch.Tensor:
    """Samples [k0 hop - pad, k1 hop + pad) with the signal's ends reflected (``total``: where it ends, when known)."""
    lo, hi = k0 * hop - pad, k1 * hop + pad
    x = buffer.get(max(0, lo), hi if total is None else min(hi, total)).float()
    left, right = max(0, -lo), 0 if total is None else max(0, hi - total)
    if left or right:
        x = torch.nn.functional.pad(x[:, None], (left, right), mode="reflect")[:, 0]
    return x
