import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from modalities.protein import io as pio

pytestmark = pytest.mark.usefixtures("one_thread")


def _place(a, b, c, bond, angle, torsion):
    """The point d with |cd| = bond, angle bcd, dihedral abcd (degrees)."""
    bc = (c - b) / np.linalg.norm(c - b)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    frame = np.stack([bc, np.cross(n, bc), n], axis=-1)
    angle, torsion = np.radians(angle), np.radians(torsion)
    return c + frame @ (bond * np.array([-np.cos(angle), np.sin(angle) * np.cos(torsion),
                                         np.sin(angle) * np.sin(torsion)]))


def ideal_backbone(length: int, phi: float = -57.0, psi: float = -47.0, seed: int | None = None) -> np.ndarray:
    """A backbone (L, 4, 3) with ideal bond lengths and angles (an alpha helix by default; with
    ``seed``, random phi/psi around it so that different seeds give different chains)."""
    rng = np.random.default_rng(seed)
    phis = np.full(length, phi) + (rng.normal(0, 15, length) if seed is not None else 0)
    psis = np.full(length, psi) + (rng.normal(0, 15, length) if seed is not None else 0)
    atoms = [np.array([0.0, 1.458, 0.0]), np.zeros(3)]
    atoms.append(_place(np.array([1.0, 1.0, 0.0]), atoms[0], atoms[1], 1.525, 111.2, 60.0))
    for i in range(1, length):
        n = _place(atoms[-3], atoms[-2], atoms[-1], 1.329, 116.2, psis[i - 1])
        ca = _place(atoms[-2], atoms[-1], n, 1.458, 121.7, 180.0)
        c = _place(atoms[-1], n, ca, 1.525, 111.2, phis[i])
        atoms += [n, ca, c]
    nca_c = np.array(atoms).reshape(length, 3, 3)
    o = np.stack([_place(r[0], r[1], r[2], 1.231, 120.5, psis[i] + 180.0) for i, r in enumerate(nca_c)])
    return np.concatenate([nca_c, o[:, None]], axis=1).astype(np.float32)


def test_ideal_backbone_helper_has_ideal_geometry():
    x = ideal_backbone(20)
    assert np.allclose(np.linalg.norm(x[:, 1] - x[:, 0], axis=-1), 1.458, atol=1e-4)
    assert np.allclose(np.linalg.norm(x[1:, 1] - x[:-1, 1], axis=-1), 3.80, atol=0.05)


# ------------------------------------------------------------------------------------------------ contigs

def test_parse_contig_fixed_ranged_and_motif():
    segments = pio.parse_contig("10-20, A5-15,30 ,B-3--1,C7")
    assert segments == [pio.Generated(10, 20), pio.Motif("A", 5, 15), pio.Generated(30, 30),
                        pio.Motif("B", -3, -1), pio.Motif("C", 7, 7)]
    assert len(segments[1]) == 11


@pytest.mark.parametrize("text, name", [("10-20,A5-15,x", "'x'"), ("20-10", "'20-10'"), ("A15-5", "'A15-5'"),
                                        ("5,AB1-3", "'AB1-3'"), ("", "empty"), ("3/4", "'3/4'")])
def test_parse_contig_errors_name_the_item(text, name):
    with pytest.raises(ValueError, match=name):
        pio.parse_contig(text)


def test_sample_contig_fixed_lengths_and_positions():
    total, ranges = pio.sample_contig("4,A5-7,3,B1-2,0", torch.Generator().manual_seed(0))
    assert total == 4 + 3 + 3 + 2
    assert ranges == [range(4, 7), range(10, 12)]


def test_sample_contig_ranged_lengths_cover_the_range():
    segments = pio.parse_contig("2-5,A1-3,0-2")
    generator = torch.Generator().manual_seed(1)
    totals, starts = set(), set()
    for _ in range(200):
        total, (motif,) = pio.sample_contig(segments, generator)
        assert len(motif) == 3 and 2 <= motif.start <= 5 and motif.stop <= total <= motif.stop + 2
        totals.add(total)
        starts.add(motif.start)
    assert starts == {2, 3, 4, 5} and totals == set(range(5, 11))


