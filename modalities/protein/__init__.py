"""The protein modality: backbones (N, CA, C, O per residue, Angstrom) of variable length with a
zero-centre-of-mass prior; a residue transformer trained with random rotations; motif scaffolding
by inpainting; PDB/mmCIF files (Biopython) and contigs; real chains clustered at 95% identity;
the ``protein-backbone-eval/1`` suite (geometry, clashes, Ramachandran, P-SEA, Rg, TM diversity,
nats per residue).

Declared once as ``MODALITY`` (``zoo.modality.Modality``, named by the ``zoo.modalities`` entry
point).  Its models are ``ProteinModel``: ``sample(n, length=100)`` -> (n, L, 4, 3),
``scaffold("chain.pdb", "10-20,A41-56,10-20", n)`` (``Scaffolds``).  What users import:
``from modalities.protein import io`` (``io.write_backbone``, ``io.read_structure``,
``io.parse_contig``), ``geometry`` and ``metrics``.
"""
from zoo.modality import PICTURE, Defaults, Metric, Modality, Release, SampleFormat

from . import geometry, io, metrics, networks  # noqa: F401  (networks registers protein/transformer)
from .card import card
from .cli import CLI
from .data import SOURCES, dataset, prepare, smoke_datasets
from .evaluation import evaluate, preview, sample_metrics
from .io import parse_contig, read_structure, write_backbone, write_preview
from .model import ProteinModel, Scaffolds

# Sizes of `zoo sample` and `zoo demo`, measured on the 2-core CPU (torch 2.14; protein/backbone:
# dpmpp_2m_sde, 64 steps, 100-residue chains) while other jobs shared it (load 3-6 on 2 cores):
# `zoo sample protein/backbone -o x.png` with both threads took 15-35 s wall for -n 8 (also to a
# folder of 8 .pdb files) but 69-71 s for -n 16 (threads spin against the other jobs; one thread:
# 21 s wall, 11.5 CPU-s to sample 16 chains, 1.8 s the .png, 0.7 s the .pdb files, 2.4 s imports
# and loading; 0.7 GB resident).  Idle, both threads sample at 0.16 s per 100 residues
# (benchmarks/results/protein-cpu.md): -n 8 is then about 5 s with the imports.  The demo: 8
# chains of 60..120 residues at the model's 64 steps (the card's samples.png) took 8 CPU-s on one
# busy thread (16 s wall; 121 s with two spinning threads), about 2 s idle; it draws 4 (60, 80,
# 100, 120 residues): about 4 CPU-s.
DEFAULTS = Defaults(n=8, demo_n=4, steps=None, demo_steps=None)

MODALITY = Modality(
    name="protein",
    model_class=ProteinModel,
    dataset=dataset,
    sources=SOURCES,
    prepare=prepare,
    formats=(
        SampleFormat(".png", io.write, embed=PICTURE),  # the preview: CA traces in a grid
        # 3 decimals (5e-4 A), and float32 rounding of coordinates up to 100 A
        SampleFormat(".pdb", io.write, io.read, per_sample=True, precision=5.05e-4),
        SampleFormat(".cif", io.write, io.read, per_sample=True, precision=5.05e-4),
    ),
    folder_format=".pdb",  # zoo sample -o DIR/ writes DIR/<name>_000.pdb, ...
    preview=preview,
    defaults=DEFAULTS,
    evaluate=evaluate,
    sample_metrics=sample_metrics,
    smoke_datasets=smoke_datasets,
    nfe_metrics=(Metric("bonds_within", "bonds within 0.1 A", False), Metric("clash_rate", "clashes / residue", True)),
    primary=Metric("phi_psi_kl", "phi/psi KL to held-out chains", True),
    likelihood="nats_per_residue",
    card=card,
    cli=CLI,
    releases=(Release("protein/backbone", architecture="protein/transformer", repo_id="diffusion-zoo/protein-backbone"),),
)

__all__ = ["MODALITY", "ProteinModel", "Scaffolds", "io", "geometry", "metrics", "parse_contig", "read_structure",
           "write_backbone", "write_preview"]
