"""Model names -> model folders: the Hugging Face cache, the Hub, or the copy shipped with the package.

Names: ``"<modality>/<name>"`` (a released model), ``"<modality>/<name>.<tag>"`` (other released
weights), ``"hf-hub:org/repo[@revision]"``, ``"local-dir:PATH"`` or a path to a folder.

A released name resolves to the Hugging Face cache (no network), then the Hub (one probe with a
``ZOO_HUB_TIMEOUT`` second limit, default 3), then the copy embedded in the package (its
``Release.embedded``, by default ``model_cards/<name>/``).  ``HF_HUB_OFFLINE=1`` or
``local_files_only=True`` skip the Hub.  A caller resolving many names (``zoo demo``) stops
trying the Hub after a ``Resolved`` that says it was ``unreachable``.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .folder import MODEL_FILES
from .modality import Release
from .registry import releases

__all__ = ["Resolved", "resolve", "is_offline", "MODEL_CARDS", "embedded_folder"]

log = logging.getLogger("zoo")

MODEL_CARDS = Path(__file__).resolve().parent.parent / "model_cards"


def embedded_folder(entry: Release) -> Path:
    """Where the package keeps its copy of a released model."""
    return entry.embedded if entry.embedded is not None else MODEL_CARDS / entry.name


@dataclass
class Resolved:
    """Where a name led. source: "local-dir", "hf-cache", "hub" or "embedded"."""

    name: str
    path: Path
    source: str
    repo_id: str | None = None
    revision: str | None = None  # the commit for "hf-cache" and "hub"
    note: str = ""  # why the Hub was not used, when it was not
    unreachable: bool = False  # the Hub was tried and could not be reached (network, server): a ConnectionError


def _hub_timeout() -> float:
    return float(os.environ.get("ZOO_HUB_TIMEOUT", "3"))


def is_offline(local_files_only: bool) -> bool:
    """Whether the Hub must not be used: local_files_only, or HF_HUB_OFFLINE set."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return local_files_only or flag or constants.HF_HUB_OFFLINE


def _snapshot(repo_id: str, revision: str | None, hub: dict, local_files_only: bool) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, revision=revision, allow_patterns=list(MODEL_FILES),
                                  local_files_only=local_files_only, **hub))


def _from_cache(repo_id: str, revision: str | None, hub: dict) -> Path | None:
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return _snapshot(repo_id, revision, hub, local_files_only=True)
    except LocalEntryNotFoundError:
        return None


def _from_hub(repo_id: str, revision: str | None, hub: dict) -> Path:
    """Probe the Hub with a short timeout, then download; raises ValueError for a missing repo or
    revision and ConnectionError when the Hub cannot be reached."""
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    where = hub.get("endpoint") or os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        HfApi(endpoint=hub.get("endpoint"), token=hub.get("token")).model_info(
            repo_id, revision=revision, timeout=_hub_timeout())
        return _snapshot(repo_id, revision, hub, local_files_only=False)
    except RevisionNotFoundError:
        raise ValueError(f"{repo_id} has no revision {revision!r} on the Hub ({where})") from None
    except RepositoryNotFoundError:
        raise ValueError(f"{repo_id} is not on the Hub ({where}), or it is private and no token was given") from None
    except (httpx2.TransportError, OSError, HfHubHTTPError) as error:
        raise ConnectionError(f"the Hub at {where} could not be used: {type(error).__name__}: {error}") from None


def _hf_hub(name: str, repo: str, revision: str | None, local_files_only: bool, hub: dict) -> Resolved:
    if "@" in repo:
        repo, pinned = repo.split("@", 1)
        if revision is not None and revision != pinned:
            raise ValueError(f"{name} pins revision {pinned!r} but revision={revision!r} was passed")
        revision = pinned
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"{name!r}: expected 'hf-hub:<org>/<repo>[@<revision>]'")
    if revision is not None and re.fullmatch(r"[0-9a-f]{40}", revision):  # a commit never changes: the cache will do
        path = _from_cache(repo, revision, hub)
        if path is not None:
            return Resolved(name, path, "hf-cache", repo, path.name)
    unreachable = False
    if not is_offline(local_files_only):
        try:
            path = _from_hub(repo, revision, hub)
            return Resolved(name, path, "hub", repo, path.name)
        except ConnectionError as error:
            note, unreachable = str(error), True
    else:
        note = "offline (local_files_only or HF_HUB_OFFLINE)"
    path = _from_cache(repo, revision, hub)
    if path is None:
        raise ValueError(f"{name} is not in the Hugging Face cache and the Hub was not used: {note}")
    return Resolved(name, path, "hf-cache", repo, path.name, note, unreachable)


def _released(entry: Release, revision: str | None, local_files_only: bool, hub: dict) -> Resolved:
    name = entry.name
    wanted = revision or entry.revision
    path = _from_cache(entry.repo_id, wanted, hub)
    if path is not None:
        return Resolved(name, path, "hf-cache", entry.repo_id, path.name)
    note, unreachable = "offline (local_files_only or HF_HUB_OFFLINE)", False
    if not is_offline(local_files_only):
        try:
            path = _from_hub(entry.repo_id, wanted, hub)
            return Resolved(name, path, "hub", entry.repo_id, path.name)
        except (ValueError, ConnectionError) as error:
            note, unreachable = str(error), isinstance(error, ConnectionError)
    if wanted != entry.revision:
        raise ValueError(f"{name} at revision {wanted!r} is neither cached nor available from the Hub ({note}); "
                         f"the copy shipped with the package is revision {entry.revision!r}")
    embedded = embedded_folder(entry)
    if not (embedded / "config.yaml").is_file():
        raise ValueError(f"{name}: not cached, not available from the Hub ({note}), and the package has no "
                         f"embedded copy at {embedded}")
    return Resolved(name, embedded, "embedded", entry.repo_id, entry.revision, note, unreachable)


def resolve(name: str, *, revision: str | None = None, local_files_only: bool = False, cache_dir=None,
            endpoint: str | None = None, token: str | None = None, quiet: bool = False) -> Resolved:
    """The model folder a name refers to, and where it came from (see the module docstring); logged
    on the ``zoo`` logger unless ``quiet`` (a caller that says it itself, as ``zoo demo`` does once)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a model name must be a non-empty string, got {name!r}")
    hub = {"cache_dir": cache_dir, "endpoint": endpoint, "token": token}
    released = releases()
    if name.startswith("hf-hub:"):
        found = _hf_hub(name, name[len("hf-hub:"):], revision, local_files_only, hub)
    elif name.startswith("local-dir:") or (name not in released and Path(name).is_dir()):
        found = Resolved(name, Path(name.removeprefix("local-dir:")), "local-dir")
    elif name in released:
        found = _released(released[name], revision, local_files_only, hub)
    elif name.count("/") == 1 and not name.startswith(("/", ".")):
        raise ValueError(f"unknown model {name!r}; released models: {list(released)}")
    else:
        raise ValueError(f"{name!r} is neither a released model name ('<modality>/<name>'), 'hf-hub:<org>/<repo>', "
                         "'local-dir:<path>' nor a folder")
    if not found.path.is_dir():
        raise ValueError(f"{found.path} is not a folder")
    if not (found.path / "config.yaml").is_file():
        raise ValueError(f"{found.path} ({found.source}) is not a model folder: it has no config.yaml")
    if not quiet:
        log.info("%s: the %s copy (%s)%s", name, found.source, found.path, f"; {found.note}" if found.note else "")
    return found
