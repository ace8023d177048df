"""The model folder's data: config.yaml checked as data, safetensors weights checked key by key.

A model folder (the same on disk, in ``model_cards/`` and in a Hub repo)::

    README.md              the card (zoo.cards)
    config.yaml            plain data, versioned (zoo.model)
    model.safetensors      the EMA weights; never pickle
    metrics.json           measured metrics with their protocol (optional)
    quality_vs_nfe.json    a quality-versus-NFE report (zoo.nfe, optional)
    samples/               outputs in the modality's format + manifest.json (optional)
    training/recipe.yaml   the resolved recipe; training/run.json the training record, every segment
                           (zoo.runs); training/state.safetensors the optimizer state that
                           ``zoo train --continue`` restores; training/log.csv the loss log (optional)
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from .files import read_yaml
from .model import FORMAT_VERSION, ZooModel
from .registry import modality

__all__ = ["MODEL_FILES", "CONFIG_KEYS", "read_config", "read_weights", "count_parameters", "load_folder"]

# what a model folder may hold: downloaded, published and checked against these patterns
MODEL_FILES = ("README.md", "config.yaml", "model.safetensors", "metrics.json", "quality_vs_nfe.json", "samples/*",
               "training/*")
CONFIG_KEYS = {"format_version", "name", "modality", "architecture", "network", "schedule", "prediction",
               "sigma_data", "prior", "sample_shape", "sampling", "data", "null_cond", "class_names", "frontend", "task",
               "consistency"}
REQUIRED_KEYS = ("modality", "architecture", "schedule", "prediction", "sample_shape")


def read_config(path) -> dict:
    """A folder's config.yaml, checked as data: known keys, required keys, a readable format_version."""
    file = Path(path) / "config.yaml"
    if not file.is_file():
        raise ValueError(f"{path} is not a model folder: it has no config.yaml")
    config = read_yaml(file)
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise ValueError(f"{file}: unknown key(s) {unknown}; a model config has {sorted(CONFIG_KEYS)}")
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise ValueError(f"{file}: missing required key(s) {missing}")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{file}: format_version {version!r} is not one this zoo reads "
                         f"(<= {FORMAT_VERSION}); upgrade diffusion-zoo")
    if not str(config["architecture"]).startswith(f"{config['modality']}/"):
        raise ValueError(f"{file}: architecture {config['architecture']!r} is not of modality {config['modality']!r}")
    return config


def read_weights(file: Path) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise ValueError(f"{file.parent} has no model.safetensors")
    try:
        return load_file(file)
    except (SafetensorError, OSError, RuntimeError) as error:
        raise ValueError(f"{file}: not a readable safetensors file ({error})") from None


def count_parameters(file: Path) -> int:
    """Number of weights in a safetensors file, read from its header only."""
    try:
        with safe_open(str(file), framework="pt") as handle:
            return sum(torch.Size(handle.get_slice(k).get_shape()).numel() for k in handle.keys())
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{file}: not a readable safetensors file ({error})") from None


def build(config: dict) -> ZooModel:
    """A model of the config's modality (its ``model_class``) with freshly initialised weights."""
    return modality(config["modality"]).model_class.from_config(config)


def load_folder(path, *, device=None, dtype: torch.dtype | None = None) -> ZooModel:
    """Build a model from a folder; weights are checked key by key and shape by shape."""
    path = Path(path)
    config = read_config(path)
    model = build(config)
    weights_file = path / "model.safetensors"
    weights = read_weights(weights_file)
    expected = model.network.state_dict()
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    wrong = sorted(f"{k}: {tuple(weights[k].shape)} for {tuple(expected[k].shape)}"
                   for k in set(expected) & set(weights) if expected[k].shape != weights[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(f"{weights_file} does not fit {config['architecture']} {config.get('network', {})}: "
                         f"missing {missing}, unexpected {unexpected}, wrong shape {wrong}")
    model.network.load_state_dict({k: v.to(expected[k].dtype) for k, v in weights.items()})
    model.eval()
    return model.to(device=device, dtype=dtype) if (device or dtype) else model
