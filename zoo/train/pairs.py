"""Coupled training pairs for reflow (Liu et al. 2023): (noise, the model's ODE sample from it).

``make_pairs`` draws them from any zoo model (``zoo couple`` on the command line) into an .npz of
``noise`` (n, *sample_shape) unit-variance draws of the prior, ``x`` (n, *sample_shape) and, for a
class-conditional model, ``label`` (n,).  A recipe's ``data.pairs`` trains on such a file: the
flow's ``x_t = alpha x + sigma noise`` then joins each sample to the noise it came from.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import core
from ..files import atomic_write
from ..modality import Dataset

__all__ = ["make_pairs", "CoupledData"]


@torch.no_grad()
def make_pairs(model, n: int, out, *, sampler: str = "heun", steps: int = 32, guidance: float | None = None,
               batch: int = 500, seed: int = 0, progress: bool = True) -> Path:
    """Draw ``n`` reflow pairs from ``model`` with a deterministic ``sampler`` and write them to ``out``.

    A class-conditional model gets balanced labels 0, 1, ..., K-1, 0, ... and its default guidance
    unless ``guidance`` is given (the pairs then carry the guided coupling)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if core.samplers.get(sampler).stochastic:
        raise ValueError(f"reflow pairs need a deterministic (ODE) sampler; {sampler!r} is stochastic")
    generator = torch.Generator().manual_seed(seed)
    labels = model.balanced_labels(n)
    scale = float(model.schedule.sigma(model.schedule.t_max))
    noises, samples = [], []
    for first in tqdm(range(0, n, batch), disable=not progress, desc="pairs"):
        size = min(batch, n - first)
        x_T = model.noise(size, generator)
        cond = None if labels is None else labels[first:first + size].to(x_T.device)
        x = model.sample(size, sampler=sampler, steps=steps, x_T=x_T, cond=cond, guidance=guidance)
        noises.append((x_T / scale).float().cpu().numpy())
        samples.append(x.float().cpu().numpy())
    arrays = {"noise": np.concatenate(noises), "x": np.concatenate(samples)}
    if labels is not None:
        arrays["label"] = labels.numpy()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return atomic_write(out, write)


class CoupledData(Dataset):
    """Batches of reflow pairs from ``path`` in the place of ``data`` (the modality's data set, which
    still gives the model its data config, shapes and null condition)."""

    def __init__(self, data, path):
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"data.pairs: no file {path} (make one with `zoo couple MODEL -o {path}`)")
        with np.load(path) as arrays:
            missing = {"x", "noise"} - set(arrays.files)
            if missing:
                raise ValueError(f"data.pairs: {path} lacks {sorted(missing)}; it has {sorted(arrays.files)}")
            self.x, self.noise = torch.from_numpy(arrays["x"]).float(), torch.from_numpy(arrays["noise"]).float()
            self.label = torch.from_numpy(arrays["label"]).long() if "label" in arrays.files else None
        shape = tuple(data.sample_shape)
        if tuple(self.x.shape[1:]) != shape or self.noise.shape != self.x.shape:
            raise ValueError(f"data.pairs: {path} holds x {tuple(self.x.shape)} and noise {tuple(self.noise.shape)}; "
                             f"the data set's samples have shape {shape}")
        self.data, self.path = data, path
        self.null_cond = data.batch(1, torch.Generator().manual_seed(0)).get("null_cond")
        if (self.label is None) != (self.null_cond is None):
            raise ValueError(f"data.pairs: {path} {'lacks' if self.label is None else 'has'} labels but the data set is "
                             f"{'class-conditional' if self.label is None else 'unconditional'}")

    @property
    def sample_shape(self) -> tuple:
        return tuple(self.data.sample_shape)

    def config(self) -> dict:
        return self.data.config()

    def model_config(self) -> dict:
        return self.data.model_config()

    def prior_settings(self) -> dict:
        return self.data.prior_settings()

    def init_network(self, network) -> None:
        self.data.init_network(network)

    def batch(self, n: int, generator: torch.Generator) -> dict:
        index = torch.randint(0, len(self.x), (n,), generator=generator)
        out = {"x": self.x[index], "noise": self.noise[index]}
        if self.label is not None:
            out.update(cond={"label": self.label[index]}, null_cond=self.null_cond)
        return out
