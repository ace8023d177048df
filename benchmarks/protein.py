"""Protein backbone sampling speed: seconds per 100-residue backbone for the networks of the
``protein/backbone`` recipe (full and cpu presets), unconditional and with motif scaffolding (a
16-residue motif superposed at every step); and one forward pass of the residue transformer
against PyTorch's own ``nn.TransformerEncoder`` of the same width, depth and heads with the same
key padding mask (the peer: no noise conditioning, PyTorch's fused inference path).

Weights are random (speed does not depend on them), so neither a checkpoint nor the data is needed:

    python benchmarks/protein.py --device cuda --batch 64      # GPU
    OMP_NUM_THREADS=2 python benchmarks/protein.py --batch 8    # CPU

Prints markdown tables; medians of ``--repeats`` after a warm-up.
"""
from __future__ import annotations

import argparse

import torch

from modalities.protein import ProteinModel
from modalities.protein.data import dataset
from modalities.protein.geometry import ideal_helix
from pointcloud import median_seconds  # benchmarks/ is the script's folder
from zoo.evaluation import describe_device
from zoo.train import load_recipe
from zoo.train.loop import model_config

RECIPE = "recipes/protein/backbone.yaml"


def model_from_recipe(preset: str | None) -> ProteinModel:
    """The recipe's model (its network, diffusion and sampling settings) with random weights."""
    recipe = load_recipe(RECIPE, [f"preset={preset}"] if preset else [])
    data = dataset("ideal", crop=tuple(recipe.data.params.crop))  # only its shape and config are used
    return ProteinModel.from_config(model_config(recipe, data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presets", nargs="+", default=["full", "cpu"])
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device: {describe_device(device)}; torch {torch.__version__}; batch {args.batch} x {args.length} residues; "
          f"median of {args.repeats}\n")
    print("| preset | network | sampler, steps | unconditional s / 100 residues | scaffolding s / 100 residues |")
    print("|---|---|---|---|---|")
    motif = ideal_helix(16).float()
    contig = f"40,A1-16,{args.length - 56}"
    models = {}
    for preset in args.presets:
        model = models[preset] = model_from_recipe(None if preset == "full" else preset).to(device).eval()
        free = median_seconds(lambda: model.sample(args.batch, length=args.length,
                                                   generator=torch.Generator().manual_seed(0)), device, args.repeats)
        held = median_seconds(lambda: model.scaffold(motif, contig, args.batch,
                                                     generator=torch.Generator().manual_seed(0)), device, args.repeats)
        per = 100 / (args.batch * args.length)
        p, s = model.config["network"], model.config["sampling"]
        print(f"| {preset} | hidden {p['hidden']}, depth {p['depth']} | {s['sampler']}, {s['steps']} | "
              f"{free * per:.4f} | {held * per:.4f} |")
    print(f"\n| network (one forward, {args.batch} x {args.length} residues, 10% padding) | zoo ms | "
          "peer nn.TransformerEncoder ms | zoo / peer |\n|---|---|---|---|")
    for preset, model in models.items():
        p = model.config["network"]
        peer = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
            p["hidden"], p["heads"], int(p["hidden"] * p.get("mlp_ratio", 4.0)), dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True), p["depth"], enable_nested_tensor=False).to(device).eval()
        x = torch.randn(args.batch, args.length, 4, 3, device=device)
        mask = torch.arange(args.length, device=device)[None] < int(0.9 * args.length)
        mask = mask.expand(args.batch, -1)
        h = torch.randn(args.batch, args.length, p["hidden"], device=device)
        t = torch.zeros(args.batch, device=device)
        with torch.no_grad():
            ours = median_seconds(lambda: model.network(x, t, mask=mask), device, args.repeats)
            theirs = median_seconds(lambda: peer(h, src_key_padding_mask=~mask), device, args.repeats)
        print(f"| {preset} (hidden {p['hidden']}, depth {p['depth']}) | {ours * 1e3:.2f} | {theirs * 1e3:.2f} | "
              f"{ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
