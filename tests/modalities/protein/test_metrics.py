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
