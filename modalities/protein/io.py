"""Protein structure files (PDB / mmCIF) with Biopython's ``Bio.PDB``, and motif contigs.

A backbone is an array (L, 4, 3) of the atoms N, CA, C, O of each residue, in Angstrom.

Reading (``read_structure``, ``chains_from_structure``):

- ``.pdb``, ``.ent``, ``.cif`` / ``.mmcif``, each optionally ``.gz`` or ``.bz2``, through an open
  handle; a PDB file that fails to parse is retried with every line cut to 78 columns (old files
  put junk in the charge columns); nothing parsed -> ``ValueError`` naming the file.
- Only the first model.  A residue is kept when it is an amino acid (one of the 20 standard
  names, ``UNK``, or a modified amino acid Biopython knows, e.g. ``MSE`` -> ``M``; anything
  else unknown -> ``X``, waters and ligands dropped) and has all four of N, CA, C, O; for
  alternate locations Biopython's default (the highest occupancy) is used.
- ``residue_ids`` are the author numbers with the insertion codes dropped (so they can repeat:
  ``52, 52, 53`` for ``52, 52A, 53``); ``insertion_codes`` keeps them.
- Kept residues stay in file order; ``breaks`` lists the i with |CA(i) - CA(i+1)| > 4.2 A (a
  missing residue or a gap), so users can skip or split the chain (``data.py`` splits).

Writing (``write_backbone``): one model, chain ``chain_id``, residues numbered from 1 by position
(masked-out residues are left out, so the numbering shows the gap), atoms N, CA, C, O (and CB
for every non-glycine residue, placed with ideal geometry from N, CA, C); PDB (``PDBIO``) or
mmCIF (``MMCIFIO``) by the suffix; atomic.  A batch (B, L, 4, 3) goes to one file per backbone,
``<stem>_000<suffix>``, ``<stem>_001<suffix>``, ... (easier for per-structure tools than a
multi-model file).

Samples (``write``, ``read``: the modality's sample formats, ``.png`` previews and ``.pdb`` / ``.cif``
files, one per backbone) go through the two writers below and come back through ``read``.

Previews (``write_preview``): a PNG grid, one cell per backbone, its CA trace drawn in 3-D and
coloured from the N terminus (blue) to the C terminus (red), every cell at the same scale.

Contigs for motif scaffolding (``parse_contig``): comma-separated items, spaces ignored:

- ``N`` or ``A-B`` (digits only): a generated stretch of exactly N residues / between A and B
  residues (inclusive, 0 <= A <= B);
- ``<chain><start>-<end>`` or ``<chain><n>``: residues start..end (inclusive, author numbering,
  numbers may be negative) of that chain of the motif file, copied in order; every number in the
  range must exist (without insertion code) and have a full backbone.

E.g. ``"10-20,A5-15,30-40"``: 10 to 20 new residues, residues 5..15 of chain A, 30 to 40 new.
"""
from __future__ import annotations

import bz2
import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from Bio.Data.PDBData import protein_letters_1to3, protein_letters_3to1_extended
from Bio.PDB import MMCIFIO, PDBIO, MMCIFParser, PDBParser
from Bio.PDB.Atom import Atom
from Bio.PDB.Chain import Chain as BioChain
from Bio.PDB.Model import Model
from Bio.PDB.Residue import Residue
from Bio.PDB.Structure import Structure

from zoo.files import atomic_write

__all__ = ["BACKBONE_ATOMS", "BREAK_DISTANCE", "Chain", "Generated", "Motif", "read_structure", "parse_structure",
           "chains_from_structure", "ideal_cb", "write_backbone", "write_preview", "residue_mask", "write", "read",
           "SAMPLE_SUFFIXES", "parse_contig", "sample_contig", "motif_from_pdb"]

BACKBONE_ATOMS = ("N", "CA", "C", "O")
BREAK_DISTANCE = 4.2  # Angstrom; consecutive CA atoms are 3.80 A apart (3.0 for a rare cis peptide)
_STANDARD = {"ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE", "LEU", "LYS", "MET", "PHE",
             "PRO", "SER", "THR", "TRP", "TYR", "VAL"}
_PDB_SUFFIXES = {".pdb", ".ent"}
_CIF_SUFFIXES = {".cif", ".mmcif"}


