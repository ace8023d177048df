import math

import pytest
import torch

from modalities.protein import geometry as g
from tests.helpers import gen

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64


def random_dihedrals(L, B=None, seed=0):
    shape = (L,) if B is None else (B, L)
    generator = gen(seed)
    phi = torch.rand(shape, generator=generator, dtype=F64) * 360 - 180
    psi = torch.rand(shape, generator=generator, dtype=F64) * 360 - 180
    omega = 180 + 20 * torch.randn(shape, generator=generator, dtype=F64)  # some around +-180, cis-free
    return phi, psi, omega


def angle_diff(a, b):
    return (a - b + 180) % 360 - 180


def test_place_atom_matches_geometry():
    a, b, c = torch.tensor([[0.3, 1.2, -0.4]], dtype=F64), torch.tensor([[0.0, 0.0, 0.0]], dtype=F64), \
        torch.tensor([[1.5, 0.1, 0.2]], dtype=F64)
    for torsion in (-170.0, -60.0, 0.0, 45.0, 180.0):
        d = g.place_atom(a, b, c, 1.33, 116.0, torsion)
        assert torch.allclose((d - c).norm(dim=-1), torch.tensor(1.33, dtype=F64))
        assert torch.allclose(g._angle(b, c, d), torch.tensor(116.0, dtype=F64))
        assert abs(angle_diff(g.dihedral(a, b, c, d), torsion).item()) < 1e-9


@pytest.mark.parametrize("batched", [False, True])
def test_build_then_dihedrals_recovers_input(batched):
    phi, psi, omega = random_dihedrals(25, B=3 if batched else None)
    x = g.build_backbone(phi, psi, omega)
    assert x.shape == ((3,) if batched else ()) + (25, 4, 3) and x.dtype == F64
    phi2, psi2, omega2 = g.dihedrals(x)
    assert torch.isnan(phi2[..., 0]).all() and torch.isnan(psi2[..., -1]).all() and torch.isnan(omega2[..., -1]).all()
    assert angle_diff(phi2[..., 1:], phi[..., 1:]).abs().max() < 1e-4
    assert angle_diff(psi2[..., :-1], psi[..., :-1]).abs().max() < 1e-4
    assert angle_diff(omega2[..., :-1], omega[..., :-1]).abs().max() < 1e-4


def test_built_chains_have_ideal_bonds_and_angles():
    phi, psi, omega = random_dihedrals(30, B=2, seed=1)
    x = g.build_backbone(phi, psi, omega)
    lengths, angles = g.bond_lengths(x), g.bond_angles(x)
    assert lengths["C-N"].shape == (2, 29) and lengths["N-CA"].shape == (2, 30)
    assert angles["CA-C-N"].shape == (2, 29) and angles["N-CA-C"].shape == (2, 30)
    for name, ideal in g.IDEAL_BONDS.items():
        assert torch.allclose(lengths[name], torch.full_like(lengths[name], ideal), atol=1e-9), name
    for name, ideal in g.IDEAL_ANGLES.items():
        assert torch.allclose(angles[name], torch.full_like(angles[name], ideal), atol=1e-7), name
    # O lies in the peptide plane, anti to N(i+1)
    n, ca, c, o = x.unbind(dim=2)
    assert angle_diff(g.dihedral(n[:, 1:], ca[:, :-1], c[:, :-1], o[:, :-1]), 180.0).abs().max() < 1e-6
    # centred at the CA centroid
    assert ca.mean(dim=1).abs().max() < 1e-9


def test_ideal_helix_geometry():
    x = g.ideal_helix(24, dtype=F64)
    ca = x[:, 1]
    d1 = (ca[1:] - ca[:-1]).norm(dim=-1)
    assert torch.allclose(d1, torch.full_like(d1, g.CA_CA), atol=0.01)
    d3 = (ca[3:] - ca[:-3]).norm(dim=-1)
    assert ((d3 > 5.0) & (d3 < 5.4)).all()
    # right-handed: the CA(i..i+3) virtual dihedral is about +50
    assert (g.dihedral(ca[:-3], ca[1:-2], ca[2:-1], ca[3:]) - 50).abs().max() < 5
    # 3.6 residues per turn (100 degrees about the axis) and a rise of ~1.5 A per residue: fit the axis
    # as the direction of the sum of successive CA(i) - CA(i-1) ... use the principal axis of the CA trace
    centred = ca - ca.mean(0)
    axis = torch.linalg.svd(centred, full_matrices=False).Vh[0]
    rise = ((ca[1:] - ca[:-1]) @ axis).abs()
    assert ((rise - 1.5).abs() < 0.1).all()
    radial = centred - (centred @ axis)[:, None] * axis
    cosines = (radial[1:] * radial[:-1]).sum(-1) / (radial[1:].norm(dim=-1) * radial[:-1].norm(dim=-1))
    turn = torch.rad2deg(torch.acos(cosines[4:-4])).mean()  # away from the ends, where the fit is best
    assert abs(360 / turn.item() - 3.6) < 0.1


