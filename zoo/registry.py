"""Names -> modalities and architectures.

Modalities are found through the ``zoo.modalities`` entry-point group (the package's own
``toy2d`` is declared in pyproject.toml the same way a third party would declare theirs), so
``zoo`` never imports a modality by name.  Importing a modality registers its architectures
with :func:`register_architecture`.
"""
from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from types import ModuleType
from typing import Callable

from torch import nn

__all__ = ["modality", "modalities", "register_architecture", "architectures", "build_network"]

_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}
_LOADED: dict[str, ModuleType] = {}


def modalities() -> list[str]:
    """Names of the installed modalities."""
    return sorted(ep.name for ep in entry_points(group="zoo.modalities"))


def modality(name: str) -> ModuleType:
    """The adapter module of modality ``name`` (loaded once through its entry point)."""
    if name not in _LOADED:
        found = [ep for ep in entry_points(group="zoo.modalities") if ep.name == name]
        if not found:
            raise ValueError(f"unknown modality {name!r}; installed: {modalities()}")
        _LOADED[name] = found[0].load()
    return _LOADED[name]


def register_architecture(name: str):
    """Decorator: ``@register_architecture("toy2d/mlp")`` on a function ``(**params) -> nn.Module``."""
    if name.count("/") != 1:
        raise ValueError(f"architecture names are '<modality>/<architecture>', got {name!r}")

    def add(builder):
        if name in _ARCHITECTURES and _ARCHITECTURES[name] is not builder:
            raise ValueError(f"architecture {name!r} is already registered")
        _ARCHITECTURES[name] = builder
        return builder
    return add


def architectures(modality_name: str | None = None) -> list[str]:
    """Registered architecture names (of one modality, loading it first)."""
    if modality_name is not None:
        modality(modality_name)
    return sorted(n for n in _ARCHITECTURES if modality_name is None or n.startswith(modality_name + "/"))


def build_network(name: str, params: dict) -> nn.Module:
    """Build architecture ``name`` with ``params``; an unknown name or parameter is a ValueError."""
    if "/" in name and name not in _ARCHITECTURES:
        modality(name.split("/")[0])
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; registered: {architectures()}")
    builder = _ARCHITECTURES[name]
    signature = inspect.signature(builder)
    accepts_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    unknown = sorted(set(params) - set(signature.parameters))
    if unknown and not accepts_any:
        raise ValueError(f"architecture {name!r} has no parameter(s) {unknown}; it takes {sorted(signature.parameters)}")
    return builder(**params)
