import math

import pytest
import torch

from modalities.protein import geometry as g
from modalities.protein import metrics as m
from tests.helpers import gen

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64


def ideal_chains():
    return {"helix": g.ideal_helix(20, dtype=F64), "strand": g.ideal_strand(12, dtype=F64),
            "hairpin": g.ideal_hairpin(16, dtype=F64)}


@pytest.mark.parametrize("name", ["helix", "strand", "hairpin"])
def test_ideal_chains_score_as_ideal(name):
    x = ideal_chains()[name]
    report = m.bond_report(x)
    assert report["within"] == 1.0 and report["bonds_within"] == 1.0 and report["angles_within"] == 1.0
    for stats in [*report["bonds"].values(), *report["angles"].values()]:
        assert stats["mad"] < 1e-6 and stats["outliers"] == 0
    assert m.chain_breaks(x).item() == 0
    c = m.clashes(x)
    assert c["atom"].item() == 0 and c["ca"].item() == 0 and c["rate"].item() == 0
    d = m.ca_ca(x)
    assert d.shape == (x.shape[0] - 1,) and ((d - 3.80).abs() < 0.01).all()


def stretch_ca_c(x, k, by):
    """Lengthen CA(k)-C(k) by ``by`` Angstrom, moving C(k), O(k) and everything after rigidly."""
    x = x.clone()
    u = x[k, 2] - x[k, 1]
    u = u / u.norm()
    x[k, 2:] += by * u
    x[k + 1:] += by * u
    return x


def test_stretched_bond_is_counted():
    x = stretch_ca_c(g.ideal_helix(20, dtype=F64), 7, 0.5)
    report = m.bond_report(x)
    assert report["bonds"]["CA-C"]["outliers"] == 1
    assert report["bonds"]["CA-C"]["within"] == pytest.approx(19 / 20)
    assert report["bonds"]["CA-C"]["mad"] == pytest.approx(0.5 / 20)
    assert all(s["outliers"] == 0 for k, s in report["bonds"].items() if k != "CA-C")
    assert all(s["outliers"] == 0 for s in report["angles"].values())
    n_bonds = 20 * 3 + 19
    assert report["bonds_within"] == pytest.approx(1 - 1 / n_bonds)
    assert report["within"] < 1


def test_gap_is_one_break():
    x = g.ideal_strand(12, dtype=F64).clone()
    ca = x[:, 1]
    u = (ca[6] - ca[5]) / (ca[6] - ca[5]).norm()
    x[6:] += (6.0 - 3.80) * u  # CA(5)-CA(6) becomes ~6 A
    assert m.ca_ca(x)[5].item() == pytest.approx(6.0, abs=0.05)
    assert m.chain_breaks(x).item() == 1
    assert m.chain_breaks(x, threshold=6.5).item() == 0


def test_superposed_residues_clash():
    x = g.ideal_strand(10, dtype=F64).clone()
    x[7] = x[2]  # residue 7 on top of residue 2
    c = m.clashes(x)
    assert c["atom"].item() >= 16 and c["ca"].item() >= 1 and c["rate"].item() > 1


def test_chain_folded_onto_itself_clashes():
    # a strand whose second half comes straight back through the first
    phi = torch.full((16,), -120.0, dtype=F64)
    psi = torch.full((16,), 130.0, dtype=F64)
    phi[7], psi[7], phi[8], psi[8] = 0.0, 0.0, 0.0, 0.0
    x = g.build_backbone(phi, psi)
    assert m.clashes(x)["atom"].item() > 0


def test_batched_metrics_with_mask():
    helix = g.ideal_helix(12, dtype=F64)
    broken = helix.clone()
    broken[9:] += torch.tensor([5.0, 0, 0], dtype=F64)
    batch = torch.stack([helix, broken])
    mask = torch.ones(2, 12)
    mask[1, 9:] = 0  # the broken part is padding: not counted
    assert m.chain_breaks(batch).tolist() == [0, 1]
    assert m.chain_breaks(batch, mask).tolist() == [0, 0]
    assert torch.isnan(m.ca_ca(batch, mask)[1, 8:]).all()
    assert m.clashes(batch, mask)["atom"].tolist() == [0, 0]
    assert m.bond_report(batch, mask)["within"] == 1.0
    rg = m.radius_of_gyration(batch, mask)
    assert rg.shape == (2,) and rg[1] < rg[0]


