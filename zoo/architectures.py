"""Architectures by name: ``@zoo.register("<modality>/<architecture>")`` on a builder function.

A modality's package registers its architectures when it is imported (``zoo.registry`` imports
every registered modality before it looks a name up), as timm's ``@register_model`` does.
"""
from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

__all__ = ["register", "build_network", "names", "check_name"]

_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}


def check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or name.count("/") != 1 or not all(name.split("/")):
        raise ValueError(f"{what} names are '<modality>/<name>', got {name!r}")


def register(name: str):
    """Decorator: ``@zoo.register("<modality>/mlp")`` on a function ``(**params) -> nn.Module``."""
    check_name(name, "architecture")

    def add(builder):
        if name in _ARCHITECTURES and _ARCHITECTURES[name] is not builder:
            raise ValueError(f"architecture {name!r} is already registered")
        _ARCHITECTURES[name] = builder
        return builder
    return add


def names(modality: str | None = None) -> list[str]:
    """Registered architecture names (of one modality)."""
    return sorted(n for n in _ARCHITECTURES if modality is None or n.startswith(modality + "/"))


def build_network(name: str, params: dict) -> nn.Module:
    """Build architecture ``name`` with ``params``; an unknown name or parameter is a ValueError."""
    if name not in _ARCHITECTURES and "/" in name:
        # a modality registers its architectures when it is imported; the registry imports zoo.architectures,
        # so it is imported here, at the first unknown name, not at the top
        from .registry import modalities, modality

        if name.split("/", 1)[0] in modalities():
            modality(name.split("/", 1)[0])
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; registered: {names()}")
    builder = _ARCHITECTURES[name]
    signature = inspect.signature(builder)
    accepts_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    unknown = sorted(set(params) - set(signature.parameters))
    if unknown and not accepts_any:
        raise ValueError(f"architecture {name!r} has no parameter(s) {unknown}; it takes {sorted(signature.parameters)}")
    return builder(**params)
