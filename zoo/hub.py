"""Model folders: save a ZooModel and load one by name or path.

A folder holds ``config.yaml`` (plain data, see ``zoo.model``) and ``model.safetensors`` (the
weights; never pickle), optionally ``samples/`` and ``training/recipe.yaml``.  Names:
``"<modality>/<name>"`` (a released model, shipped under ``model_cards/``), ``"local-dir:PATH"``
or a path to a folder.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .files import atomic_write, read_yaml, write_yaml
from .model import FORMAT_VERSION, ZooModel

__all__ = ["save", "load", "resolve", "MODEL_CARDS"]

MODEL_CARDS = Path(__file__).resolve().parent.parent / "model_cards"


def resolve(name: str) -> Path:
    """The folder a model name refers to."""
    if name.startswith("local-dir:"):
        path = Path(name[len("local-dir:"):])
    elif Path(name).is_dir():
        path = Path(name)
    elif name.count("/") == 1 and not name.startswith(("/", ".")):
        path = MODEL_CARDS / name
        if not path.is_dir():
            known = sorted(f"{p.parent.name}/{p.name}" for p in MODEL_CARDS.glob("*/*") if p.is_dir())
            raise ValueError(f"unknown model {name!r}; released models: {known}")
    else:
        raise ValueError(f"{name!r} is neither a released model name ('<modality>/<name>') nor a folder")
    if not (path / "config.yaml").is_file():
        raise ValueError(f"{path} is not a model folder: it has no config.yaml")
    return path


def save(model: ZooModel, directory, *, dtype: torch.dtype | None = None) -> Path:
    """Write ``config.yaml`` and ``model.safetensors`` (optionally cast to ``dtype``)."""
    directory = Path(directory)
    tensors = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in model.network.state_dict().items()}
    config = {**model.config, "format_version": FORMAT_VERSION}
    write_yaml(directory / "config.yaml", config)
    atomic_write(directory / "model.safetensors", lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    return directory


def load(name: str, *, device=None, dtype: torch.dtype | None = None) -> ZooModel:
    """Build a model from its folder; weights are checked key by key and shape by shape."""
    path = resolve(name)
    config = read_yaml(path / "config.yaml")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path / 'config.yaml'}: format_version {version!r} is not one this zoo reads "
                         f"(<= {FORMAT_VERSION}); upgrade diffusion-zoo")
    model = ZooModel.from_config(config)
    weights_file = path / "model.safetensors"
    if not weights_file.is_file():
        raise ValueError(f"{path} has no model.safetensors")
    weights = load_file(weights_file)
    expected = model.network.state_dict()
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    wrong = sorted(k for k in set(expected) & set(weights) if expected[k].shape != weights[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(f"{weights_file} does not fit {config['architecture']}: missing {missing}, "
                         f"unexpected {unexpected}, wrong shape {wrong}")
    model.network.load_state_dict({k: v.to(expected[k].dtype) for k, v in weights.items()})
    model.config["source"] = str(path)
    model.eval()
    return model.to(device=device, dtype=dtype) if (device or dtype) else model