def test_ramachandran_regions():
    phi = torch.tensor([-57.0, -120.0, -75.0, 60.0, 90.0, 60.0, 180.0, -60.0, math.nan])
    psi = torch.tensor([-47.0, 130.0, 150.0, 30.0, 0.0, -120.0, 180.0, -170.0, 10.0])
    codes = m.ramachandran_regions(phi, psi)
    names = [m.REGIONS[c] if c >= 0 else None for c in codes.tolist()]
    assert names == ["alpha", "beta", "beta", "left", "left", "disallowed", "beta", "beta", None]
    fr = m.region_fractions(phi, psi)
    assert fr["beta"] == pytest.approx(4 / 8) and sum(fr.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        m.ramachandran_regions(phi, psi[:3])


def test_ideal_structures_ramachandran():
    phi, psi, _ = g.dihedrals(g.ideal_helix(20, dtype=F64))
    assert m.region_fractions(phi, psi)["alpha"] == 1.0
    phi, psi, _ = g.dihedrals(g.ideal_strand(12, dtype=F64))
    assert m.region_fractions(phi, psi)["beta"] == 1.0
    phi, psi, _ = g.dihedrals(g.ideal_hairpin(16, dtype=F64))
    assert m.region_fractions(phi, psi)["disallowed"] == 0.0


def test_phi_psi_kl():
    generator = gen(0)
    a = torch.rand(500, 2, generator=generator, dtype=F64) * 360 - 180
    assert m.phi_psi_kl(a, a) == pytest.approx(0.0, abs=1e-12)
    helix = torch.tensor([-57.0, -47.0]) + 5 * torch.randn(500, 2, generator=generator)
    strand = torch.tensor([-120.0, 130.0]) + 5 * torch.randn(500, 2, generator=generator)
    kl = m.phi_psi_kl(helix, strand)
    assert kl > 1.0 and math.isfinite(kl)
    assert 0 < m.phi_psi_kl(a, a[:250] * 0.9) < kl
    with_nan = torch.cat([a, torch.full((3, 2), math.nan, dtype=F64)])
    assert m.phi_psi_kl(with_nan, a) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="pseudocount"):
        m.phi_psi_kl(a, a, pseudocount=0)


def test_radius_of_gyration():
    x = g.ideal_strand(30, dtype=F64)
    rg = m.radius_of_gyration(x)
    ca = x[:, 1]
    assert rg.item() == pytest.approx(((ca - ca.mean(0)) ** 2).sum(-1).mean().sqrt().item())
    assert m.radius_of_gyration(g.ideal_helix(30, dtype=F64)) < rg  # a helix is more compact
    assert m.rg_expected(100) == pytest.approx(2.2 * 100 ** 0.38)
    assert torch.allclose(m.rg_expected(torch.tensor([100, 200])), 2.2 * torch.tensor([100.0, 200.0]) ** 0.38)


def test_secondary_structure():
    chains = ideal_chains()
    helix, strand = m.secondary_structure(chains["helix"])[0], m.secondary_structure(chains["strand"])[0]
    assert len(helix) == 20 and helix[2:-2] == "a" * 16
    assert len(strand) == 12 and strand.count("b") >= 8
    batch = torch.stack([chains["helix"][:12], chains["strand"]])
    mask = torch.ones(2, 12)
    mask[0, 10:] = 0
    sse = m.secondary_structure(batch, mask)
    assert [len(s) for s in sse] == [10, 12]
    fr = m.sse_fractions([helix, strand])
    assert fr["a"] == pytest.approx(helix.count("a") / 32) and sum(fr.values()) == pytest.approx(1.0)


