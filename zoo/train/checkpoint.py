"""Training checkpoints: one safetensors file, written atomically, no pickle.

Tensors: ``network.*`` and ``ema.*`` weights (and any extra modules' by their prefix),
``optim.<param>.<name>`` optimizer state and ``rng.cpu``; metadata (JSON strings): the step, the
resolved recipe and the optimizer's parameter groups.  Data order and training noise are functions
of (seed, step), so nothing else is needed to continue exactly where a killed run stopped.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..files import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_recipe", "checkpoint_seconds", "FORMAT"]

FORMAT = "zoo-checkpoint/1"


def save_checkpoint(path, *, step: int, network: torch.nn.Module, ema: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, recipe_yaml: str, seconds: float = 0.0,
                    extra: dict | None = None) -> Path:
    """seconds: training wall time so far (summed over resumed segments), for the model card;
    extra: more modules by prefix (e.g. {"target": a consistency model's target network})."""
    tensors = {}
    for prefix, module in {"network": network, "ema": ema, **(extra or {})}.items():
        tensors.update({f"{prefix}.{k}": v for k, v in module.state_dict().items()})
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value)
    tensors["rng.cpu"] = torch.get_rng_state()
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {"format": FORMAT, "step": str(step), "recipe": recipe_yaml, "seconds": f"{seconds:.3f}",
                "param_groups": json.dumps(state["param_groups"])}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def _metadata(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} checkpoint (format {metadata.get('format')!r})")
    return metadata


def checkpoint_recipe(path) -> str:
    """The resolved recipe (YAML) a checkpoint was written with."""
    return _metadata(Path(path))["recipe"]


def checkpoint_seconds(path) -> float:
    """Training wall time recorded in a checkpoint (0 for checkpoints that predate the record)."""
    return float(_metadata(Path(path)).get("seconds", 0.0))


def load_checkpoint(path, *, network: torch.nn.Module, ema: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, extra: dict | None = None) -> tuple[int, str]:
    """Restore in place; returns (step, the recipe YAML it was written with)."""
    path = Path(path)
    metadata = _metadata(path)
    with safe_open(str(path), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    for prefix, module in {"network.": network, "ema.": ema, **{f"{k}.": m for k, m in (extra or {}).items()}}.items():
        part = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        missing = sorted(set(module.state_dict()) - set(part))
        if missing:
            raise ValueError(f"{path}: checkpoint lacks {prefix}{missing[:5]}; it was written for another network")
        module.load_state_dict(part)
    groups = json.loads(metadata["param_groups"])
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    optim_state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            optim_state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": optim_state, "param_groups": groups})
    torch.set_rng_state(tensors["rng.cpu"])
    return int(metadata["step"]), metadata["recipe"]