def test_motif_from_pdb(tmp_path):
    x = ideal_backbone(30)
    path = pio.write_backbone(tmp_path / "motif.pdb", x, residue="ALA")
    coords, residues = pio.motif_from_pdb(path, "5-10,A3-7,4,A20")
    assert coords.shape == (6, 4, 3)
    assert np.allclose(coords[:5], x[2:7], atol=1e-3) and np.allclose(coords[5], x[19], atol=1e-3)
    assert residues[0] == ("A", 3, "A") and residues[-1] == ("A", 20, "A")
    with pytest.raises(ValueError, match="no chain 'B'"):
        pio.motif_from_pdb(path, "B1-3")
    with pytest.raises(ValueError, match="no residue 31"):
        pio.motif_from_pdb(path, "A29-31")
    with pytest.raises(ValueError, match="'Q'"):
        pio.motif_from_pdb(path, "A1-3,Q")
    # residue 4 without its O
    lines = [line for line in path.read_text().splitlines() if not (line.startswith("ATOM") and line[12:16] == " O  "
                                                                     and int(line[22:26]) == 4)]
    broken = tmp_path / "broken.pdb"
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"A4 lacks backbone atoms \['O'\]"):
        pio.motif_from_pdb(broken, "A2-6")


def _edited(path, out, edit):
    """A copy of PDB file ``path`` at ``out`` with ``edit(line) -> line or [lines]`` applied to its ATOM lines."""
    lines = []
    for line in path.read_text().splitlines():
        changed = edit(line) if line.startswith("ATOM") else line
        lines.extend(changed if isinstance(changed, list) else [changed])
    out.write_text("\n".join(lines) + "\n")
    return out


def test_motif_residues_must_be_standard_and_numbered_once(tmp_path):
    path = pio.write_backbone(tmp_path / "motif.pdb", ideal_backbone(12), residue="ALA")
    # residue 5 written as a HETATM record (e.g. a modified residue): refused by name, not silently used
    het = _edited(path, tmp_path / "het.pdb",
                  lambda line: "HETATM" + line[6:17] + "MSE" + line[20:] if int(line[22:26]) == 5 else line)
    with pytest.raises(ValueError, match=r"residue A5 is a HETATM record \(MSE\)"):
        pio.motif_from_pdb(het, "A3-7")
    assert pio.motif_from_pdb(het, "A6-9")[0].shape == (4, 4, 3)  # the rest of the chain still serves
    # residue 5 recorded twice (5 and 5A, an insertion code): which one is meant is not guessed
    def insert(line):
        if int(line[22:26]) != 5:
            return line
        return [line, line[:26] + "A" + line[27:]]
    twice = _edited(path, tmp_path / "twice.pdb", insert)
    with pytest.raises(ValueError, match=r"more than one residue 5 \(insertion codes: 5, 5A\)"):
        pio.motif_from_pdb(twice, "A3-7")
    assert pio.motif_from_pdb(twice, "A7-9")[0].shape == (3, 4, 3)


def test_overlapping_motif_segments_are_refused():
    with pytest.raises(ValueError, match=r"A5-15 and A10-20 overlap \(residues 10-15 of chain A"):
        pio.parse_contig("5,A5-15,3,A10-20,4")
    assert len(pio.parse_contig("5,A5-15,3,B10-20,4")) == 5  # other chains may share numbers
    assert len(pio.parse_contig("A1-4,2,A5-8")) == 3  # adjacent, not overlapping


# ------------------------------------------------------------------------------------------------ writing

@pytest.mark.parametrize("suffix", [".pdb", ".cif"])
def test_write_read_round_trip(tmp_path, suffix):
    x = ideal_backbone(25, seed=3) + np.float32(10.0)
    path = pio.write_backbone(tmp_path / f"design{suffix}", torch.from_numpy(x), bfactors=np.arange(25.0))
    assert path == tmp_path / f"design{suffix}" and not list(tmp_path.glob(".*tmp"))
    (chain,) = pio.chains_from_structure(pio.read_structure(path))
    assert chain.id == "design_A" and chain.sequence == "G" * 25 and chain.residue_ids == list(range(1, 26))
    assert chain.backbone.dtype == np.float32 and chain.breaks == []
    assert np.abs(chain.backbone - x).max() < 1e-3


def test_write_mask_sequence_and_breaks(tmp_path):
    x = ideal_backbone(12)
    mask = np.ones(12, bool)
    mask[5] = False
    path = pio.write_backbone(tmp_path / "m.pdb", x, mask=mask, sequence="ACDEFGHIKLMX", chain_id="B")
    (chain,) = pio.chains_from_structure(pio.read_structure(path))
    assert chain.id == "m_B" and chain.sequence == "ACDEFHIKLMX"
    assert chain.residue_ids == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    assert chain.breaks == [4]  # CA(5) -> CA(7) is a gap
    assert "UNK" in path.read_text()


def test_write_batch_to_numbered_files(tmp_path):
    x = np.stack([ideal_backbone(8), ideal_backbone(8, seed=1)])
    paths = pio.write_backbone(tmp_path / "sample.pdb", x)
    assert paths == [tmp_path / "sample_000.pdb", tmp_path / "sample_001.pdb"]
    for path, expected in zip(paths, x):
        (chain,) = pio.chains_from_structure(pio.read_structure(path))
        assert np.abs(chain.backbone - expected).max() < 1e-3


