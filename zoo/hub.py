"""Model names and folders: resolve, load, save, inspect and publish.

A model folder (the same on disk, in ``model_cards/`` and in a Hub repo)::

    README.md              the card (zoo.cards)
    config.yaml            plain data, versioned (zoo.model)
    model.safetensors      the EMA weights; never pickle
    metrics.json           measured metrics with their protocol (optional)
    samples/               outputs in the modality's format + manifest.json (optional)
    training/recipe.yaml   the resolved recipe; training/run.json hardware and time (optional)

Names: ``"toy2d/ring8"`` (a released model), ``"<modality>/<name>.<tag>"`` (other released
weights), ``"hf-hub:org/repo[@revision]"``, ``"local-dir:PATH"`` or a path to a folder.

A released name resolves to the Hugging Face cache (no network), then the Hub (one probe with a
``ZOO_HUB_TIMEOUT`` second limit, default 3), then the copy embedded in the package under
``model_cards/``.  ``HF_HUB_OFFLINE=1`` or ``local_files_only=True`` skip the Hub.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import cards
from .files import atomic_write, read_yaml, write_yaml
from .model import FORMAT_VERSION, ZooModel
from .registry import Release, modality, releases

__all__ = ["Resolved", "ModelInfo", "Published", "resolve", "load", "load_folder", "info", "save", "publish",
           "MODEL_CARDS", "MODEL_FILES"]

log = logging.getLogger("zoo")

MODEL_CARDS = Path(__file__).resolve().parent.parent / "model_cards"
# what a model folder may hold: downloaded, published and checked against these patterns
MODEL_FILES = ("README.md", "config.yaml", "model.safetensors", "metrics.json", "quality_vs_nfe.json", "samples/*",
               "training/*")
CONFIG_KEYS = {"format_version", "name", "modality", "architecture", "network", "schedule", "prediction",
               "sigma_data", "prior", "sample_shape", "sampling", "data", "null_cond", "class_names", "frontend", "task",
               "consistency"}
REQUIRED_KEYS = ("modality", "architecture", "schedule", "prediction", "sample_shape")


@dataclass
class Resolved:
    """Where a name led. source: "local-dir", "hf-cache", "hub" or "embedded"."""

    name: str
    path: Path
    source: str
    repo_id: str | None = None
    revision: str | None = None  # the commit for "hf-cache" and "hub"
    note: str = ""  # why the Hub was not used, when it was not


def _hub_timeout() -> float:
    return float(os.environ.get("ZOO_HUB_TIMEOUT", "3"))


def _offline(local_files_only: bool) -> bool:
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
    if not _offline(local_files_only):
        try:
            path = _from_hub(repo, revision, hub)
            return Resolved(name, path, "hub", repo, path.name)
        except ConnectionError as error:
            note = str(error)
    else:
        note = "offline (local_files_only or HF_HUB_OFFLINE)"
    path = _from_cache(repo, revision, hub)
    if path is None:
        raise ValueError(f"{name} is not in the Hugging Face cache and the Hub was not used: {note}")
    return Resolved(name, path, "hf-cache", repo, path.name, note)


def _released(entry: Release, revision: str | None, local_files_only: bool, hub: dict) -> Resolved:
    name = entry.name
    wanted = revision or entry.revision
    path = _from_cache(entry.repo_id, wanted, hub)
    if path is not None:
        return Resolved(name, path, "hf-cache", entry.repo_id, path.name)
    note = "offline (local_files_only or HF_HUB_OFFLINE)"
    if not _offline(local_files_only):
        try:
            path = _from_hub(entry.repo_id, wanted, hub)
            return Resolved(name, path, "hub", entry.repo_id, path.name)
        except (ValueError, ConnectionError) as error:
            note = str(error)
    if wanted != entry.revision:
        raise ValueError(f"{name} at revision {wanted!r} is neither cached nor available from the Hub ({note}); "
                         f"the copy shipped with the package is revision {entry.revision!r}")
    embedded = MODEL_CARDS / name
    if not (embedded / "config.yaml").is_file():
        raise ValueError(f"{name}: not cached, not available from the Hub ({note}), and the package has no "
                         f"embedded copy at {embedded}")
    return Resolved(name, embedded, "embedded", entry.repo_id, entry.revision, note)


def resolve(name: str, *, revision: str | None = None, local_files_only: bool = False, cache_dir=None,
            endpoint: str | None = None, token: str | None = None) -> Resolved:
    """The model folder a name refers to, and where it came from (see the module docstring)."""
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
    log.info("%s: the %s copy (%s)%s", name, found.source, found.path, f"; {found.note}" if found.note else "")
    return found


def read_config(path: Path) -> dict:
    """A folder's config.yaml, checked as data: known keys, required keys, a readable format_version."""
    file = path / "config.yaml"
    if not file.is_file():
        raise ValueError(f"{path} is not a model folder: it has no config.yaml")
    config = read_yaml(file)
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise ValueError(f"{file}: unknown key(s) {unknown}; a model config has {sorted(CONFIG_KEYS)}")
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise ValueError(f"{file}: missing required key(s) {missing}")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{file}: format_version {version!r} is not one this zoo reads "
                         f"(<= {FORMAT_VERSION}); upgrade diffusion-zoo")
    if not str(config["architecture"]).startswith(f"{config['modality']}/"):
        raise ValueError(f"{file}: architecture {config['architecture']!r} is not of modality {config['modality']!r}")
    return config


