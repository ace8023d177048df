"""``zoo.publish``: a model folder to a Hugging Face Hub repo in one commit, keeping the card's prose."""
from __future__ import annotations

import fnmatch
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import cards
from .folder import MODEL_FILES, load_folder
from .model import ZooModel
from .saving import save

__all__ = ["publish", "Published"]

log = logging.getLogger("zoo")


@dataclass
class Published:
    """What ``zoo.publish`` did (or, with dry_run, would do)."""

    repo_id: str
    revision: str
    files: list[str]
    deleted: list[str]
    card: str
    commit: str | None = None
    url: str | None = None


def _is_model_file(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in MODEL_FILES) and "/." not in f"/{path}"


def _folder_files(folder: Path) -> list[str]:
    return sorted(f for f in (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
                  if _is_model_file(f))


def publish(model_or_dir, repo_id: str, *, revision: str | None = None, private: bool | None = None,
            endpoint: str | None = None, token: str | None = None, dry_run: bool = False,
            commit_message: str | None = None) -> Published:
    """Publish a model folder (or a ZooModel, saved first) to the Hub repo ``repo_id`` in one commit.

    The folder is checked first (config and weights must load).  The card is regenerated; the
    hand-written prose of the card already in the repo (or else of the folder's README.md) is
    kept.  Files the repo holds under the model-folder patterns but the folder lacks are deleted
    in the same commit.  dry_run: check and report, touching no network."""
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo_id must be '<org>/<name>', got {repo_id!r}")
    if isinstance(model_or_dir, ZooModel):
        with tempfile.TemporaryDirectory(prefix="zoo-publish-") as tmp:
            save(model_or_dir, tmp)
            return publish(tmp, repo_id, revision=revision, private=private, endpoint=endpoint, token=token,
                           dry_run=dry_run, commit_message=commit_message)
    folder = Path(model_or_dir)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    load_folder(folder)
    files = [f for f in _folder_files(folder) if f != "README.md"]
    branch = revision or "main"
    load_name = f"hf-hub:{repo_id}" + (f"@{revision}" if revision else "")
    local_card = (folder / "README.md").read_text() if (folder / "README.md").is_file() else None
    if dry_run:
        card = cards.render(folder, load_name=load_name, existing=local_card)
        return Published(repo_id, branch, files + ["README.md"], [], card)

    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        commit, card, deleted = _commit(folder, files, repo_id, branch, private, endpoint, token, load_name, local_card,
                                        commit_message)
    except (HfHubHTTPError, OfflineModeIsEnabled, OSError, httpx2.TransportError) as error:
        raise ConnectionError(f"publishing to {repo_id} failed: {type(error).__name__}: {error}") from None
    log.info("published %s to %s@%s (%s)", folder, repo_id, branch, commit.oid)
    return Published(repo_id, branch, files + ["README.md"], deleted, card, commit.oid, commit.commit_url)


def _commit(folder: Path, files: list[str], repo_id: str, branch: str, private, endpoint, token, load_name: str,
            local_card: str | None, commit_message: str | None):
    """Create the repo and branch if needed, merge the card with the repo's, and make one commit."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    if branch != "main":
        api.create_branch(repo_id, branch=branch, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zoo-card-") as tmp:  # the old card, kept out of the user's cache
        try:
            existing = Path(hf_hub_download(repo_id, "README.md", revision=branch, endpoint=endpoint, token=token,
                                            cache_dir=tmp)).read_text()
        except (EntryNotFoundError, RevisionNotFoundError):
            existing = local_card
    card = cards.render(folder, load_name=load_name, existing=existing)
    remote = [f for f in api.list_repo_files(repo_id, revision=branch) if _is_model_file(f)]
    deleted = sorted(set(remote) - set(files) - {"README.md"})
    operations = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(folder / f)) for f in files]
    operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode()))
    operations += [CommitOperationDelete(path_in_repo=f) for f in deleted]
    commit = api.create_commit(repo_id, operations, commit_message=commit_message or f"zoo publish {folder.name}",
                               revision=branch)
    return commit, card, deleted
