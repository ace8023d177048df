"""Modalities, their released models and the names ``zoo.list_models`` lists.

Modalities are found through the ``zoo.modalities`` entry-point group: each entry names a
:class:`zoo.modality.Modality` value (``toy2d = "modalities.toy2d:MODALITY"`` in pyproject.toml,
the same way a third party declares theirs), or is added at run time with :func:`add_modality`.
So ``zoo`` never imports a modality by name.  Loading a modality imports its package, which
registers its architectures (``zoo.architectures.register``).
"""
from __future__ import annotations

import fnmatch
import logging
from importlib.metadata import entry_points

from . import architectures as _architectures
from .modality import Modality, Release

__all__ = ["modality", "modalities", "add_modality", "load_all", "releases", "list_models", "architectures"]

_LOADED: dict[str, Modality] = {}
_ADDED: dict[str, Modality] = {}
log = logging.getLogger("zoo")


def _entries() -> dict:
    return {ep.name: ep for ep in entry_points(group="zoo.modalities")}


def modalities() -> list[str]:
    """Names of the installed modalities (entry points and those added with :func:`add_modality`)."""
    return sorted(set(_entries()) | set(_ADDED))


def add_modality(declared: Modality) -> Modality:
    """Register a modality without an entry point (a plug-in loaded by hand, tests)."""
    if not isinstance(declared, Modality):
        raise ValueError(f"add_modality takes a zoo.modality.Modality, got {type(declared).__name__}")
    known = _ADDED.get(declared.name) or _LOADED.get(declared.name)
    if known is not None and known is not declared:
        raise ValueError(f"modality {declared.name!r} is already registered")
    _ADDED[declared.name] = _LOADED[declared.name] = declared
    return declared


def modality(name: str) -> Modality:
    """The declared :class:`Modality` ``name`` (loaded once through its entry point)."""
    if name not in _LOADED:
        entry = _entries().get(name)
        if entry is None:
            raise ValueError(f"unknown modality {name!r}; installed: {modalities()}")
        declared = entry.load()
        if not isinstance(declared, Modality):
            raise ValueError(f"the zoo.modalities entry point {name!r} ({entry.value}) is a {type(declared).__name__}, "
                             "not a zoo.modality.Modality")
        if declared.name != name:
            raise ValueError(f"the zoo.modalities entry point {name!r} ({entry.value}) declares modality "
                             f"{declared.name!r}")
        _LOADED[name] = declared
    return _LOADED[name]


def load_all() -> list[Modality]:
    """Every installed modality.  One that fails to load is skipped with a warning naming it."""
    loaded = []
    for name in modalities():
        try:
            loaded.append(modality(name))
        except Exception as error:  # a broken third-party plug-in must not break the zoo
            log.warning("modality %r could not be loaded and is skipped: %s", name, error)
    return loaded


def releases() -> dict[str, Release]:
    """Every released model of the installed modalities, by name."""
    found: dict[str, Release] = {}
    for declared in load_all():
        for entry in declared.releases:
            _architectures.check_name(entry.name.split(".")[0], "model")
            if found.setdefault(entry.name, entry) != entry:
                raise ValueError(f"model {entry.name!r} is released twice: {found[entry.name]} and {entry}")
    return dict(sorted(found.items()))


def architectures(modality_name: str | None = None) -> list[str]:
    """Registered architecture names (of one modality, loading it first; else of every modality)."""
    if modality_name is not None:
        modality(modality_name)
    else:
        load_all()
    return _architectures.names(modality_name)


def list_models(filter: str | list[str] = "", *, modality: str | None = None, pretrained: bool = False) -> list[str]:
    """Model names matching ``filter`` (shell wildcards, e.g. ``"image/*"``; a list means any of them).

    pretrained=False lists the registered architectures and the released models; pretrained=True
    only the names with released weights, i.e. what ``zoo.load`` accepts by name."""
    released = releases()
    names = set(released) if pretrained else set(released) | set(_architectures.names())
    if modality is not None:
        names = {n for n in names if n.split("/")[0] == modality}
    patterns = [filter] if isinstance(filter, str) else list(filter)
    patterns = [p for p in patterns if p] or ["*"]
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))