@dataclass
class Chain:
    """One protein chain: ``backbone`` (L, 4, 3) float32 (N, CA, C, O); ``sequence`` one letter per
    residue; ``residue_ids`` (L,) author numbers; ``breaks`` indices i with a CA(i)-CA(i+1) gap."""
    id: str
    sequence: str
    backbone: np.ndarray
    residue_ids: list[int]
    insertion_codes: str = ""
    breaks: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sequence)


# ----------------------------------------------------------------------------------------------- reading

def _kind(name: str) -> tuple[str, str | None]:
    """("pdb" | "cif", compression) from a file name."""
    suffixes = [s.lower() for s in Path(name).suffixes]
    compression = None
    if suffixes and suffixes[-1] in (".gz", ".bz2"):
        compression = suffixes.pop()
    last = suffixes[-1] if suffixes else ""
    if last in _PDB_SUFFIXES:
        return "pdb", compression
    if last in _CIF_SUFFIXES:
        return "cif", compression
    raise ValueError(f"{name}: not a structure file name (expected .pdb, .ent, .cif or .mmcif, optionally .gz/.bz2)")


def _stem(name: str) -> str:
    stem = Path(name).name
    for suffix in (".gz", ".bz2", ".pdb", ".ent", ".cif", ".mmcif"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem or "structure"


def parse_structure(data: bytes, name: str):
    """A Bio.PDB Structure from the bytes of a file called ``name`` (its suffix picks the format and
    the decompression); ``ValueError`` naming ``name`` when nothing parses."""
    kind, compression = _kind(name)
    try:
        if compression == ".gz":
            data = gzip.decompress(data)
        elif compression == ".bz2":
            data = bz2.decompress(data)
        text = data.decode("utf-8", errors="replace")
    except Exception as error:
        raise ValueError(f"{name}: cannot decompress ({error})") from None
    stem = _stem(name)
    if kind == "cif":
        attempts = [lambda: MMCIFParser(QUIET=True).get_structure(stem, io.StringIO(text))]
    else:
        cut = "\n".join(line[:78] for line in text.splitlines())
        attempts = [lambda: PDBParser(QUIET=True).get_structure(stem, io.StringIO(text)),
                    lambda: PDBParser(QUIET=True).get_structure(stem, io.StringIO(cut))]
    problem = "no atoms"
    for attempt in attempts:
        try:
            structure = attempt()
        except Exception as error:  # Biopython raises many kinds on malformed input
            problem = f"{type(error).__name__}: {error}"
            continue
        if any(True for _ in structure.get_atoms()):
            return structure
    raise ValueError(f"{name}: no structure could be parsed ({problem})")


def read_structure(path):
    """A Bio.PDB Structure from a .pdb / .ent / .cif / .mmcif file, optionally .gz or .bz2."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    return parse_structure(path.read_bytes(), str(path))


def _letter(residue) -> str | None:
    """The one-letter code of an amino-acid residue, None for anything else."""
    name = residue.get_resname().strip().upper()
    hetflag = residue.id[0]
    if hetflag == "W":
        return None
    if name in _STANDARD:
        return protein_letters_3to1_extended[name]
    if name == "UNK":
        return "X"
    if name in protein_letters_3to1_extended:  # modified amino acids, e.g. MSE
        letter = protein_letters_3to1_extended[name]
        return letter if len(letter) == 1 and letter.isalpha() else "X"
    return None


def _backbone(residue) -> np.ndarray | None:
    if not all(atom in residue for atom in BACKBONE_ATOMS):
        return None
    return np.stack([residue[atom].coord for atom in BACKBONE_ATOMS]).astype(np.float32)


def _ca_breaks(backbone: np.ndarray) -> list[int]:
    if len(backbone) < 2:
        return []
    gaps = np.linalg.norm(backbone[1:, 1] - backbone[:-1, 1], axis=-1)
    return [int(i) for i in np.flatnonzero(gaps > BREAK_DISTANCE)]


def chains_from_structure(structure, name: str | None = None) -> list[Chain]:
    """The protein chains of the first model (see the module docstring for the rules); chains with
    no kept residue are left out.  ``id`` is ``<name or structure id>_<chain id>``."""
    models = list(structure)
    if not models:
        return []
    name = name if name is not None else str(structure.id)
    out = []
    for bio_chain in models[0]:
        letters, coords, numbers, codes = [], [], [], []
        for residue in bio_chain:
            letter = _letter(residue)
            if letter is None:
                continue
            xyz = _backbone(residue)
            if xyz is None:
                continue
            letters.append(letter)
            coords.append(xyz)
            numbers.append(int(residue.id[1]))
            codes.append(residue.id[2] if residue.id[2].strip() else " ")
        if not letters:
            continue
        backbone = np.stack(coords)
        out.append(Chain(id=f"{name}_{bio_chain.id.strip() or '_'}", sequence="".join(letters), backbone=backbone,
                         residue_ids=numbers, insertion_codes="".join(codes), breaks=_ca_breaks(backbone)))
    return out


# ----------------------------------------------------------------------------------------------- writing

CB_BOND, CB_ANGLE, CB_DIHEDRAL = 1.53, 110.5, -122.6  # CA-CB (A); N-CA-CB (deg); C-N-CA-CB (deg)


def ideal_cb(backbone) -> np.ndarray:
    """Ideal CB positions (L, 3) from N, CA, C of ``backbone`` (L, >=3, 3): CA-CB 1.53 A, angle
    N-CA-CB 110.5 deg, dihedral C-N-CA-CB -122.6 deg (an L-amino acid)."""
    x = np.asarray(backbone, dtype=np.float64)
    n, ca, c = x[:, 0], x[:, 1], x[:, 2]
    # Place D bonded to C3=ca given the chain C1=c, C2=n, C3=ca (natural extension reference frame).
    bc = ca - n
    bc /= np.linalg.norm(bc, axis=-1, keepdims=True)
    normal = np.cross(n - c, bc)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    frame = np.stack([bc, np.cross(normal, bc), normal], axis=-1)  # columns
    angle, torsion = np.radians(CB_ANGLE), np.radians(CB_DIHEDRAL)
    local = CB_BOND * np.array([-np.cos(angle), np.sin(angle) * np.cos(torsion), np.sin(angle) * np.sin(torsion)])
    return ca + frame @ local


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _structure(backbone: np.ndarray, mask, names: list[str], chain_id: str, bfactors) -> Structure:
    structure, model, chain = Structure("backbone"), Model(0), BioChain(chain_id)
    structure.add(model)
    model.add(chain)
    cb = np.zeros((len(backbone), 3))
    cb[mask] = ideal_cb(backbone[mask])  # not for padding: its zero atoms have no frame
    serial = 1
    for i in range(len(backbone)):
        if not mask[i]:
            continue
        residue = Residue((" ", i + 1, " "), names[i], "    ")
        atoms = list(zip(BACKBONE_ATOMS, backbone[i]))
        if names[i] != "GLY":
            atoms.append(("CB", cb[i]))
        for atom_name, xyz in atoms:
            residue.add(Atom(atom_name, np.asarray(xyz, dtype=np.float32), float(bfactors[i]), 1.0, " ",
                             f" {atom_name:<3}", serial, element=atom_name[0]))
            serial += 1
        chain.add(residue)
    return structure


def write_backbone(path, backbone, *, mask=None, residue: str = "GLY", chain_id: str = "A",
                   sequence: str | None = None, bfactors=None):
    """Write a backbone (L, 4, 3) to ``path`` (.pdb or .cif) and return the Path; a batch
    (B, L, 4, 3) goes to ``<stem>_000<suffix>``, ... and the list of Paths is returned.

    mask: (L,) or (B, L) bool, False residues are left out; residue: the name of every residue
    ("GLY" or "ALA", ALA gets an ideal CB) unless ``sequence`` (one letter per residue, X -> UNK)
    names them; bfactors: (L,) or (B, L) per-residue B-factors (default 0)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".pdb", ".cif"):
        raise ValueError(f"{path}: write_backbone writes .pdb or .cif files")
    x = _as_numpy(backbone).astype(np.float64)
    if x.ndim == 4:
        masks = [None] * len(x) if mask is None else list(_as_numpy(mask))
        factors = [None] * len(x) if bfactors is None else list(_as_numpy(bfactors))
        return [write_backbone(path.with_name(f"{path.stem}_{b:03d}{path.suffix}"), x[b], mask=masks[b],
                               residue=residue, chain_id=chain_id, sequence=sequence, bfactors=factors[b])
                for b in range(len(x))]
    if x.ndim != 3 or x.shape[1:] != (4, 3):
        raise ValueError(f"a backbone must have shape (L, 4, 3) or (B, L, 4, 3), got {x.shape}")
    length = len(x)
    mask = np.ones(length, bool) if mask is None else _as_numpy(mask).astype(bool).reshape(-1)
    bfactors = np.zeros(length) if bfactors is None else _as_numpy(bfactors).astype(np.float64).reshape(-1)
    if len(mask) != length or len(bfactors) != length:
        raise ValueError(f"mask and bfactors need one value per residue ({length})")
    if sequence is not None:
        if len(sequence) != length:
            raise ValueError(f"the sequence has {len(sequence)} letters for {length} residues")
        names = [protein_letters_1to3.get(letter.upper(), "UNK").upper() for letter in sequence]
    else:
        if residue not in ("GLY", "ALA"):
            raise ValueError(f"residue must be 'GLY' or 'ALA', got {residue!r}")
        names = [residue] * length
    if not np.isfinite(x[mask]).all():
        raise ValueError("the backbone has non-finite coordinates")
    structure = _structure(x, mask, names, chain_id, bfactors)

    def write(tmp: str) -> None:
        writer = PDBIO() if suffix == ".pdb" else MMCIFIO()
        writer.set_structure(structure)
        writer.save(tmp)

    return atomic_write(path, write)


