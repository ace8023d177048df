"""The protein modality (being built, issue 8): backbone geometry and metrics, PDB/mmCIF files
and contigs, chain data clustered at 95% identity, a residue transformer trained with random
rotations, and ``ProteinModel.sample(n, length=...)``.  No released model yet."""
from . import networks  # noqa: F401  (registers protein/transformer)
from .data import SOURCES, dataset, prepare
from .io import write_backbone
from .model import ProteinModel as Model

NAME = "protein"
SAMPLE_FORMATS = (".pdb", ".cif")


def write_samples(x, path, *, title: str = ""):
    """Backbones (n, L, 4, 3) to PDB/mmCIF (several: ``stem_000.pdb``, ...; see ``io.write_backbone``)."""
    return write_backbone(path, x)


__all__ = ["NAME", "SAMPLE_FORMATS", "Model", "SOURCES", "dataset", "prepare", "write_samples"]