def test_tm_score_and_diversity():
    chains = ideal_chains()
    helix, strand = g.ideal_helix(30, dtype=F64), g.ideal_strand(30, dtype=F64)
    rotated = helix @ g.random_rotations(1, gen(1), dtype=F64)[0].T + 4.0
    assert m.tm_score(helix, rotated) == pytest.approx(1.0, abs=1e-6)
    assert m.tm_score(helix[:, 1], helix[:, 1]) == pytest.approx(1.0, abs=1e-6)  # CA atoms (L, 3)
    assert m.tm_score(helix, strand) < 0.3
    same = m.pairwise_tm_diversity([helix, rotated])
    mixed = m.pairwise_tm_diversity([helix, strand, chains["hairpin"]])
    assert same == pytest.approx(1.0, abs=1e-6) and mixed < 0.4
    with pytest.raises(ValueError, match="at least 2"):
        m.pairwise_tm_diversity([helix])
    with pytest.raises(ValueError, match="one chain"):
        m.tm_score(torch.stack([helix, helix]), helix)


# ---- real chains score as real proteins do; deliberately broken copies do not ------------------------

def _real_chains() -> list[torch.Tensor]:
    """12 crystal structures of mdanalysistests' data/dssp (else theseus-examples), split at breaks."""
    import importlib.util
    from pathlib import Path

    from modalities.protein import data as pdata
    from modalities.protein import io as pio

    spec = importlib.util.find_spec("MDAnalysisTests")
    files = [] if spec is None else sorted(
        (Path(list(spec.submodule_search_locations)[0]) / "data" / "dssp").glob("*.pdb.gz"))
    files = files or sorted(Path(pdata.THESEUS_DIR).glob("*/*.pdb.gz"))
    if not files:
        pytest.skip("no real chains installed (pip install --no-deps mdanalysistests or apt-get install theseus-examples)")
    chains = [torch.from_numpy(piece.backbone).double() for f in files[:12]
              for chain in pio.chains_from_structure(pio.read_structure(f)) for piece in pdata.split_at_breaks(chain)]
    assert len(chains) >= 8
    return chains


@pytest.fixture(scope="module")
def real():
    from modalities.protein.evaluation import score_set

    chains = _real_chains()
    half, other = chains[::2], chains[1::2]
    return half, other, score_set(half, other, tm_pairs_of=6)


def test_real_chains_score_as_real_proteins(real):
    _, _, score = real
    assert score["bonds_within"] > 0.99 and score["angles_within"] > 0.98 and score["mad_C-N"] < 0.02
    assert score["break_free"] == 1.0 and score["ca_clashes"] == 0.0 and score["clash_rate"] < 0.1
    assert score["rama_disallowed"] < 0.1 and score["rama_alpha"] + score["rama_beta"] > 0.75
    assert score["sse_helix"] + score["sse_strand"] > 0.2 and 0.8 < score["rg_ratio"] < 1.3
    assert score["phi_psi_kl"] < 2.5  # two halves of one set of real proteins
    assert 0.1 < score["tm_diversity"] < 0.9


def test_broken_chains_fail_the_metrics_that_check_what_was_broken(real):
    from modalities.protein.evaluation import score_set

    half, other, score = real
    g = torch.Generator().manual_seed(0)
    noisy = score_set([c + 0.3 * torch.randn(c.shape, generator=g, dtype=c.dtype) for c in half], other, tm_pairs_of=2)
    assert noisy["bonds_within"] < 0.5 and noisy["angles_within"] < 0.5 and noisy["break_free"] < 0.5
    mirrored = score_set([c * torch.tensor([-1.0, 1.0, 1.0], dtype=c.dtype) for c in half], other, tm_pairs_of=2)
    assert mirrored["bonds_within"] == score["bonds_within"]  # a mirror image keeps every length and angle ...
    assert mirrored["rama_disallowed"] > 5 * score["rama_disallowed"]  # ... but turns every phi/psi sign
    assert mirrored["phi_psi_kl"] > 2 * score["phi_psi_kl"] and mirrored["rama_left"] > 2 * score["rama_left"]
    squeezed = score_set([0.6 * c for c in half], other, tm_pairs_of=2)
    assert squeezed["ca_clashes"] > 1 and squeezed["clash_rate"] > 10 * score["clash_rate"]
    assert squeezed["rg_ratio"] < 0.75 * score["rg_ratio"] and squeezed["bonds_within"] < 0.1
    shuffled = score_set([c[torch.randperm(len(c), generator=g)] for c in half], other, tm_pairs_of=2)
    assert shuffled["break_free"] == 0.0 and shuffled["sse_helix"] + shuffled["sse_strand"] < 0.05