def test_ideal_strand_and_hairpin_shapes():
    s = g.ideal_strand(10, dtype=F64)
    ca = s[:, 1]
    d2 = (ca[2:] - ca[:-2]).norm(dim=-1)
    assert (d2 > 6.0).all()  # extended
    h = g.ideal_hairpin(16, dtype=F64)
    assert h.shape == (16, 4, 3)
    k = 16 // 2 - 1
    cross = torch.stack([(h[k - 1 - j, 1] - h[k + 2 + j, 1]).norm() for j in range(4)])
    assert ((cross > 4.0) & (cross < 6.0)).all()  # the strands near the turn are paired
    with pytest.raises(ValueError, match="6 residues"):
        g.ideal_hairpin(4)


def test_dihedrals_respect_mask():
    x = g.ideal_helix(10, dtype=F64)
    batch = torch.stack([x, x])
    mask = torch.ones(2, 10)
    mask[1, 7:] = 0
    phi, psi, omega = g.dihedrals(batch, mask)
    assert phi.shape == (2, 10)
    assert torch.isnan(psi[1, 6:]).all() and torch.isnan(phi[1, 7:]).all() and not torch.isnan(psi[1, :6]).any()
    assert torch.allclose(phi[0, 1:], torch.full((9,), -57.0, dtype=F64))
    lengths = g.bond_lengths(batch, mask)
    assert torch.isnan(lengths["C-N"][1, 6:]).all() and torch.isnan(lengths["N-CA"][1, 7:]).all()


