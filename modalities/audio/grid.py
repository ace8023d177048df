"""A vocoder's few-step noise grid fitted to recordings, and ``zoo fit-grid``, which makes it a model folder's
sampling default (``sampling.timesteps: fitted``, the times in ``sampling.fitted_grid``).

WaveGrad and DiffWave pick their 6-iteration inference tables by searching over noise levels with a
spectral distance to real audio.  ``fit_grid`` does that for a trained model: it starts from the model's
grid at that many steps (DiffWave's fast table for 6) and moves each time in turn, by golden-section
search between its neighbours (``zoo.core.samplers.refine_grid``), to lower the band-limited
multi-resolution STFT distance (``metrics.mrstft_distance`` up to the front end's f_max) between
training recordings and their vocodings.  Every trial vocodes with the same seed, so two grids are
compared on the same noise.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from zoo import core
from zoo.files import read_yaml, write_yaml

from . import metrics

__all__ = ["fit_grid", "fit_folder", "add_arguments", "run"]


def fit_grid(model, recordings: list[torch.Tensor], *, steps: int = 6, seed: int = 0, sweeps: int = 2,
             iterations: int = 5) -> tuple[torch.Tensor, dict]:
    """The fitted grid (steps + 1,) float64 for ``model.vocode`` and how it was found: ``{"before": d, "after":
    d, "evaluations": k}``, d the mean band MRSTFT over ``recordings``, each (T_i,) at the model's rate with
    T_i a whole number of hops.  Costs at most ``sweeps * steps * (iterations + 2) + 1`` vocodings of them all."""
    if not model.conditional:
        raise ValueError(f"{model.name} is unconditional: fit_grid fits a vocoder's grid to recordings")
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    hop = model.frontend.hop
    bad = [i for i, x in enumerate(recordings) if x.dim() != 1 or x.shape[0] % hop or x.shape[0] < 4 * hop]
    if not recordings or bad:
        raise ValueError(f"recordings must be a non-empty list of (T,) waveforms of whole hops ({hop} samples, at "
                         f"least 4), got {len(recordings)} with bad ones at {bad}")
    mels = [model.frontend(x) for x in recordings]
    band = {"max_hz": model.frontend.config["f_max"], "sample_rate": model.sample_rate}
    tried: dict[tuple, float] = {}  # every grid once: the search, its start and its result share the trials

    def error(grid: torch.Tensor) -> float:
        key = tuple(grid.tolist())
        if key not in tried:
            generator = torch.Generator().manual_seed(seed)
            tried[key] = sum(metrics.mrstft_distance(x, model.vocode(mel, steps=steps, timesteps=grid,
                                                                     generator=generator), **band)
                             for x, mel in zip(recordings, mels)) / len(recordings)
        return tried[key]

    n, placement = model._grid(steps, None)
    start = core.timesteps.make(model.schedule, n, placement) if n == steps else core.timesteps.make(model.schedule, steps)
    grid = core.samplers.refine_grid(start, error, range(steps), sweeps=sweeps, iterations=iterations)
    return grid, {"before": error(start), "after": error(grid), "evaluations": len(tried)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="a vocoder's model folder (its config.yaml gets the grid)")
    parser.add_argument("--steps", type=int, default=6, help="sampling steps of the grid (default 6)")
    parser.add_argument("--recordings", type=int, default=4, help="training crops it is fitted to (default 4)")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of each crop (default 0.5)")
    parser.add_argument("--seed", type=int, default=0)


def fit_folder(folder, *, steps: int = 6, recordings: int = 4, seconds: float = 0.5, seed: int = 0) -> dict:
    """Fit the grid of the vocoder in ``folder`` to ``recordings`` crops of ``seconds`` of its training data and
    make it the folder's sampling default (config.yaml rewritten atomically).  Returns ``fit_grid``'s account
    with the ``grid`` (list) and the ``seconds`` it took."""
    from zoo.folder import load_folder

    from .training import AudioData

    folder = Path(folder)
    if not (folder / "config.yaml").is_file():
        raise ValueError(f"{folder} is not a model folder (no config.yaml)")
    if recordings < 1 or not seconds > 0:
        raise ValueError(f"recordings must be >= 1 and seconds > 0, got {recordings} and {seconds:g}")
    model = load_folder(folder)
    data = AudioData(**model.config["data"])
    hop = model.frontend.hop
    crop = max(4, round(seconds * model.sample_rate / hop)) * hop
    crops = data.clips("train").batch(recordings, torch.Generator().manual_seed(seed), crop=crop)["x"]
    began = time.perf_counter()
    grid, found = fit_grid(model, list(crops), steps=steps, seed=seed)
    config = read_yaml(folder / "config.yaml")
    config.setdefault("sampling", {}).update(steps=steps, timesteps="fitted", fitted_grid=[round(float(t), 8) for t in grid])
    write_yaml(folder / "config.yaml", config)
    return {**found, "grid": config["sampling"]["fitted_grid"], "seconds": round(time.perf_counter() - began, 1)}


def run(args: argparse.Namespace, load=None) -> int:
    """``zoo fit-grid FOLDER``: ``fit_folder`` with the command's options."""
    found = fit_folder(args.folder, steps=args.steps, recordings=args.recordings, seconds=args.seconds, seed=args.seed)
    print(f"{args.folder}: band MRSTFT on {args.recordings} training crops {found['before']:.4f} -> "
          f"{found['after']:.4f} ({found['evaluations']} trials, {found['seconds']:.0f} s); sampling.fitted_grid = "
          f"{[round(t, 4) for t in found['grid']]}")
    return 0
