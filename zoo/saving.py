"""``zoo.save``: write a Hub-ready model folder, with samples drawn through the modality's preview."""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from . import cards
from .files import atomic_write, write_yaml
from .model import FORMAT_VERSION, ZooModel
from .registry import modality

__all__ = ["save", "draw_samples", "write_samples"]


def save(model: ZooModel, directory, *, samples: int | torch.Tensor | None = None, recipe: dict | None = None,
         training: dict | None = None, dtype: torch.dtype | None = None, seed: int = 0) -> Path:
    """Write a Hub-ready model folder: config.yaml, model.safetensors (optionally cast to ``dtype``),
    samples (``samples``: a count to draw with the model's defaults and ``seed``, or a tensor of
    samples), training/recipe.yaml and training/run.json when given, and the card README.md
    (an existing README's hand-written prose is kept)."""
    directory = Path(directory)
    tensors = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in model.network.state_dict().items()}
    config = {**model.config, "format_version": FORMAT_VERSION}
    write_yaml(directory / "config.yaml", config)
    atomic_write(directory / "model.safetensors", lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    if recipe is not None:
        write_yaml(directory / "training" / "recipe.yaml", recipe)
    if training is not None:
        cards.write_json(directory / "training" / "run.json", training)
    if samples is not None:
        write_samples(model, directory, samples, seed=seed)
    cards.write_card(directory)
    return directory


def draw_samples(model: ZooModel, n: int, *, seed: int = 0, steps: int | None = None) -> tuple[torch.Tensor, dict]:
    """n outputs (n, *S) through the modality's ``preview`` (the model's defaults unless ``steps``), and how
    they were made (sampler, steps, nfe, seed and maybe ``what``)."""
    return modality(model.config["modality"]).preview(model, n, seed=seed, steps=steps)


def write_samples(model: ZooModel, directory, samples: int | torch.Tensor, *, seed: int = 0) -> Path:
    """samples/samples.<preview format> and its manifest entry; ``samples``: a count to draw, or samples."""
    preview = modality(model.config["modality"]).preview_format
    settings = {"sampler": model.config.get("sampling", {}).get("sampler"),
                "steps": model.config.get("sampling", {}).get("steps")}
    if isinstance(samples, int):
        x, settings = draw_samples(model, samples, seed=seed)
    else:
        x = samples
    path = Path(directory) / "samples" / f"samples{preview.suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    preview.write(x, path, model=model, title=f"{model.name}: {settings['sampler']}, {settings['steps']} steps")
    what = settings.pop("what", f"{len(x)} samples drawn with the default sampler")
    cards.add_sample(directory, path.name, what, **settings)
    return path
