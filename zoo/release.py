"""``zoo release CANDIDATE CURRENT --if-better``: a model folder replaces a release only when it is better.

Both folders are evaluated with their modality's suite in the same process, with the same seed and
the same number of samples, on the data of CURRENT; the modality's primary metric for that
protocol (``Modality.primary_for``) decides.  A better CANDIDATE (or any, with ``force``) replaces
CURRENT in one atomic exchange of folders: the new CURRENT holds CANDIDATE's weights, samples,
training record and state, CURRENT's name, hand-written card prose and reference samples (data, not
outputs: a vocoder's recordings), the new evaluation as
metrics.json, a regenerated card, and the release in its record (``training/run.json``
``releases``).  Otherwise nothing under CURRENT is touched.
"""
from __future__ import annotations

import fnmatch
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from . import cards, runs
from .evaluation import describe_device
from .files import exchange_folders, write_yaml
from .folder import MODEL_FILES, load_folder, read_config
from .modality import Metric
from .registry import modality

__all__ = ["Verdict", "release"]

# files of a folder that describe its own weights' evaluation: the release measures them afresh
MEASURED = ("metrics.json", "quality_vs_nfe.json", "samples/quality_vs_nfe.png")


@dataclass(frozen=True)
class Verdict:
    """What ``release`` measured and did: the metric, both values, whether CANDIDATE is better, whether
    CURRENT was replaced, and the settings both were evaluated with."""

    metric: Metric
    candidate: float
    current: float
    better: bool
    replaced: bool
    protocol: str
    n: int
    seed: int
    device: str
    notes: tuple[str, ...] = ()


def _folder(path, role: str) -> tuple[Path, dict]:
    path = Path(path)
    try:
        return path, read_config(path)
    except ValueError as error:
        raise ValueError(f"{role} {path}: {error}") from None


def _check_pair(candidate: Path, a: dict, current: Path, b: dict) -> list[str]:
    """Refuse a pair that cannot be compared; return notes on what differs but does not matter."""
    if candidate.resolve() == current.resolve():
        raise ValueError(f"CANDIDATE and CURRENT are the same folder ({current})")
    if a["modality"] != b["modality"]:
        raise ValueError(f"CANDIDATE {candidate} is a {a['modality']} model, CURRENT {current} a {b['modality']} model")
    data_a, data_b = a.get("data", {}), b.get("data", {})
    if data_a.get("name") != data_b.get("name"):
        raise ValueError(f"other data: CANDIDATE {candidate} was trained on {data_a.get('name')!r}, CURRENT {current} "
                         f"on {data_b.get('name')!r}")
    for key in ("frontend", "class_names"):
        if a.get(key) != b.get(key):
            raise ValueError(f"other data: CANDIDATE and CURRENT differ in {key} ({a.get(key)!r} against {b.get(key)!r})")
    return [f"data.{k}: {data_a.get(k)!r} in CANDIDATE, {data_b.get(k)!r} in CURRENT"
            for k in sorted(set(data_a) | set(data_b)) if k != "path" and data_a.get(k) != data_b.get(k)]


def release(candidate, current, *, force: bool = False, n: int | None = None, seed: int = 0,
            device: str | None = None, report=print) -> Verdict:
    """Evaluate model folders ``candidate`` and ``current`` alike and replace ``current`` by ``candidate``
    if it is better on the primary metric (or regardless, with ``force``).  ``report(line)`` gets the
    progress lines.  Bad input (not a model folder, another modality, other data) is a ValueError."""
    candidate, a = _folder(candidate, "CANDIDATE")
    current, b = _folder(current, "CURRENT")
    notes = _check_pair(candidate, a, current, b)
    declared = modality(b["modality"])
    data = declared.dataset(**b["data"])
    results = {}
    for role, path in (("CANDIDATE", candidate), ("CURRENT", current)):
        report(f"evaluating {role} {path} ...")
        start = time.perf_counter()
        model = load_folder(path, device=device)
        results[role] = {**declared.evaluate(model, data, seed=seed, n=n),
                         "eval_seconds": round(time.perf_counter() - start, 1)}
    protocols = {r["protocol"] for r in results.values()}
    if len(protocols) != 1:
        raise ValueError(f"CANDIDATE and CURRENT are judged by different protocols ({sorted(protocols)})")
    protocol = protocols.pop()
    metric = declared.primary_for(protocol)
    values = {role: r.get(metric.key) for role, r in results.items()}
    bad = {role: v for role, v in values.items() if not isinstance(v, (int, float)) or isinstance(v, bool)}
    if bad:
        raise ValueError(f"the evaluation ({protocol}) gave no number for its primary metric {metric.key}: {bad}")
    better = metric.better(values["CANDIDATE"], values["CURRENT"])
    settings = results["CURRENT"]
    verdict = Verdict(metric, float(values["CANDIDATE"]), float(values["CURRENT"]), better, better or force, protocol,
                      settings.get("n"), seed, describe_device(device or "cpu"), tuple(notes))
    if verdict.replaced:
        _replace(candidate, current, b, results["CANDIDATE"], verdict, forced=force and not better)
    return verdict


def _model_files(folder: Path) -> list[str]:
    """The files of a model folder that a release carries (``MODEL_FILES``), relative to it."""
    found = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return [f for f in found if any(fnmatch.fnmatch(f, pattern) for pattern in MODEL_FILES)
            and f not in MEASURED and f not in ("README.md", "config.yaml") and "/." not in f"/{f}"]


def _keep_reference_samples(current: Path, staging: Path) -> None:
    """Sample files of CURRENT that are data rather than outputs (their manifest entry names no sampler, e.g.
    a vocoder's reference recordings) and that the candidate lacks: kept, with their entries."""
    manifest = cards.read_json(current / "samples" / "manifest.json") or {"files": []}
    for entry in manifest["files"]:
        source, target = current / "samples" / entry["file"], staging / "samples" / entry["file"]
        if "sampler" not in entry and source.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            cards.add_sample(staging, entry["file"], entry.get("what", ""),
                             **{k: v for k, v in entry.items() if k not in ("file", "what")})


def _replace(candidate: Path, current: Path, current_config: dict, results: dict, verdict: Verdict, *,
             forced: bool) -> None:
    staging = current.parent / f".{current.name}.release-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for file in _model_files(candidate):
            (staging / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(candidate / file, staging / file)
        _keep_reference_samples(current, staging)
        name = current_config.get("name") or read_config(candidate).get("name")
        write_yaml(staging / "config.yaml", {**read_config(candidate), "name": name})
        if (current / "README.md").is_file():  # the release's hand-written prose stays
            shutil.copy2(current / "README.md", staging / "README.md")
        cards.write_json(staging / "metrics.json", {**results, "model": name})
        entry = {"date": runs.now(), "metric": verdict.metric.key, "candidate": verdict.candidate,
                 "current": verdict.current, "verdict": "better" if verdict.better else "not better",
                 "forced": forced, "protocol": verdict.protocol, "n": verdict.n, "seed": verdict.seed,
                 "device": verdict.device}
        record = runs.with_release(cards.read_json(staging / "training" / "run.json"), entry)
        cards.write_json(staging / "training" / "run.json", record)
        cards.write_card(staging, load_name=cards.default_load_name(current, {"name": name}))
        exchange_folders(staging, current)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # after the exchange: the folder CURRENT was
