"""The training record of a model folder: ``training/run.json``, one history over many segments.

A model may be trained in many short runs on different machines (``zoo train RECIPE --continue
MODEL``); each run is one *segment* and the folder's record lists them all::

    {"segments": [{"device": "CPU, 2 threads", "processes": 1, "precision": "fp32",
                   "first_step": 0, "last_step": 20000, "steps": 20000, "seconds": 632.1,
                   "date": "2026-12-02T03:40:00Z", "commit": "07956f9...", "torch": "2.14.1",
                   "final_loss": 0.258, "start": "scratch"}, ...],
     "totals": {"segments": 1, "steps": 20000, "seconds": 632.1, "by_device": {"CPU": 632.1}},
     "releases": [{"date": ..., "metric": "sliced_w2", "candidate": 0.09, "current": 0.11,
                   "verdict": "better", "forced": false}]}

``device`` is written as :func:`zoo.evaluation.describe_device` writes it; ``start`` says how a segment
began: ``scratch``, ``state`` (the optimizer state stored beside the weights it continued) or
``warm`` (a fresh optimizer, see the README's "Training in segments"); ``stopped`` (optional) why it
ended before its planned steps.  ``releases`` records each ``zoo release`` that put these weights in
place.  Records written before segments existed (one run's ``device``, ``steps``, ``seconds`` at the
top level) read as one segment.
"""
from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

__all__ = ["segments", "totals", "record", "with_release", "summary", "gpu_trained", "project_commit", "now"]

SEGMENT_KEYS = ("device", "processes", "precision", "first_step", "last_step", "steps", "seconds", "date", "commit")


def now() -> str:
    """The current UTC time, as the record writes dates (ISO 8601, seconds)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def project_commit() -> str | None:
    """The git commit of the checkout this package runs from (with ``-dirty`` when it has uncommitted
    changes), or None when it is not run from a git checkout (an installed wheel)."""
    top = Path(__file__).resolve().parent.parent
    if not (top / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(top), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(top), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def segments(run: dict | None) -> list[dict]:
    """The segments of a record (a legacy one-run record as one segment; [] for None)."""
    if not run:
        return []
    if "segments" in run or "steps" not in run:
        return list(run.get("segments", []))
    legacy = {"device": run.get("device", "unknown"), "processes": run.get("processes", 1),
              "precision": run.get("precision", "fp32"), "first_step": 0, "last_step": run.get("steps", 0),
              "steps": run.get("steps", 0), "seconds": run.get("seconds", 0.0), "date": None, "commit": None,
              "start": "scratch"}
    legacy.update({k: run[k] for k in ("final_loss", "torch", "stopped") if k in run})
    return [legacy]


def _device_kind(device: str) -> str:
    """A device description without its thread count: "CPU, 2 threads" -> "CPU"."""
    return "CPU" if str(device).startswith("CPU") else str(device)


def totals(parts: list[dict]) -> dict:
    """Segments, steps and seconds summed, and seconds by device (CPUs counted together)."""
    by_device: dict[str, float] = {}
    for part in parts:
        kind = _device_kind(part["device"])
        by_device[kind] = round(by_device.get(kind, 0.0) + float(part["seconds"]), 1)
    return {"segments": len(parts), "steps": sum(int(p["steps"]) for p in parts),
            "seconds": round(sum(float(p["seconds"]) for p in parts), 1), "by_device": by_device}


def record(previous: dict | None, segment: dict) -> dict:
    """The record of ``previous`` (a run.json, or None for a model trained from scratch) with one more
    ``segment`` (it needs every key of ``SEGMENT_KEYS``); earlier releases are kept."""
    missing = [k for k in SEGMENT_KEYS if k not in segment]
    if missing:
        raise ValueError(f"a training segment needs {missing}")
    parts = [*segments(previous), segment]
    out = {"segments": parts, "totals": totals(parts)}
    if previous and previous.get("releases"):
        out["releases"] = list(previous["releases"])
    return out


def with_release(run: dict | None, entry: dict) -> dict:
    """The record ``run`` (any form, or None) with one more ``releases`` entry."""
    parts = segments(run)
    out = {"segments": parts, "totals": totals(parts)} if parts else {}
    return {**out, "releases": [*(run or {}).get("releases", []), entry]}


def gpu_trained(run: dict | None) -> bool:
    """Whether any segment of the record ran on a GPU."""
    return any(_device_kind(p["device"]) != "CPU" for p in segments(run))


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{minutes:.0f} min" if minutes >= 10 else f"{minutes:.1f} min"


def summary(run: dict | None) -> str:
    """One line for a card: "trained 42 min on NVIDIA H100 80GB HBM3 and 75 min on CPU in 4 segments,
    23,000 steps"; "" for no record."""
    parts = segments(run)
    if not parts:
        return ""
    total = totals(parts)
    gpus_first = sorted(total["by_device"].items(), key=lambda item: item[0] == "CPU")
    places = [f"{_minutes(seconds)} on {device}" for device, seconds in gpus_first]
    where = " and ".join([", ".join(places[:-1]), places[-1]] if len(places) > 1 else places)
    count = f"in {total['segments']} segments" if total["segments"] > 1 else "in one segment"
    return f"trained {where} {count}, {total['steps']:,} steps"