def test_ala_cb_geometry(tmp_path):
    x = ideal_backbone(10, seed=2)
    path = pio.write_backbone(tmp_path / "ala.pdb", x, residue="ALA")
    residues = list(pio.read_structure(path).get_residues())
    assert all(r.get_resname() == "ALA" for r in residues)
    cb = np.array([r["CB"].coord for r in residues])
    n, ca, c = x[:, 0], x[:, 1], x[:, 2]
    assert np.allclose(np.linalg.norm(cb - ca, axis=-1), 1.53, atol=2e-3)

    def angle(a, b, c):
        u, v = a - b, c - b
        return np.degrees(np.arccos((u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)))
    assert np.allclose(angle(n, ca, cb), 110.5, atol=0.2)
    # L-amino acid: (N - CA) x (C - CA) points to the CB side (checked on real CBs in test_real_file_...)
    assert (np.einsum("ij,ij->i", np.cross(n - ca, c - ca), cb - ca) > 0).all()
    glycine = pio.write_backbone(tmp_path / "gly.pdb", x)
    assert " CB " not in glycine.read_text()


def test_write_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\.pdb or \.cif"):
        pio.write_backbone(tmp_path / "x.xyz", ideal_backbone(3))
    with pytest.raises(ValueError, match="shape"):
        pio.write_backbone(tmp_path / "x.pdb", np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="residue must be"):
        pio.write_backbone(tmp_path / "x.pdb", ideal_backbone(3), residue="LYS")


# ------------------------------------------------------------------------------------------------ reading

def test_read_gz_and_unparsable(tmp_path):
    path = pio.write_backbone(tmp_path / "a.pdb", ideal_backbone(5))
    packed = tmp_path / "1abc.pdb.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    (chain,) = pio.chains_from_structure(pio.read_structure(packed))
    assert chain.id == "1abc_A" and len(chain) == 5
    bad = tmp_path / "junk.cif.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="junk.cif.gz"):
        pio.read_structure(bad)
    empty = tmp_path / "empty.pdb"
    empty.write_text("REMARK nothing here\n")
    with pytest.raises(ValueError, match="empty.pdb"):
        pio.read_structure(empty)
    text = tmp_path / "a.txt"
    text.write_text("x")
    with pytest.raises(ValueError, match="not a structure file"):
        pio.read_structure(text)


def _dssp_files():
    spec = importlib.util.find_spec("MDAnalysisTests")
    if spec is None:
        return []
    return sorted((Path(list(spec.submodule_search_locations)[0]) / "data" / "dssp").glob("*.pdb.gz"))


def test_real_file_backbone_geometry():
    files = _dssp_files()
    if not files:
        pytest.skip("mdanalysistests is not installed (pip install --no-deps mdanalysistests)")
    chains = pio.chains_from_structure(pio.read_structure(files[0]))
    chain = max(chains, key=len)
    assert len(chain) >= 40 and set(chain.sequence) <= set("ACDEFGHIKLMNPQRSTVWYX")
    x = chain.backbone
    assert abs(np.median(np.linalg.norm(x[:, 1] - x[:, 0], axis=-1)) - 1.46) < 0.02
    assert abs(np.median(np.linalg.norm(x[:, 2] - x[:, 1], axis=-1)) - 1.52) < 0.02
    assert abs(np.median(np.linalg.norm(x[1:, 1] - x[:-1, 1], axis=-1)) - 3.80) < 0.03
    # the ideal CB lands near the real ones
    real, backbone = [], []
    for residue in next(iter(pio.read_structure(files[0]))).get_residues():
        if all(a in residue for a in ("N", "CA", "C", "O", "CB")):
            real.append(residue["CB"].coord)
            backbone.append([residue[a].coord for a in pio.BACKBONE_ATOMS])
    assert np.median(np.linalg.norm(pio.ideal_cb(np.array(backbone)) - np.array(real), axis=-1)) < 0.15


def test_residue_mask_finds_the_zero_padding():
    x = torch.zeros(2, 5, 4, 3)
    x[0, :3], x[1, :5] = 1.0, 2.0
    x[1, 2, 0] = 0.0  # one atom at the origin does not make a residue padding
    assert pio.residue_mask(x).tolist() == [[True, True, True, False, False], [True] * 5]
    with pytest.raises(ValueError, match=r"\(B, L, 4, 3\)"):
        pio.residue_mask(torch.zeros(5, 4, 3))


