"""Protein backbone sampling speed: seconds per 100-residue backbone for the networks of the
``protein/backbone`` recipe (full and cpu presets) on internal coordinates, with its steric-clash
guidance and without, against the previous design of the same size (the residue transformer on
atom coordinates, EDM with a zero-centre-of-mass prior: what protein/backbone was before
internal coordinates), unconditional and with motif scaffolding (a 16-residue motif); and one
forward pass of the residue transformer against PyTorch's own ``nn.TransformerEncoder`` of the same
width, depth and heads with the same key padding mask (the peer: no noise conditioning, PyTorch's
fused inference path).

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
# the design protein/backbone had before internal coordinates (its recipe then), for comparison
ATOMS = ["network.params.representation=atoms", "data.params.representation=atoms", "diffusion.prediction=edm",
         "diffusion.prior=zero_com", "diffusion.sigma_data=10.0", "diffusion.schedule.sigma_min=0.002",
         "diffusion.schedule.sigma_max=80.0", "sampling.potentials=null"]
ARMS = {"internal, clash guidance": ([], None), "internal, no guidance": ([], False), "atoms (before)": (ATOMS, None)}


def model_from_recipe(preset: str | None, overrides=()) -> ProteinModel:
    """The recipe's model (its network, diffusion and sampling settings) with random weights."""
    recipe = load_recipe(RECIPE, [*([f"preset={preset}"] if preset else []), *overrides])
    data = dataset("ideal", crop=tuple(recipe.data.params.crop), representation=recipe.data.params.representation)
    return ProteinModel.from_config(model_config(recipe, data))  # only the data's shape and config are used


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
    print("| preset | design | network | sampler, steps | unconditional s / 100 residues | scaffolding s / 100 residues |")
    print("|---|---|---|---|---|---|")
    motif = ideal_helix(16).float()
    contig = f"40,A1-16,{args.length - 56}"
    models = {}
    for preset in args.presets:
        for arm, (overrides, potentials) in ARMS.items():
            model = model_from_recipe(None if preset == "full" else preset, overrides).to(device).eval()
            models.setdefault(preset, {})[model.representation] = model
            free = median_seconds(lambda: model.sample(args.batch, length=args.length, potentials=potentials,
                                                       generator=torch.Generator().manual_seed(0)), device, args.repeats)
            held = median_seconds(lambda: model.scaffold(motif, contig, args.batch, potentials=potentials,
                                                         generator=torch.Generator().manual_seed(0)), device, args.repeats)
            per = 100 / (args.batch * args.length)
            p, s = model.config["network"], model.config["sampling"]
            print(f"| {preset} | {arm} | hidden {p['hidden']}, depth {p['depth']} | {s['sampler']}, {s['steps']} | "
                  f"{free * per:.4f} | {held * per:.4f} |")
    print(f"\n| network (one forward, {args.batch} x {args.length} residues, 10% padding) | zoo ms | "
          "peer nn.TransformerEncoder ms | zoo / peer |\n|---|---|---|---|")
    for preset, by_representation in models.items():
        model = by_representation["internal"]
        p = model.config["network"]
        peer = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
            p["hidden"], p["heads"], int(p["hidden"] * p.get("mlp_ratio", 4.0)), dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True), p["depth"], enable_nested_tensor=False).to(device).eval()
        x = torch.randn(args.batch, args.length, *model.residue_shape(), device=device)
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
