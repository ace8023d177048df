"""Likelihood of the released point-cloud models on held-out clouds, nats per point, and (``--save``)
the result keys added to their ``model_cards/pointcloud/<name>/metrics.json``.

``modalities.pointcloud.likelihood`` with the evaluation's defaults (the first 2 held-out clouds of
the model's data, all 2048 points, 1 Hutchinson probe, dopri5 rtol = atol = 1e-3, seed 0): the
same numbers ``zoo eval`` reports, measured on their own because the rest of the cards' evaluation
ran on a GPU.  The held-out split does not depend on the training split's size, so the shapes
data is made with one training shape per class (seconds instead of minutes); furniture is read
from ``--furniture`` when that prepared file exists (``zoo data prepare pointcloud --source
furniture --out .data/pointcloud/furniture.npz``), else from the installed zip files (~35 s).

    OMP_NUM_THREADS=1 python benchmarks/pointcloud_likelihood.py --save     # 4 to 5 CPU-minutes a model

Prints one JSON line per model; ``--save`` appends the new keys to metrics.json (the other values
and their order are kept; the file is replaced atomically).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import zoo
from modalities.pointcloud import dataset, likelihood
from modalities.pointcloud.evaluation import LIKELIHOOD_N, LIKELIHOOD_PROBES, LIKELIHOOD_TOLERANCE
from zoo.files import atomic_write

CARDS = Path(__file__).resolve().parents[1] / "model_cards"


def held_out_data(model, furniture: str):
    """The model's data (its config's ``data``), with one training shape per class for ``shapes``."""
    params = {k: v for k, v in model.config["data"].items() if k != "name"}
    name = model.config["data"]["name"]
    if name == "shapes":
        params["train_per_class"] = 1
    elif name == "furniture" and params.get("path") is None and Path(furniture).is_file():
        params["path"] = furniture
    return dataset(name, **params)


def save(name: str, result: dict) -> Path:
    """Merge ``result`` into the model's metrics.json: existing keys keep their place, new ones go last."""
    path = CARDS / name / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics.update(result)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(metrics, indent=2) + "\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=["pointcloud/shapes", "pointcloud/furniture"])
    parser.add_argument("--n", type=int, default=LIKELIHOOD_N)
    parser.add_argument("--points", type=int, default=None, help="points per cloud (default: all of the data's)")
    parser.add_argument("--probes", type=int, default=LIKELIHOOD_PROBES)
    parser.add_argument("--tolerance", type=float, default=LIKELIHOOD_TOLERANCE, help="dopri5 rtol and atol")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--furniture", default=".data/pointcloud/furniture.npz")
    parser.add_argument("--save", action="store_true", help="add the keys to the model cards' metrics.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.models:
        model = zoo.load(name, local_files_only=True).to(args.device)
        data = held_out_data(model, args.furniture)
        cpu, wall = time.process_time(), time.perf_counter()
        result = likelihood(model, data, n=args.n, points=args.points, probes=args.probes, rtol=args.tolerance,
                            atol=args.tolerance, seed=args.seed)
        print(json.dumps({"model": name, **result, "cpu_seconds": time.process_time() - cpu,
                          "wall_seconds": time.perf_counter() - wall}), flush=True)
        if args.save:
            print(f"wrote {save(name, result)}")


if __name__ == "__main__":
    main()