def test_shape_and_mask_errors():
    with pytest.raises(ValueError, match="shape"):
        g.dihedrals(torch.zeros(5, 3, 3))
    with pytest.raises(ValueError, match="float"):
        g.dihedrals(torch.zeros(5, 4, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="mask must have shape"):
        g.dihedrals(torch.zeros(2, 5, 4, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="padding at the end"):
        g.dihedrals(torch.zeros(1, 5, 4, 3), torch.tensor([[0, 1, 1, 1, 1]]))
    with pytest.raises(ValueError, match="0 and 1"):
        g.dihedrals(torch.zeros(1, 5, 4, 3), torch.full((1, 5), 2))
    with pytest.raises(ValueError, match="share one shape"):
        g.build_backbone(torch.zeros(5), torch.zeros(4))
    with pytest.raises(ValueError, match="non-finite"):
        g.dihedrals(torch.full((5, 4, 3), math.nan))


def test_random_rotations_are_rotations_and_seeded():
    r = g.random_rotations(64, gen(0), dtype=F64)
    assert r.shape == (64, 3, 3)
    eye = torch.eye(3, dtype=F64).expand(64, 3, 3)
    assert torch.allclose(r @ r.transpose(1, 2), eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(r), torch.ones(64, dtype=F64), atol=1e-12)
    assert torch.equal(r, g.random_rotations(64, gen(0), dtype=F64))
    # uniform: the mean of Haar rotations is the zero matrix
    big = g.random_rotations(4000, gen(1), dtype=F64)
    assert big.mean(0).abs().max() < 0.05


def test_kabsch_recovers_known_rotation():
    x = g.build_backbone(*random_dihedrals(20, B=3, seed=2))
    rot = g.random_rotations(3, gen(3), dtype=F64)
    shift = torch.tensor([1.0, -2.0, 3.0], dtype=F64)
    y = x @ rot[:, None].transpose(-1, -2) + shift
    r, t, rmsd = g.kabsch(x, y)
    assert torch.allclose(r, rot, atol=1e-9)
    assert torch.allclose(x.flatten(1, 2) @ r.transpose(1, 2) + t[:, None], y.flatten(1, 2), atol=1e-8)
    assert rmsd.abs().max() < 1e-6
    assert g.rmsd_after_superposition(x[0], y[0]).item() < 1e-6  # one chain
    assert g.rmsd_after_superposition(x[0, :, 1], y[0, :, 1]).item() < 1e-6  # points (N, 3)


def test_kabsch_refuses_reflection():
    x = g.build_backbone(*random_dihedrals(20, seed=4))
    mirrored = x * torch.tensor([-1.0, 1.0, 1.0], dtype=F64)
    r, _, rmsd = g.kabsch(x, mirrored)
    assert torch.allclose(torch.linalg.det(r), torch.ones(1, dtype=F64), atol=1e-9)
    assert rmsd.item() > 0.5  # a chiral chain cannot be rotated onto its mirror image


def test_kabsch_with_mask_ignores_padding():
    x = g.build_backbone(*random_dihedrals(12, B=2, seed=5))
    rot = g.random_rotations(2, gen(6), dtype=F64)
    y = x @ rot[:, None].transpose(-1, -2)
    y[1, 9:] += 50.0  # garbage in the padding
    mask = torch.ones(2, 12)
    mask[1, 9:] = 0
    _, _, rmsd = g.kabsch(x, y, mask)
    assert rmsd.max() < 1e-6
    with pytest.raises(ValueError, match="same shape"):
        g.kabsch(x[:, :5], y)


def test_centre():
    x = g.ideal_helix(10, dtype=F64) + torch.tensor([5.0, 1.0, -3.0], dtype=F64)
    batch = torch.stack([x, x])
    mask = torch.ones(2, 10)
    mask[1, 6:] = 0
    c = g.centre(batch, mask)
    assert c[0, :, 1].mean(0).abs().max() < 1e-9
    assert c[1, :6, 1].mean(0).abs().max() < 1e-9 and (c[1, 6:] == 0).all()
    assert g.centre(x).shape == (10, 4, 3)


# ------------------------------------------------------------------------------------------- internal coordinates

def random_internal(B, L, seed=0):
    """(B, L, 6) radians: torsions anywhere (omega near trans) and bond angles within 8 degrees of ideal."""
    phi, psi, omega = random_dihedrals(L, B=B, seed=seed)
    angles = torch.tensor(g.IDEAL_INTERNAL_ANGLES, dtype=F64) + 8 * (torch.rand(B, L, 3, generator=gen(seed + 1),
                                                                                   dtype=F64) * 2 - 1)
    return torch.deg2rad(torch.cat([torch.stack([phi, psi, omega], -1), angles], -1))


def test_internal_coordinates_build_the_chain_a_sequential_nerf_builds():
    """The log-depth builder against atoms placed one after another with place_atom (Parsons et al.)."""
    internal = random_internal(2, 20)
    x = g.backbone_from_internal(internal)
    deg = torch.rad2deg(internal)
    for b in range(2):
        n, ca = torch.zeros(3, dtype=F64), torch.tensor([g.BOND_N_CA, 0.0, 0.0], dtype=F64)
        t = math.radians(deg[b, 0, 3])
        c = ca + g.BOND_CA_C * torch.tensor([-math.cos(t), math.sin(t), 0.0], dtype=F64)
        atoms = [(n, ca, c)]
        for i in range(19):
            n = g.place_atom(atoms[-1][0], ca, c, g.BOND_C_N, deg[b, i, 4], deg[b, i, 1])
            ca = g.place_atom(atoms[-1][1], c, n, g.BOND_N_CA, deg[b, i, 5], deg[b, i, 2])
            c = g.place_atom(atoms[-1][2], n, ca, g.BOND_CA_C, deg[b, i + 1, 3], deg[b, i + 1, 0])
            atoms.append((n, ca, c))
        want = torch.stack([torch.stack(r) for r in atoms])
        torch.testing.assert_close(x[b, :, :3], want, atol=1e-9, rtol=0)
        o = g.place_atom(want[:, 0], want[:, 1], want[:, 2], g.BOND_C_O, g.ANGLE_CA_C_O, deg[b, :, 1] + 180)
        torch.testing.assert_close(x[b, :, 3], o, atol=1e-9, rtol=0)


def test_internal_coordinates_round_trip_and_give_ideal_bonds():
    internal = random_internal(3, 30, seed=4)
    x = g.backbone_from_internal(internal)
    for name, lengths in g.bond_lengths(x).items():
        torch.testing.assert_close(lengths[torch.isfinite(lengths)],
                                   torch.full_like(lengths[torch.isfinite(lengths)], g.IDEAL_BONDS[name]))
    back = g.internal_from_backbone(x)
    used = torch.ones_like(internal, dtype=torch.bool)
    used[:, 0, 0] = used[:, -1, 2] = used[:, -1, 4] = used[:, -1, 5] = False  # what no atom depends on
    assert angle_diff(torch.rad2deg(back[used]), torch.rad2deg(internal[used])).abs().max() < 1e-6
    torch.testing.assert_close(g.backbone_from_internal(back), x)  # the filled entries change nothing
    with pytest.raises(ValueError, match=r"\(L, 3\) or \(L, 6\)"):
        g.backbone_from_internal(torch.zeros(4, 5))


def test_fill_ends_of_a_window_matches_the_internal_coordinates_of_its_own_atoms():
    chain = random_internal(1, 40, seed=5)[0].double()
    window = chain[7:30]
    filled = g.fill_ends(window)
    rebuilt = g.internal_from_backbone(g.backbone_from_internal(window))  # what the window's atoms define
    assert angle_diff(torch.rad2deg(filled), torch.rad2deg(rebuilt)).abs().max() < 1e-6
    assert filled[0, 0] == g.PHI_FIRST and filled[-1, 2] == math.pi and (window[0, 0] != g.PHI_FIRST)
    assert torch.equal(filled[1:-1], window[1:-1])  # the inside is untouched, and the input too


def test_a_real_chain_rebuilt_from_its_internal_coordinates_differs_only_by_its_bond_lengths():
    from modalities.protein import io as pio
    from tests.modalities.protein.test_io import _dssp_files

    files = _dssp_files()
    if not files:
        pytest.skip("mdanalysistests is not installed (pip install --no-deps mdanalysistests)")
    chain = torch.from_numpy(max(pio.chains_from_structure(pio.read_structure(files[0])), key=len).backbone).double()
    chain = chain[:100]
    rebuilt = g.backbone_from_internal(g.internal_from_backbone(chain))
    rmsd = g.rmsd_after_superposition(rebuilt, chain)
    # measured on the first four dssp files: 0.04-0.11 A over 100 residues (the real bonds are about 0.01 A
    # from ideal); from the torsions alone (ideal angles too) the same chains drift by 3.5-5.5 A
    assert rmsd < 0.5
    torsions_only = g.backbone_from_internal(g.internal_from_backbone(chain)[:, :3])
    assert g.rmsd_after_superposition(torsions_only, chain) > 4 * rmsd


def test_residue_frames_are_proper_rotations_with_ca_to_c_first():
    from modalities.protein.geometry import _unit, ideal_helix, residue_frames

    chain = ideal_helix(12, dtype=torch.float64)
    rotation, origin = residue_frames(chain)
    torch.testing.assert_close(rotation.transpose(-1, -2) @ rotation, torch.eye(3, dtype=torch.float64).expand(12, 3, 3))
    torch.testing.assert_close(torch.linalg.det(rotation), torch.ones(12, dtype=torch.float64))
    torch.testing.assert_close(rotation[..., 0], _unit(chain[:, 2] - chain[:, 1]))
    torch.testing.assert_close(origin, chain[:, 1])
    local = ((chain[:, 0] - origin)[:, None] @ rotation)[:, 0]  # N in its own residue's frame: in the plane z = 0, y > 0
    assert local[:, 2].abs().max() < 1e-9 and (local[:, 1] > 0).all()


def test_solve_internal_closes_a_loop_moving_only_free_torsions():
    from modalities.protein.geometry import backbone_from_internal, internal_from_backbone, residue_frames, solve_internal
    from modalities.protein.data import ideal_chains

    target_chain = ideal_chains(1, seed=5)[0].double()  # 40 residues
    state = internal_from_backbone(target_chain)[None].clone()
    free = torch.zeros_like(state, dtype=torch.bool)
    free[0, 12:24, :2] = True  # phi and psi of a 12-residue loop
    moved = state.clone()
    moved[free] += torch.randn(int(free.sum()), generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.3

    def local(s):  # residue 30's N, CA, C in the frame of residue 5
        chain = backbone_from_internal(s)
        rotation, origin = residue_frames(chain[:, 5])
        return ((chain[:, 30, :3] - origin[:, None]) @ rotation).flatten(1)
    target = local(state)
    assert (local(moved) - target).abs().max() > 1.0  # the perturbation opened the loop
    closed = solve_internal(moved, free, lambda s: local(s) - target, iterations=30)
    assert (local(closed) - target).abs().max() < 1e-3
    torch.testing.assert_close(closed[~free], moved[~free])  # nothing else moved
    with pytest.raises(ValueError, match=r"shape \(B, R\) with B = 1"):
        solve_internal(moved, free, lambda s: local(s)[0], iterations=1)
