"""What every modality's evaluation shares: one device description and batched, timed drawing.

Every long stage of an evaluation (drawing samples, the likelihood's ODE, pairwise metrics) shows a
tqdm bar on stderr with the time it has left, so ``zoo eval`` says how long it will take.

The device is described in one format everywhere (metrics, cards, ``training/run.json``, the
reproduce commands): ``"NVIDIA H100 80GB HBM3"`` for a GPU, ``"CPU, 2 threads"`` for the CPU.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

import torch
from tqdm import tqdm

__all__ = ["describe_device", "device_option", "is_gpu", "model_device", "draw", "ode_progress", "progress_bar"]


def describe_device(device: torch.device | str) -> str:
    """The device in words: the GPU's name, or ``"CPU, N threads"`` with torch's intra-op threads."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    noun = "thread" if torch.get_num_threads() == 1 else "threads"
    return f"CPU, {torch.get_num_threads()} {noun}"


def is_gpu(description: str) -> bool:
    """Whether a :func:`describe_device` description names a GPU."""
    return not str(description).startswith("CPU")


def device_option(description: str) -> str:
    """The command-line option that reproduces a measurement made on ``description`` ("" on the CPU)."""
    return " --device cuda" if is_gpu(description) else ""


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def progress_bar(desc: str, total: float, unit: str = "it") -> tqdm:
    """A progress bar on stderr with its estimate of the time left (removed when it closes)."""
    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.4g}/{total:.4g} {unit} [{elapsed}<{remaining}]")


@contextmanager
def ode_progress(desc: str, parts: int = 1):
    """A bar over ``parts`` probability-flow ODE solves; yields ``advance(fraction, part=0)``, the callback
    of ``zoo.core.log_likelihood`` (``callback=advance``; solve i of several: ``functools.partial(advance, part=i)``)."""
    with progress_bar(desc, parts, unit="solves") as bar:
        def advance(fraction: float, part: int = 0) -> None:
            bar.n = part + fraction
            bar.refresh()

        yield advance


def draw(model, n: int, *, batch: int, seed: int = 0, per_sample: dict | None = None,
         **options) -> tuple[torch.Tensor, dict]:
    """n samples of ``model`` drawn ``batch`` at a time with one generator seeded ``seed``.

    per_sample: ``model.sample`` arguments with one entry per sample (e.g. ``{"cond": (n,) labels}``
    or ``{"length": (n,) ints}``), sliced along with the batches; ``options`` go to every call.
    Returns x (n, *S) float32 on the CPU (padded sets stay zero beyond their length) and how it
    was made: sampler, steps, nfe, seed, batch, seconds, samples_per_second and device."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    per_sample = per_sample or {}
    for key, values in per_sample.items():
        if values is not None and len(values) != n:
            raise ValueError(f"{key} has {len(values)} entries for n = {n} samples")
    device = model_device(model)
    generator = torch.Generator().manual_seed(seed)
    pieces, info = [], None
    _synchronize(device)
    steps = options.get("steps") or model.config.get("sampling", {}).get("steps") or 1
    start = time.perf_counter()
    with progress_bar(f"{model.name}: drawing {n} samples", n, unit="samples") as bar:
        for first in range(0, n, batch):
            part = {k: None if v is None else v[first:first + batch] for k, v in per_sample.items()}
            size, done = min(batch, n - first), [0]

            def advance(state, first=first, size=size, done=done) -> None:  # per sampler step, within the batch
                done[0] += 1
                bar.n = first + size * min(1.0, done[0] / steps)
                bar.refresh()

            x, info = model.sample(size, generator=generator, return_info=True, callback=advance, **part, **options)
            pieces.append(x.float().cpu())
            bar.n = first + size
            bar.refresh()
    _synchronize(device)
    seconds = time.perf_counter() - start
    width = max(p.shape[1] for p in pieces) if pieces[0].ndim > 1 else None
    if width is not None and any(p.shape[1] != width for p in pieces):  # variable-length sets: pad to the longest
        pieces = [torch.nn.functional.pad(p, (0, 0) * (p.ndim - 2) + (0, width - p.shape[1])) for p in pieces]
    return torch.cat(pieces), {"sampler": info.sampler, "steps": len(info.ts) - 1, "nfe": info.nfe, "seed": seed,
                               "batch": batch, "seconds": seconds, "samples_per_second": n / seconds,
                               "device": describe_device(device)}