def test_preview_png_and_the_sample_writer_by_suffix(tmp_path):
    from PIL import Image

    x = torch.zeros(3, 30, 4, 3, dtype=torch.float64)
    for i, length in enumerate((30, 20, 25)):
        x[i, :length] = torch.from_numpy(ideal_backbone(length, seed=i))
    [png] = pio.write(x, tmp_path / "grid.png", model=None, title="three chains")
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (3 * 240, 240 + 40)  # 3 cells of 2.4 in at 100 dpi, title
    paths = pio.write(x, tmp_path / "chain.pdb", model=None)
    assert [p.name for p in paths] == ["chain_000.pdb", "chain_001.pdb", "chain_002.pdb"]
    read = [pio.chains_from_structure(pio.read_structure(p))[0] for p in paths]
    assert [len(c) for c in read] == [30, 20, 25]  # the zero padding is not written
    np.testing.assert_allclose(read[1].backbone, x[1, :20].numpy(), atol=1e-3)
    back = pio.read(paths[1])  # the reader of the sample formats: (1 chain, L, 4, 3) float32
    assert back.shape == (1, 20, 4, 3) and back.dtype == torch.float32
    assert (back[0].double() - x[1, :20]).abs().max() <= 5e-4 + 1e-5
    # an explicit mask leaves residues out even when they are not zero; one backbone goes to the path itself
    mask = torch.from_numpy(pio.residue_mask(x))
    mask[0, 10:] = False
    assert len(pio.read(pio.write(x, tmp_path / "masked.cif", model=None, mask=mask)[0])[0]) == 10
    assert pio.write(x[1, :20], tmp_path / "one.cif", model=None) == [tmp_path / "one.cif"]
    with pytest.raises(ValueError, match="protein samples are written as"):
        pio.write(x, tmp_path / "chain.xyz", model=None)
    with pytest.raises(ValueError, match="at least 2 residues"):
        pio.write_preview(tmp_path / "bad.png", x[:, :1])


def test_the_reader_pads_the_chains_of_a_file_with_several(tmp_path):
    from Bio.PDB import PDBIO

    a = pio.write_backbone(tmp_path / "a.pdb", torch.from_numpy(ideal_backbone(12, seed=1)), chain_id="A")
    b = pio.write_backbone(tmp_path / "b.pdb", torch.from_numpy(ideal_backbone(8, seed=2)), chain_id="B")
    structure = pio.read_structure(a)
    chain_b = next(iter(pio.read_structure(b)))["B"]
    chain_b.detach_parent()
    next(iter(structure)).add(chain_b)
    writer = PDBIO()
    writer.set_structure(structure)
    writer.save(str(tmp_path / "both.pdb"))
    both = pio.read(tmp_path / "both.pdb")
    assert both.shape == (2, 12, 4, 3) and (both[1, 8:] == 0).all() and (both[1, :8] != 0).any()
    assert pio.residue_mask(both).sum(1).tolist() == [12, 8]
    with pytest.raises(ValueError, match="no such file"):
        pio.read(tmp_path / "missing.pdb")


def _turned(backbone: np.ndarray, direction) -> np.ndarray:
    """The backbone (L, 4, 3) rotated so that its first-to-last CA vector points along ``direction``."""
    a = backbone[-1, 1] - backbone[0, 1]
    a, b = a / np.linalg.norm(a), np.asarray(direction, dtype=float) / np.linalg.norm(direction)
    v, c = np.cross(a, b), float(a @ b)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return backbone @ (np.eye(3) + k + k @ k / (1 + c)).T


def test_preview_traces_stay_inside_their_panels(tmp_path):
    """A long stretched chain beside short ones (one scale for all panels): no trace runs off its panel."""
    from PIL import Image

    x = torch.zeros(4, 103, 4, 3, dtype=torch.float64)
    # a strand (about 3.3 A a residue, straight) across the screen of matplotlib's default view (azimuth -60)
    x[0] = torch.from_numpy(_turned(ideal_backbone(103, phi=-120.0, psi=130.0), (0.866, 0.5, 0.0)))
    for i, length in enumerate((60, 80, 90), 1):
        x[i, :length] = torch.from_numpy(ideal_backbone(length, seed=i))
    [png] = pio.write(x, tmp_path / "grid.png", model=None, title="four chains")
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    cell, title = 240, 40
    for column in range(4):
        panel = pixels[title:, column * cell:(column + 1) * cell]
        coloured = np.ptp(panel, axis=-1) > 60  # jet-coloured trace, not white, grey or black text
        assert coloured.sum() > 30, f"panel {column} is empty"
        edge = np.concatenate([coloured[:3].ravel(), coloured[-3:].ravel(), coloured[:, :3].ravel(),
                               coloured[:, -3:].ravel()])
        assert not edge.any(), f"the trace of panel {column} reaches its edge"
