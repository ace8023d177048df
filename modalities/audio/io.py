"""Audio files in and out with soundfile (WAV, FLAC, OGG), and mels as .npy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch

from zoo.files import atomic_write

__all__ = ["read_audio", "write_audio", "write_samples", "read_mel", "FORMATS"]

FORMATS = (".wav", ".flac", ".npy")


def read_audio(path) -> tuple[torch.Tensor, int]:
    """A sound file as mono float32 (T,) in [-1, 1] and its sample rate (channels are averaged)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"audio file {str(path)!r} does not exist")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise ValueError(f"{path}: not a readable sound file ({error})") from None
    if data.shape[0] == 0:
        raise ValueError(f"{path}: holds no samples")
    return torch.from_numpy(data.mean(axis=1)), int(rate)


def write_audio(path, waveform: torch.Tensor, sample_rate: int) -> Path:
    """waveform (T,) -> a 16-bit WAV or FLAC (by the extension), written atomically; clipped to [-1, 1]."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".wav", ".flac"):
        raise ValueError(f"{path}: write .wav or .flac")
    data = torch.as_tensor(waveform).detach().float().cpu().clamp(-1, 1).numpy()
    if data.ndim != 1:
        raise ValueError(f"write_audio takes one mono waveform (T,), got shape {data.shape}")
    return atomic_write(path, lambda tmp: soundfile.write(tmp, data, sample_rate, subtype="PCM_16",
                                                          format=suffix[1:].upper()))


def write_samples(x: torch.Tensor, path, *, sample_rate: int = 22050, title: str = "") -> Path:
    """Clips (n, T) -> one file: .npy holds them all; .wav/.flac hold them one after another with 0.25 s of
    silence between (a listening file)."""
    path = Path(path)
    x = torch.as_tensor(x).detach().float().cpu()
    if x.dim() == 1:
        x = x[None]
    if path.suffix.lower() == ".npy":
        return atomic_write(path, lambda tmp: np.save(open(tmp, "wb"), x.numpy()))
    gap = torch.zeros(x.shape[0], sample_rate // 4)
    return write_audio(path, torch.cat([x, gap], dim=1).flatten()[: -(sample_rate // 4)], sample_rate)


def read_mel(path) -> torch.Tensor:
    """A mel saved with numpy (.npy, no pickle): (n_mels, frames) or (B, n_mels, frames)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"mel file {str(path)!r} does not exist")
    try:
        return torch.from_numpy(np.load(path, allow_pickle=False)).float()
    except ValueError as error:
        raise ValueError(f"{path}: not a numeric .npy array ({error})") from None