def residue_mask(backbone) -> np.ndarray:
    """(B, L) bool: the residues of backbones (B, L, 4, 3) that are not all-zero padding (a real
    residue cannot have its four atoms at one point)."""
    x = _as_numpy(backbone)
    if x.ndim != 4 or x.shape[2:] != (4, 3):
        raise ValueError(f"backbones must have shape (B, L, 4, 3), got {x.shape}")
    return np.abs(x).reshape(*x.shape[:2], 12).max(-1) > 0


PREVIEW_COLUMNS = 4
PREVIEW_CELL_INCHES = 2.4
PREVIEW_ZOOM = 1.4  # the cube's inscribed sphere then spans 6-93% of a panel's height (the label above it), any view
PREVIEW_FILL = 0.8  # the widest trace reaches this fraction of its half-panel from the centre (below the label)


def _fill(figure, panels: list, half: float) -> None:
    """Draw the figure once, measure how far the traces reach from their panels' centres (coloured pixels), and
    narrow every panel's limits alike so that the farthest reaches PREVIEW_FILL of its half-panel.  Orthographic
    panels centred on their traces scale exactly, so every trace stays inside its panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].astype(np.int16)
    coloured = np.ptp(pixels, axis=-1) > 60  # the jet-coloured traces, not the white ground or the black labels
    reach = 0.0
    for axes in panels:
        box = axes.get_window_extent()
        left, right = int(round(box.x0)), int(round(box.x1))
        upper, lower = len(pixels) - int(round(box.y1)), len(pixels) - int(round(box.y0))
        ys, xs = np.nonzero(coloured[upper:lower, left:right])
        if len(xs):
            cx, cy = (right - left - 1) / 2, (lower - upper - 1) / 2
            reach = max(reach, float(np.abs(xs - cx).max() + 1) / cx, float(np.abs(ys - cy).max() + 1) / cy)
    if reach > 0 and PREVIEW_FILL / reach > 1:
        for axes in panels:
            for set_limits in (axes.set_xlim, axes.set_ylim, axes.set_zlim):
                set_limits(-half * reach / PREVIEW_FILL, half * reach / PREVIEW_FILL)


def write_preview(path, backbones, *, mask=None, title: str = "") -> Path:
    """A PNG of backbones (B, L, 4, 3) (module docstring); mask (B, L), default ``residue_mask``."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the "3d" projection)
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    x = _as_numpy(backbones).astype(np.float64)
    mask = residue_mask(x) if mask is None else _as_numpy(mask).astype(bool)
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape {x.shape[:2]}, got {mask.shape}")
    traces = [x[b, mask[b], 1] for b in range(len(x))]
    if any(len(t) < 2 for t in traces):
        raise ValueError("every backbone needs at least 2 residues to draw")
    # every panel at one scale, first the largest distance of a CA from its chain's centre: a point within it lies in
    # the sphere inside the axes' cube, whose picture at PREVIEW_ZOOM stays inside the panel whatever the view; then
    # enlarged until the widest trace drawn spans PREVIEW_FILL of its panel (``_fill``)
    half = max(float(np.linalg.norm(t - t.mean(0), axis=1).max()) for t in traces) or 1.0
    columns = min(PREVIEW_COLUMNS, len(traces))
    rows = -(-len(traces) // columns)
    top = 0.4 if title else 0.0
    height = rows * PREVIEW_CELL_INCHES + top
    figure = Figure(figsize=(columns * PREVIEW_CELL_INCHES, height), dpi=100)
    figure.subplots_adjust(left=0, right=1, bottom=0, top=1 - top / height, wspace=0, hspace=0)
    panels = []
    for i, trace in enumerate(traces):
        axes = figure.add_subplot(rows, columns, i + 1, projection="3d")
        axes.set_proj_type("ortho")  # the picture scales exactly with the limits (``_fill``)
        panels.append(axes)
        trace = trace - trace.mean(0)
        colours = colormaps["jet"](np.linspace(0, 1, len(trace) - 1))
        axes.add_collection3d(Line3DCollection(np.stack([trace[:-1], trace[1:]], 1), colors=colours, linewidths=1.4))
        for set_limits in (axes.set_xlim, axes.set_ylim, axes.set_zlim):
            set_limits(-half, half)
        axes.set_box_aspect((1, 1, 1), zoom=PREVIEW_ZOOM)
        axes.set_axis_off()
        axes.text2D(0.5, 0.95, f"{len(trace)} residues", transform=axes.transAxes, ha="center", fontsize=8)
    _fill(figure, panels, half)
    if title:
        figure.suptitle(title, fontsize=10, y=1 - 0.5 * top / height, va="center")
    metadata = {"Title": title} if title else {}
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", metadata=metadata))


SAMPLE_SUFFIXES = (".png", ".pdb", ".cif")  # the modality's sample formats; the first is the preview


def write(x, path, *, model, title: str = "", mask=None, labels=None) -> list[Path]:
    """Samples to ``path``, the modality's writer (``zoo.modality.SampleFormat``): backbones x
    (n, L, 4, 3) (zero padding = absent residues, or ``mask`` (n, L), True for real ones) as
    ``.png`` one preview grid (``write_preview``, titled ``title``) or ``.pdb`` / ``.cif`` one file
    per backbone, ``<stem>_000<suffix>``, ... (``write_backbone``); a single backbone (L, 4, 3) goes
    to ``path`` itself.  ``model`` (the ZooModel) is not needed: backbones carry no rate or class
    (``labels`` are ignored).  Returns the files written."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAMPLE_SUFFIXES:
        raise ValueError(f"{path}: protein samples are written as {list(SAMPLE_SUFFIXES)}")
    x = _as_numpy(x)
    if x.ndim == 4 and mask is None:
        mask = residue_mask(x)
    if suffix == ".png":
        if x.ndim == 3:
            x, mask = x[None], None if mask is None else _as_numpy(mask).reshape(1, -1)
        return [write_preview(path, x, mask=mask, title=title)]
    written = write_backbone(path, x, mask=mask)
    return written if isinstance(written, list) else [written]


def read(path) -> torch.Tensor:
    """The backbones of a structure file (what ``write`` wrote: one chain per file), one per chain of
    its first model: (n, L, 4, 3) float32 in Angstrom, L the longest chain, shorter ones padded
    with zeros (``residue_mask`` finds them)."""
    chains = chains_from_structure(read_structure(path))
    if not chains:
        raise ValueError(f"{path}: no protein chain with full N, CA, C, O backbones")
    out = torch.zeros(len(chains), max(len(c) for c in chains), 4, 3)
    for i, chain in enumerate(chains):
        out[i, :len(chain)] = torch.from_numpy(chain.backbone.astype(np.float32))
    return out


# ----------------------------------------------------------------------------------------------- contigs

@dataclass(frozen=True)
class Generated:
    """A stretch of between ``min`` and ``max`` new residues."""
    min: int
    max: int


@dataclass(frozen=True)
class Motif:
    """Residues ``start``..``end`` (inclusive, author numbering) of ``chain`` in the motif file."""
    chain: str
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start + 1


_GENERATED = re.compile(r"^(\d+)(?:-(\d+))?$")
_MOTIF = re.compile(r"^([A-Za-z])(-?\d+)(?:-(-?\d+))?$")


def parse_contig(text: str) -> list[Generated | Motif]:
    """The segments of a contig string (grammar in the module docstring)."""
    items = [item.replace(" ", "") for item in str(text).split(",")]
    if not any(items):
        raise ValueError("empty contig")
    segments: list[Generated | Motif] = []
    for item in items:
        generated, motif = _GENERATED.match(item), _MOTIF.match(item)
        if generated:
            low = int(generated.group(1))
            high = int(generated.group(2)) if generated.group(2) is not None else low
            if high < low:
                raise ValueError(f"contig item {item!r}: the range {low}-{high} is empty")
            segments.append(Generated(low, high))
        elif motif:
            start = int(motif.group(2))
            end = int(motif.group(3)) if motif.group(3) is not None else start
            if end < start:
                raise ValueError(f"contig item {item!r}: motif end {end} is before start {start}")
            segments.append(Motif(motif.group(1), start, end))
        else:
            raise ValueError(f"contig item {item!r} is neither a length 'N' / 'A-B' nor a motif '<chain><start>-<end>'")
    if not any(isinstance(s, Motif) for s in segments) and sum(s.max for s in segments) == 0:
        raise ValueError(f"contig {text!r} has no residues")
    motifs = [s for s in segments if isinstance(s, Motif)]
    for i, a in enumerate(motifs):
        for b in motifs[i + 1:]:
            if a.chain == b.chain and a.start <= b.end and b.start <= a.end:
                raise ValueError(f"contig {text!r}: motif segments {a.chain}{a.start}-{a.end} and {b.chain}{b.start}-"
                                 f"{b.end} overlap (residues {max(a.start, b.start)}-{min(a.end, b.end)} of chain "
                                 f"{a.chain} would be held twice)")
    return segments


def _segments(segments) -> list[Generated | Motif]:
    return parse_contig(segments) if isinstance(segments, str) else list(segments)


def sample_contig(segments, generator: torch.Generator | None = None) -> tuple[int, list[range]]:
    """Draw every generated stretch's length uniformly in [min, max]; return the total length and,
    for each motif segment in order, the range of indices (0-based) it occupies in the chain."""
    total, ranges = 0, []
    for segment in _segments(segments):
        if isinstance(segment, Motif):
            ranges.append(range(total, total + len(segment)))
            total += len(segment)
        else:
            total += int(torch.randint(segment.min, segment.max + 1, (1,), generator=generator))
    return total, ranges


def _motif_residue(path, chain: str, number: int, found: list):
    """The one standard residue (ATOM records, no insertion code) numbered ``number`` among ``found``;
    a ValueError that says why when there is none or more than one."""
    name = f"{chain}{number}"
    if not found:
        raise ValueError(f"{path}: chain {chain} has no residue {number}")
    standard = [r for r in found if r.id[0] == " "]
    if not standard:
        kinds = ", ".join(sorted({r.get_resname() for r in found}))
        raise ValueError(f"{path}: residue {name} is a HETATM record ({kinds}), not a standard amino acid; motif "
                         f"residues come from ATOM records")
    if len(standard) > 1:
        codes = ", ".join(f"{number}{r.id[2].strip()}" for r in standard)
        raise ValueError(f"{path}: chain {chain} numbers more than one residue {number} (insertion codes: {codes}); "
                         f"renumber the file so that each motif residue has its own number")
    residue = standard[0]
    if residue.is_disordered() == 2:
        kinds = ", ".join(residue.disordered_get_id_list())
        raise ValueError(f"{path}: residue {name} is recorded twice with different residues ({kinds}); keep one")
    return residue


def motif_from_pdb(path, segments) -> tuple[np.ndarray, list[tuple[str, int, str]]]:
    """The motif residues of ``segments`` (a contig string or ``parse_contig`` output) from the
    first model of ``path``: coords (M, 4, 3) float32 and (chain, number, one-letter) per residue,
    in contig order."""
    structure = read_structure(path)
    model = next(iter(structure))
    coords, residues = [], []
    for segment in _segments(segments):
        if not isinstance(segment, Motif):
            continue
        if segment.chain not in model:
            chains = sorted(c.id for c in model)
            raise ValueError(f"{path}: no chain {segment.chain!r} (chains: {chains})")
        chain = model[segment.chain]
        by_number: dict[int, list] = {}
        for residue in chain:
            if residue.id[0] != "W":  # waters never
                by_number.setdefault(residue.id[1], []).append(residue)
        for number in range(segment.start, segment.end + 1):
            residue = _motif_residue(path, segment.chain, number, by_number.get(number, []))
            xyz = _backbone(residue)
            if xyz is None:
                missing = [a for a in BACKBONE_ATOMS if a not in residue]
                raise ValueError(f"{path}: residue {segment.chain}{number} lacks backbone atoms {missing}")
            coords.append(xyz)
            residues.append((segment.chain, number, _letter(residue) or "X"))
    if not coords:
        raise ValueError("the contig has no motif segment")
    return np.stack(coords), residues
