"""``zoo.load`` and ``zoo.info``: a model by name, and its card data without building it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import cards
from .folder import count_parameters, load_folder, read_config
from .model import ZooModel
from .names import resolve

__all__ = ["load", "info", "ModelInfo"]


def load(name: str, *, revision: str | None = None, device=None, dtype: torch.dtype | None = None,
         local_files_only: bool = False, cache_dir=None, endpoint: str | None = None, token: str | None = None) -> ZooModel:
    """A ready-to-sample ``ZooModel`` by name (see the module docstring); ``model.origin`` says
    where it came from.  No code from the folder ever runs: the config is data and the weights
    are safetensors checked against the registered architecture."""
    found = resolve(name, revision=revision, local_files_only=local_files_only, cache_dir=cache_dir,
                    endpoint=endpoint, token=token)
    model = load_folder(found.path, device=device, dtype=dtype)
    model.origin = found
    return model


@dataclass
class ModelInfo:
    """What ``zoo.info`` reports: where the model came from, what it is and what it measured."""

    name: str
    source: str
    path: Path
    repo_id: str | None
    revision: str | None
    modality: str
    architecture: str
    parameters: int
    sampler: str
    steps: int
    summary: str
    license: str | None
    metrics: dict = field(default_factory=dict)
    note: str = ""


def info(name: str, **options) -> ModelInfo:
    """Card data of a model without building it (``options`` as for ``load``)."""
    found = resolve(name, **options)
    config = read_config(found.path)
    card = (found.path / "README.md").read_text() if (found.path / "README.md").is_file() else ""
    metadata = cards.front_matter(card)
    metrics_file = found.path / "metrics.json"
    sampling = config.get("sampling", {})
    return ModelInfo(
        name=name, source=found.source, path=found.path, repo_id=found.repo_id, revision=found.revision,
        modality=config["modality"], architecture=config["architecture"],
        parameters=count_parameters(found.path / "model.safetensors"),
        sampler=sampling.get("sampler", "unipc"), steps=sampling.get("steps", 20), summary=cards.summary(card),
        license=metadata.get("license"), metrics=json.loads(metrics_file.read_text()) if metrics_file.is_file() else {},
        note=found.note)
