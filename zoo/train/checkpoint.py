"""Training checkpoints: one safetensors file, written atomically, no pickle.

Tensors: ``network.*`` and ``ema.*`` weights (and any extra modules' by their prefix),
``optim.<param>.<name>`` optimizer state and ``rng.cpu``; metadata (JSON strings): the step, the
resolved recipe, the optimizer's parameter groups and what the caller adds (a continued run's
segment and history).  Data order and training noise are functions of (seed, step), so nothing else
is needed to continue exactly where a killed run stopped.

The same format, without ``ema.*`` and with the optimizer moments in bf16, is the training state a
model folder keeps beside its weights (``training/state.safetensors``) so that ``zoo train --continue``
picks the optimizer up where the run that made the folder left it.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..files import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_recipe", "checkpoint_seconds", "checkpoint_metadata",
           "checkpoint_step",            "FORMAT"]

FORMAT = "zoo-checkpoint/1"


def _cast(value: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    return value.to(dtype) if dtype is not None and value.is_floating_point() else value


def save_checkpoint(path, *, step: int, network: torch.nn.Module, ema: torch.nn.Module | None,
                    optimizer: torch.optim.Optimizer, recipe_yaml: str, seconds: float = 0.0,
                    extra: dict | None = None, metadata: dict | None = None, dtype: torch.dtype | None = None,
                    moments_dtype: torch.dtype | None = None) -> Path:
    """seconds: training wall time so far (summed over resumed segments), for the model card;
    extra: more modules by prefix (e.g. {"target": a consistency model's target network});
    metadata: more JSON-serialisable entries; ema None: no EMA weights (a folder's training state);
    dtype: the floating weights' dtype (None: as trained); moments_dtype: the optimizer moments'
    (``step`` counts keep theirs)."""
    tensors = {}
    for prefix, module in {"network": network, **({"ema": ema} if ema is not None else {}), **(extra or {})}.items():
        tensors.update({f"{prefix}.{k}": _cast(v, dtype) for k, v in module.state_dict().items()})
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value) if name == "step" else _cast(value, moments_dtype)
    tensors["rng.cpu"] = torch.get_rng_state()
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {**{k: json.dumps(v) for k, v in (metadata or {}).items()},
                "format": FORMAT, "step": str(step), "recipe": recipe_yaml, "seconds": f"{seconds:.3f}",
                "param_groups": json.dumps(state["param_groups"])}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def _metadata(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} checkpoint (format {metadata.get('format')!r})")
    return metadata


def checkpoint_metadata(path, key: str, default=None):
    """An entry the caller added with ``save_checkpoint(metadata=...)`` (``default`` when absent)."""
    metadata = _metadata(Path(path))
    return json.loads(metadata[key]) if key in metadata else default


def checkpoint_recipe(path) -> str:
    """The resolved recipe (YAML) a checkpoint was written with."""
    return _metadata(Path(path))["recipe"]


def checkpoint_step(path) -> int:
    """The step a checkpoint was written at."""
    return int(_metadata(Path(path))["step"])


def checkpoint_seconds(path) -> float:
    """Training wall time recorded in a checkpoint (0 for checkpoints that predate the record)."""
    return float(_metadata(Path(path)).get("seconds", 0.0))


def load_checkpoint(path, *, network: torch.nn.Module, ema: torch.nn.Module | None,
                    optimizer: torch.optim.Optimizer, extra: dict | None = None) -> tuple[int, str]:
    """Restore in place (ema None: leave the EMA alone; tensors stored in another dtype are cast to the
    modules' and the optimizer's); returns (step, the recipe YAML it was written with)."""
    path = Path(path)
    metadata = _metadata(path)
    with safe_open(str(path), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    modules = {"network.": network, **({"ema.": ema} if ema is not None else {}),
               **{f"{k}.": m for k, m in (extra or {}).items()}}
    for prefix, module in modules.items():
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