def _read_weights(file: Path) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise ValueError(f"{file.parent} has no model.safetensors")
    try:
        return load_file(file)
    except (SafetensorError, OSError, RuntimeError) as error:
        raise ValueError(f"{file}: not a readable safetensors file ({error})") from None


def load_folder(path, *, device=None, dtype: torch.dtype | None = None) -> ZooModel:
    """Build a model from a folder; weights are checked key by key and shape by shape."""
    path = Path(path)
    config = read_config(path)
    model = ZooModel.from_config(config)
    weights_file = path / "model.safetensors"
    weights = _read_weights(weights_file)
    expected = model.network.state_dict()
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    wrong = sorted(f"{k}: {tuple(weights[k].shape)} for {tuple(expected[k].shape)}"
                   for k in set(expected) & set(weights) if expected[k].shape != weights[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(f"{weights_file} does not fit {config['architecture']} {config.get('network', {})}: "
                         f"missing {missing}, unexpected {unexpected}, wrong shape {wrong}")
    model.network.load_state_dict({k: v.to(expected[k].dtype) for k, v in weights.items()})
    model.eval()
    return model.to(device=device, dtype=dtype) if (device or dtype) else model


def load(name: str, *, revision: str | None = None, device=None, dtype: torch.dtype | None = None,
         local_files_only: bool = False, cache_dir=None, endpoint: str | None = None, token: str | None = None) -> ZooModel:
    """A ready-to-sample ``ZooModel`` by name (see the module docstring); ``model.origin`` says
    where it came from.  No code from the folder ever runs: the config is data and the weights
    are safetensors checked against the registered architecture."""
    found = resolve(name, revision=revision, local_files_only=local_files_only, cache_dir=cache_dir,
                    endpoint=endpoint, token=token)
    model = load_folder(found.path, device=device, dtype=dtype)
    model.origin = found
    return model


@dataclass
class ModelInfo:
    """What ``zoo.info`` reports: where the model came from, what it is and what it measured."""

    name: str
    source: str
    path: Path
    repo_id: str | None
    revision: str | None
    modality: str
    architecture: str
    parameters: int
    sampler: str
    steps: int
    summary: str
    license: str | None
    metrics: dict = field(default_factory=dict)
    note: str = ""


def info(name: str, **options) -> ModelInfo:
    """Card data of a model without building it (``options`` as for ``load``)."""
    found = resolve(name, **options)
    config = read_config(found.path)
    card = (found.path / "README.md").read_text() if (found.path / "README.md").is_file() else ""
    metadata = cards.front_matter(card)
    metrics_file = found.path / "metrics.json"
    sampling = config.get("sampling", {})
    return ModelInfo(
        name=name, source=found.source, path=found.path, repo_id=found.repo_id, revision=found.revision,
        modality=config["modality"], architecture=config["architecture"],
        parameters=cards.count_parameters(found.path / "model.safetensors"),
        sampler=sampling.get("sampler", "unipc"), steps=sampling.get("steps", 20), summary=cards.summary(card),
        license=metadata.get("license"), metrics=json.loads(metrics_file.read_text()) if metrics_file.is_file() else {},
        note=found.note)


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


def draw_samples(model: ZooModel, n: int, *, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """n outputs with the model's defaults, and how they were made.  A modality may provide
    ``preview(model, n, seed=)`` instead (a vocoder has nothing to sample without a mel)."""
    preview = getattr(modality(model.config["modality"]), "preview", None)
    if preview is not None:
        return preview(model, n, seed=seed)
    x, used = model.sample(n, generator=torch.Generator().manual_seed(seed), return_info=True)
    return x, {"sampler": used.sampler, "steps": len(used.ts) - 1, "nfe": used.nfe, "seed": seed}


def write_samples(model: ZooModel, directory, samples: int | torch.Tensor, *, seed: int = 0) -> Path:
    """samples/samples.<preview format> and its manifest entry."""
    adapter = modality(model.config["modality"])
    settings = {"sampler": model.config.get("sampling", {}).get("sampler"),
                "steps": model.config.get("sampling", {}).get("steps")}
    if isinstance(samples, int):
        x, settings = draw_samples(model, samples, seed=seed)
    else:
        x = samples
    path = Path(directory) / "samples" / f"samples{adapter.SAMPLE_FORMATS[0]}"
    adapter.write_samples(x, path, title=f"{model.name}: {settings['sampler']}, {settings['steps']} steps")
    what = settings.pop("what", f"{len(x)} samples drawn with the default sampler")
    cards.add_sample(directory, path.name, what, **settings)
    return path


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
