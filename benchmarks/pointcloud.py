"""Point-cloud sampling speed: clouds per second of the released recipes' networks, and one forward
pass of the point transformer against PyTorch's own ``nn.TransformerEncoder`` of the same width,
depth and heads (the peer: no conditioning, PyTorch's fused inference path).

Weights are random (speed does not depend on them), so no checkpoint is needed:

    python benchmarks/pointcloud.py --device cuda          # GPU
    OMP_NUM_THREADS=2 python benchmarks/pointcloud.py --batch 4 --repeats 1   # CPU

Prints a markdown table: device, recipe, batch, guidance, NFE, clouds/s; then ms per forward pass
(zoo vs peer) with their ratio.  Medians of ``--repeats`` after a warm-up.
"""
from __future__ import annotations

import argparse
import platform
import statistics

import torch
from omegaconf import OmegaConf

from modalities.pointcloud import PointCloudModel
from pointcloud_metrics import timed  # benchmarks/ is the script's folder
from zoo.evaluation import describe_device
from zoo.train import load_recipe


def model_from_recipe(path: str) -> PointCloudModel:
    """A PointCloudModel with the recipe's network, diffusion and sampling settings and random weights."""
    r = load_recipe(path)
    params = OmegaConf.to_container(r.data.params)
    classes = r.network.params.get("num_classes", 0)
    config = {"name": f"pointcloud/{r.name}", "modality": "pointcloud", "architecture": r.network.architecture,
              "network": OmegaConf.to_container(r.network.params),
              "schedule": OmegaConf.to_container(r.diffusion.schedule), "prediction": r.diffusion.prediction,
              "sigma_data": r.diffusion.sigma_data, "sample_shape": [params.get("points", 2048), 3],
              "sampling": {"sampler": r.sampling.sampler, "steps": r.sampling.steps, "timesteps": r.sampling.timesteps,
                           "guidance": r.sampling.guidance, "clip_x0": list(r.sampling.clip_x0 or []) or None},
              "data": {"name": r.data.name, **params}}
    if classes:
        config["null_cond"] = {"label": classes}
    return PointCloudModel.from_config(config)


def median_seconds(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of fn() after one warm-up call (``timed`` of the metrics benchmark synchronises)."""
    fn()
    return statistics.median(timed(fn, device)[0] for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--recipes", nargs="+", default=["recipes/pointcloud/shapes.yaml",
                                                         "recipes/pointcloud/furniture.yaml"])
    args = parser.parse_args()
    device = torch.device(args.device)
    where = describe_device(device) + ("" if device.type == "cuda" else f" ({platform.machine()})")
    print(f"device: {where}; torch {torch.__version__}; batch {args.batch}; median of {args.repeats}\n")
    print("| recipe | guidance | steps | NFE | clouds/s |\n|---|---|---|---|---|")
    for path in args.recipes:
        model = model_from_recipe(path).to(device).eval()
        labels = torch.zeros(args.batch, dtype=torch.long) if model.num_classes else None
        for guidance in ([model.config["sampling"]["guidance"], None] if labels is not None else [None]):
            cond = None if guidance is None else labels
            seconds = median_seconds(lambda: model.sample(args.batch, cond=cond, guidance=guidance,
                                                 generator=torch.Generator().manual_seed(0)), device, args.repeats)
            steps = model.config["sampling"]["steps"]
            print(f"| {model.name} | {guidance if guidance is not None else 'none'} | {steps} | {steps} "
                  f"{'(doubled batch)' if guidance else ''} | {args.batch / seconds:.2f} |")
    print("\n| network (one forward, batch x 2048 points) | zoo ms | peer nn.TransformerEncoder ms | zoo / peer |")
    print("|---|---|---|---|")
    for path in args.recipes[:1]:
        model = model_from_recipe(path).to(device).eval()
        p = model.config["network"]
        peer = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
            p["hidden"], p["heads"], int(p["hidden"] * p.get("mlp_ratio", 4.0)), dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True), p["depth"], enable_nested_tensor=False).to(device).eval()
        x = torch.randn(args.batch, model.sample_shape[0], 3, device=device)
        h = torch.randn(args.batch, model.sample_shape[0], p["hidden"], device=device)
        t = torch.zeros(args.batch, device=device)
        with torch.no_grad():
            ours = median_seconds(lambda: model.network(x, t), device, args.repeats)
            theirs = median_seconds(lambda: peer(h), device, args.repeats)
        print(f"| {model.name} (hidden {p['hidden']}, depth {p['depth']}) | {ours * 1e3:.1f} | {theirs * 1e3:.1f} | "
              f"{ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
