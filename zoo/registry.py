"""Names -> modalities, architectures and released weights.

Modalities are found through the ``zoo.modalities`` entry-point group (the package's own
``toy2d`` is declared in pyproject.toml the same way a third party would declare theirs), so
``zoo`` never imports a modality by name.  Importing a modality registers its architectures
with ``@register("<modality>/<architecture>")`` and its released models with
``release("<modality>/<name>[.<tag>]", architecture=..., repo_id=..., revision=...)``.
"""
from __future__ import annotations

import fnmatch
import inspect
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Callable

from torch import nn

__all__ = ["modality", "modalities", "register", "architectures", "build_network",
           "Release", "release", "releases", "list_models"]

_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}
_RELEASES: dict[str, "Release"] = {}
_LOADED: dict[str, ModuleType] = {}
log = logging.getLogger("zoo")


@dataclass(frozen=True)
class Release:
    """A released model: its name, the architecture it builds, and the Hub repo and revision that
    hold its weights (a copy also ships with the package under ``model_cards/<name>/``)."""

    name: str
    architecture: str
    repo_id: str
    revision: str = "main"

    @property
    def modality(self) -> str:
        return self.name.split("/")[0]


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


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or name.count("/") != 1 or not all(name.split("/")):
        raise ValueError(f"{what} names are '<modality>/<name>', got {name!r}")


def load_all() -> None:
    """Import every installed modality, so that all architectures and releases are registered.
    A modality that fails to import is skipped with a warning naming it."""
    for name in modalities():
        try:
            modality(name)
        except Exception as error:  # a broken third-party plug-in must not break the zoo
            log.warning("modality %r could not be loaded and is skipped: %s", name, error)


def register(name: str):
    """Decorator: ``@zoo.register("toy2d/mlp")`` on a function ``(**params) -> nn.Module``."""
    _check_name(name, "architecture")

    def add(builder):
        if name in _ARCHITECTURES and _ARCHITECTURES[name] is not builder:
            raise ValueError(f"architecture {name!r} is already registered")
        _ARCHITECTURES[name] = builder
        return builder
    return add



def release(name: str, *, architecture: str, repo_id: str, revision: str = "main") -> Release:
    """Register a released model (called by its modality when it is imported)."""
    _check_name(name.split(".")[0], "model")
    entry = Release(name, architecture, repo_id, revision)
    if _RELEASES.get(name, entry) != entry:
        raise ValueError(f"model {name!r} is already released as {_RELEASES[name]}")
    _RELEASES[name] = entry
    return entry


def releases() -> dict[str, Release]:
    """Every released model of the installed modalities, by name."""
    load_all()
    return dict(sorted(_RELEASES.items()))


def list_models(filter: str | list[str] = "", *, modality: str | None = None, pretrained: bool = False) -> list[str]:
    """Model names matching ``filter`` (shell wildcards, e.g. ``"toy2d/*"``; a list means any of them).

    pretrained=False lists the registered architectures and the released models; pretrained=True
    only the names with released weights, i.e. what ``zoo.load`` accepts by name."""
    load_all()
    names = set(_RELEASES) if pretrained else set(_RELEASES) | set(_ARCHITECTURES)
    if modality is not None:
        names = {n for n in names if n.split("/")[0] == modality}
    patterns = [filter] if isinstance(filter, str) else list(filter)
    patterns = [p for p in patterns if p] or ["*"]
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))


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
