"""Shared test helpers: exact denoisers of Gaussian mixtures, seeded noise."""
import torch

from zoo import core

F64 = torch.float64


def oracle(mixture, schedule, prediction="eps", **kwargs):
    """The exact denoiser of ``mixture`` for a schedule and parameterization."""
    return core.Denoiser(mixture.model(schedule, prediction), schedule, prediction, **kwargs)


def noise(n, dim=2, seed=0, dtype=F64):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def write_tiny_clips(path, seconds=(0.6, 0.8, 1.0, 0.7), heldout=(False, False, True, True)):
    """A small prepared audio file (format of modalities.audio.data): chirps with a little noise at
    22,050 Hz, the given lengths and split sides.  Returns the path."""
    import numpy as np

    from modalities.audio import data

    rng = np.random.default_rng(0)
    clips = []
    for i, (length, held) in enumerate(zip(seconds, heldout)):
        t = np.arange(int(length * data.SAMPLE_RATE)) / data.SAMPLE_RATE
        x = 0.4 * np.sin(2 * np.pi * (200 + 150 * i + 400 * t) * t) + 0.01 * rng.standard_normal(len(t))
        clips.append(data.Clip(f"chirp{i}", np.round(x * 32767).astype(np.int16), int(held), -1, "xx"))
    return data.write_clips(path, "tuxpaint", clips, [], {})
