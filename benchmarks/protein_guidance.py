"""Protein backbones with and without guidance by potentials, across samplers: the geometry of
``--n`` backbones (the lengths of the first n held-out chains, clipped to 50..128, as in
``protein-backbone-eval/1``) from one model, each arm from the same seed, beside real training
crops of the same lengths.  Needs the prepared chains (``zoo data prepare protein --source all``):

    python benchmarks/protein_guidance.py                       # protein/backbone, 16 chains
    python benchmarks/protein_guidance.py --model runs/protein/backbone/model --n 32

Prints a markdown table: share of CA-CA distances within 0.2 A of 3.80 A, of angles within 10 degrees,
clashes per residue, Ramachandran-disallowed share, P-SEA helix / strand / coil, phi/psi KL to the
held-out chains, Rg over 2.2 L^0.38, and seconds per 100 residues on this machine.
"""
from __future__ import annotations

import argparse
import time

import torch

import zoo
from modalities.protein.data import dataset
from modalities.protein.evaluation import LENGTHS, score_set

# (label, sample options): the model's own sampler with its guidance, without, and other samplers
ARMS = (("model's sampler, its potentials", {}),
        ("model's sampler, no potentials", {"potentials": False}),
        ("heun 32 (63 NFE), its potentials", {"sampler": "heun", "steps": 32}),
        ("heun 32, no potentials", {"sampler": "heun", "steps": 32, "potentials": False}),
        ("dpmpp_2m 64, its potentials", {"sampler": "dpmpp_2m", "steps": 64}),
        ("dpmpp_2m_sde 64, its potentials", {"sampler": "dpmpp_2m_sde", "steps": 64}),
        ("model's sampler, clash + rg", {"potentials": {"clash": 1.0, "rg": 1.0}}))
KEYS = ("ca_ca_within", "angles_within", "clash_rate", "rama_disallowed", "sse_helix", "sse_strand", "sse_coil",
        "phi_psi_kl", "rg_ratio")


def row(label: str, scores: dict, seconds) -> str:
    sse = " / ".join(f"{scores[k]:.2f}" for k in ("sse_helix", "sse_strand", "sse_coil"))
    speed = "" if seconds is None else f"{seconds:.2f}"
    return (f"| {label} | {scores['ca_ca_within']:.3f} | {scores['angles_within']:.3f} | {scores['clash_rate']:.3f} | "
            f"{scores['rama_disallowed']:.3f} | {sse} | {scores['phi_psi_kl']:.3f} | {scores['rg_ratio']:.2f} | {speed} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="protein/backbone")
    parser.add_argument("--data", default=".data/protein/chains.npz")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", type=int, nargs="+", default=None, help="indices into ARMS (default: all)")
    args = parser.parse_args(argv)
    model = zoo.load(args.model)
    data = dataset("chains", path=args.data)
    held_out = data.reference("test")
    lengths = [min(max(len(c), LENGTHS[0]), LENGTHS[1]) for c in held_out[:args.n]]
    print(f"{model.name}: {len(lengths)} backbones of {min(lengths)}-{max(lengths)} residues, seed {args.seed}; "
          f"sampler {model.config['sampling']['sampler']}, {model.config['sampling']['steps']} steps; potentials "
          f"{model.config['sampling'].get('potentials')}\n")
    print("| arm | CA-CA within 0.2 A | angles within 10 deg | clashes / residue | Rama disallowed | "
          "helix / strand / coil | phi/psi KL | Rg ratio | s / 100 residues |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(row("real chains (training crops)", score_set([c[:n] for c, n in zip(data.reference("train"), lengths)],
                                                          held_out), None))
    for index in args.arms if args.arms is not None else range(len(ARMS)):
        label, options = ARMS[index]
        start = time.perf_counter()
        x = model.sample(len(lengths), length=lengths, generator=torch.Generator().manual_seed(args.seed), **options)
        seconds = (time.perf_counter() - start) / sum(lengths) * 100
        print(row(label, score_set([x[i, :n] for i, n in enumerate(lengths)], held_out), seconds), flush=True)


if __name__ == "__main__":
    main()
