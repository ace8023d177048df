"""The protein modality: backbones (N, CA, C, O per residue, Angstrom) of variable length with a
zero-centre-of-mass prior; a residue transformer trained with random rotations; motif scaffolding
by inpainting; PDB/mmCIF files (Biopython) and contigs; real chains clustered at 95% identity;
the ``protein-backbone-eval/1`` suite (geometry, clashes, Ramachandran, P-SEA, Rg, TM diversity).

Registered through the ``zoo.modalities`` entry point; ``Model`` (ProteinModel):
``sample(n, length=100)`` -> (n, L, 4, 3), ``scaffold("motif.pdb", "10-20,A5-15,30-40", n)``.
"""
from pathlib import Path

from zoo.registry import release

from . import networks  # noqa: F401  (registers protein/transformer)
from .card import card_facts
from .data import SOURCES, dataset, prepare
from .evaluation import PROTOCOL, evaluate, preview
from .io import parse_contig, read_structure, residue_mask, write_backbone, write_preview
from .model import ProteinModel as Model
from .model import Scaffolds

NAME = "protein"
SAMPLE_FORMATS = (".png", ".pdb", ".cif")  # the first is the preview format (cards, zoo demo)
FOLDER_FORMAT = ".pdb"  # zoo sample -o DIR/ writes DIR/<name>_000.pdb, ...
DEMO_N = 8

release("protein/backbone", architecture="protein/transformer", repo_id="diffusion-zoo/protein-backbone")


def write_samples(x, path, *, title: str = "", mask=None):
    """Backbones (n, L, 4, 3) (zero padding = absent residues, or ``mask`` (n, L)) to ``path``:
    ``.png`` a preview grid; ``.pdb`` / ``.cif`` one file per backbone, ``stem_000.pdb``, ...
    (a single backbone (L, 4, 3) to ``path`` itself).  Returns the path or the list of paths."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAMPLE_FORMATS:
        raise ValueError(f"{path}: protein samples are written as {list(SAMPLE_FORMATS)}")
    if getattr(x, "ndim", None) == 4 and mask is None:
        mask = residue_mask(x)
    if suffix == ".png":
        return write_preview(path, x if x.ndim == 4 else x[None], mask=mask, title=title)
    return write_backbone(path, x, mask=mask)


__all__ = ["NAME", "SAMPLE_FORMATS", "FOLDER_FORMAT", "DEMO_N", "Model", "Scaffolds", "SOURCES", "dataset", "prepare",
           "evaluate", "preview", "PROTOCOL", "card_facts", "parse_contig", "read_structure", "write_backbone",
           "write_preview", "write_samples"]
