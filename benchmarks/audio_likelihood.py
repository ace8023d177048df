"""Bits per sample of the released audio models on held-out clips: the likelihood part of ``zoo eval``.

For each model: the first 4 held-out clips of its data file (the fixed split of
modalities/audio/data.py), their centre 22 frames (5,632 samples, 0.26 s), and
``modalities.audio.likelihood.bits_per_sample`` (``zoo.core.log_likelihood``, Hutchinson, dopri5
at rtol = atol = 1e-3, probes seeded 0; the vocoder's density given each clip's mel).  The same
numbers as the last keys of ``zoo eval audio/<name>`` (which runs the whole suite first).
``--write`` appends them to ``model_cards/audio/<name>/metrics.json`` (the other values kept; the
"device" value of the digits file, which had none, is where the likelihood ran).

    zoo data prepare audio --source tuxpaint minutes=20
    zoo data prepare audio --source digits n=2000
    python benchmarks/audio_likelihood.py [--write] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import zoo
from modalities.audio import MODALITY
from modalities.audio.likelihood import CLIPS, bits_per_sample
from zoo.cards import write_json
from zoo.evaluation import describe_device

CARDS = Path(__file__).resolve().parents[1] / "model_cards"


def measure(name: str, seed: int = 0) -> tuple[dict, float, float]:
    """(likelihood results, CPU seconds, wall seconds) of one released model."""
    model = zoo.load(name, local_files_only=True)
    data = MODALITY.dataset(**model.config["data"])
    clips = data.clips("heldout").heldout_utterances(CLIPS)
    cpu, wall = time.process_time(), time.perf_counter()
    found = bits_per_sample(model, clips, seed=seed)
    return found, time.process_time() - cpu, time.perf_counter() - wall


def update(name: str, found: dict) -> Path:
    """Append ``found`` to the model's metrics.json (keys it already has are replaced in place; its
    device is migrated to zoo.evaluation's format, "CPU, 1 thread")."""
    path = CARDS / name / "metrics.json"
    metrics = json.loads(path.read_text())
    if isinstance(metrics.get("device"), str) and metrics["device"].startswith("CPU ("):  # "CPU (1 threads)"
        threads = int(metrics["device"].split("(")[1].split()[0])
        metrics["device"] = f"CPU, {threads} thread" + ("s" if threads != 1 else "")
    metrics.pop("threads", None)
    metrics.update(found)
    if "device" not in metrics:
        metrics["device"] = describe_device("cpu")
    return write_json(path, metrics)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[r.name for r in MODALITY.releases])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="append the results to the models' metrics.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.models:
        found, cpu, wall = measure(name)
        print(f"{name}: {json.dumps(found)}  ({cpu:.1f} CPU s, {wall:.1f} s wall, {describe_device('cpu')})",
              flush=True)
        if args.write:
            print(f"  wrote {update(name, found)}")


if __name__ == "__main__":
    main()
