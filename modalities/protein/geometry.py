"""Protein backbone geometry: ideal values, NeRF chain building, dihedrals, superposition.

A backbone is a float tensor ``(L, 4, 3)`` or a batch ``(B, L, 4, 3)``: the atoms N, CA, C, O of
each residue, in Angstrom.  An optional ``mask`` ``(B, L)`` marks real residues (1) of chains of
different lengths; padding comes at the end.  All angles are in degrees.

Dihedral conventions (IUPAC), per residue i:
- ``phi[i]   = C(i-1) - N(i) - CA(i) - C(i)``     (undefined for the first residue)
- ``psi[i]   = N(i) - CA(i) - C(i) - N(i+1)``     (undefined for the last residue)
- ``omega[i] = CA(i) - C(i) - N(i+1) - CA(i+1)``  (the peptide bond after residue i; undefined for the last)

Ideal bond lengths and angles are those of Engh & Huber (1991), Acta Cryst. A47, 392-400, for the
protein backbone (non-glycine, non-proline values).
"""
from __future__ import annotations

import math

import torch

__all__ = ["ATOMS", "BOND_N_CA", "BOND_CA_C", "BOND_C_N", "BOND_C_O", "ANGLE_N_CA_C", "ANGLE_CA_C_N", "ANGLE_C_N_CA",
           "ANGLE_CA_C_O", "CA_CA", "IDEAL_BONDS", "IDEAL_ANGLES", "as_batch", "place_atom", "build_backbone",
           "backbone_from_internal", "internal_from_backbone", "fill_ends", "END_FILLS", "PHI_FIRST", "IDEAL_INTERNAL_ANGLES",
           "ideal_helix", "ideal_strand", "ideal_hairpin", "dihedral", "dihedrals", "bond_lengths", "bond_angles",
           "kabsch", "rmsd_after_superposition", "random_rotations", "centre", "residue_frames", "solve_internal"]

ATOMS = ("N", "CA", "C", "O")

# Engh & Huber (1991) bond lengths, Angstrom.
BOND_N_CA = 1.458
BOND_CA_C = 1.525
BOND_C_N = 1.329   # the peptide bond C(i) - N(i+1)
BOND_C_O = 1.231
# Engh & Huber (1991) bond angles, degrees.  CA-C-N is 116.2 there (some sources, and our issue, quote ~116.6).
ANGLE_N_CA_C = 111.2
ANGLE_CA_C_N = 116.2
ANGLE_C_N_CA = 121.7
ANGLE_CA_C_O = 120.1
# The CA(i) - CA(i+1) distance of a trans peptide with the values above.
CA_CA = 3.80
# What a torsion representation holds for phi of a chain's first residue, which no geometry uses.
PHI_FIRST = -math.pi / 3

IDEAL_BONDS = {"N-CA": BOND_N_CA, "CA-C": BOND_CA_C, "C-N": BOND_C_N, "C-O": BOND_C_O}
IDEAL_ANGLES = {"N-CA-C": ANGLE_N_CA_C, "CA-C-N": ANGLE_CA_C_N, "C-N-CA": ANGLE_C_N_CA, "CA-C-O": ANGLE_CA_C_O}


def as_batch(backbone, mask=None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Check a backbone and its mask.

    backbone: (L, 4, 3) or (B, L, 4, 3) floats; mask: None or (B, L) (or (L,) for one chain) of 0/1,
    real residues first.  Returns (backbone (B, L, 4, 3), mask (B, L) bool, single) where ``single``
    says the input was one chain.
    """
    backbone = torch.as_tensor(backbone)
    if not backbone.is_floating_point():
        raise ValueError(f"backbone must be a float tensor, got dtype {backbone.dtype}")
    single = backbone.dim() == 3
    if single:
        backbone = backbone[None]
    if backbone.dim() != 4 or backbone.shape[-2:] != (4, 3):
        raise ValueError(f"backbone must have shape (L, 4, 3) or (B, L, 4, 3) (atoms N, CA, C, O), got "
                         f"{tuple(backbone.shape if not single else backbone.shape[1:])}")
    B, L = backbone.shape[:2]
    if mask is None:
        mask = torch.ones(B, L, dtype=torch.bool, device=backbone.device)
    else:
        mask = torch.as_tensor(mask, device=backbone.device)
        if single and mask.dim() == 1:
            mask = mask[None]
        if mask.shape != (B, L):
            raise ValueError(f"mask must have shape (B, L) = {(B, L)}, got {tuple(mask.shape)}")
        if not ((mask == 0) | (mask == 1)).all():
            raise ValueError("mask must hold only 0 and 1")
        mask = mask.bool()
        if (mask[:, 1:] & ~mask[:, :-1]).any():
            raise ValueError("mask must put the real residues first and the padding at the end of each chain")
    if not torch.isfinite(backbone[mask]).all():
        raise ValueError("backbone has non-finite coordinates at real (unmasked) residues")
    return backbone, mask, single


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True)


def place_atom(a, b, c, bond, angle, torsion) -> torch.Tensor:
    """The position of atom d from three atoms a, b, c (NeRF, Parsons et al. 2005, J Comput Chem 26, 1063).

    a, b, c: (..., 3); bond = |cd| in Angstrom, angle = the angle b-c-d and torsion = the dihedral
    a-b-c-d, both in degrees; each a float or a tensor broadcastable to (...).  Returns d: (..., 3).
    """
    a, b, c = torch.as_tensor(a), torch.as_tensor(b), torch.as_tensor(c)
    bond, angle, torsion = (torch.as_tensor(v, dtype=c.dtype, device=c.device) for v in (bond, angle, torsion))
    angle, torsion = torch.deg2rad(angle), torch.deg2rad(torsion)
    bc = _unit(c - b)
    n = _unit(torch.linalg.cross(b - a, bc))
    m = torch.linalg.cross(n, bc)
    # d in the local frame (bc, m, n): back along bc by cos(angle), rotated about bc by the torsion.
    x = -bond * torch.cos(angle)
    y = bond * torch.sin(angle) * torch.cos(torsion)
    z = bond * torch.sin(angle) * torch.sin(torsion)
    return c + x[..., None] * bc + y[..., None] * m + z[..., None] * n


def _local_step(bond: float, angle, torsion) -> torch.Tensor:
    """The rigid motion (..., 4, 4) from the frame of atom c to the frame of the next atom d (NeRF):
    d = c + bond * (-cos angle, sin angle cos torsion, sin angle sin torsion) in c's frame, whose x
    axis runs along b -> c and whose z axis is normal to the plane a, b, c.  angle, torsion: radians."""
    ca, sa, ct, st = torch.cos(angle), torch.sin(angle), torch.cos(torsion), torch.sin(torsion)
    zero, one = torch.zeros_like(ca), torch.ones_like(ca)
    # columns: the new x axis (along c -> d), y = z' x x', the new z axis (0, -sin t, cos t)
    rows = [[-ca, -sa, zero, -bond * ca],
            [sa * ct, -ca * ct, -st, bond * sa * ct],
            [sa * st, -ca * st, ct, bond * sa * st],
            [zero, zero, zero, one]]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def _prefix_products(steps: torch.Tensor) -> torch.Tensor:
    """Inclusive prefix products T_1, T_1 T_2, ... of rigid motions steps (B, J, 4, 4), by doubling
    (Hillis & Steele): log2(J) batched matrix products instead of J sequential ones."""
    out, offset = steps, 1
    while offset < out.shape[1]:
        out = torch.cat([out[:, :offset], out[:, :-offset] @ out[:, offset:]], 1)
        offset *= 2
    return out


IDEAL_INTERNAL_ANGLES = (ANGLE_N_CA_C, ANGLE_CA_C_N, ANGLE_C_N_CA)  # degrees: the angles an internal state holds


def backbone_from_internal(internal) -> torch.Tensor:
    """A backbone from internal coordinates (radians) with Engh & Huber's bond lengths.

    internal: (L, 3) or (B, L, 3) torsions per residue (phi, psi, omega), the bond angles then Engh &
    Huber's; or (L, 6) / (B, L, 6), the torsions followed by the bond angles N-CA-C(i), CA(i)-C(i)-N(i+1)
    and C(i)-N(i+1)-CA(i+1).  phi[0], omega[-1] and the last two angles of the last residue are not
    used; psi[-1] places the last O (N-CA-C-O = psi + 180 degrees; O(i) is anti to N(i+1) inside the
    chain; CA-C-O is ideal).  Differentiable; the 3L atoms are placed with prefix products of rigid
    motions (NeRF, Parsons et al. 2005, in log-depth).  Returns (L, 4, 3) or (B, L, 4, 3) in the input's
    dtype, N of the first residue at the origin and its CA on the x axis (not centred)."""
    internal = torch.as_tensor(internal)
    if not internal.is_floating_point():
        internal = internal.to(torch.get_default_dtype())
    single = internal.dim() == 2
    if single:
        internal = internal[None]
    if internal.dim() != 3 or internal.shape[-1] not in (3, 6) or internal.shape[1] < 1:
        raise ValueError(f"internal coordinates must have shape (L, 3) or (L, 6), or a batch of them (torsions phi, "
                         f"psi, omega, then optionally the angles N-CA-C, CA-C-N, C-N-CA), got "
                         f"{tuple(internal.shape if not single else internal.shape[1:])}")
    B, L = internal.shape[:2]
    kw = dict(dtype=internal.dtype, device=internal.device)
    phi, psi, omega = internal[..., :3].unbind(-1)
    if internal.shape[-1] == 6:
        n_ca_c, ca_c_n, c_n_ca = internal[..., 3:].unbind(-1)
    else:
        n_ca_c, ca_c_n, c_n_ca = (torch.full_like(phi, math.radians(v)) for v in IDEAL_INTERNAL_ANGLES)
    # atom j = 3i + k (k = 0: N, 1: CA, 2: C); step j places atom j from the frame of atom j - 1.
    def per_atom(for_n, for_ca, for_c):
        return torch.stack([torch.roll(for_n, 1, 1), torch.roll(for_ca, 1, 1), for_c], -1).reshape(B, 3 * L)[:, 2:]
    bond = torch.tensor([BOND_C_N, BOND_N_CA, BOND_CA_C], **kw).repeat(L)[2:]
    angle = per_atom(ca_c_n, c_n_ca, n_ca_c)
    torsion = per_atom(psi, omega, phi).clone()
    torsion[:, 0] = 0.0  # C(0) lies in the xy plane
    steps = _local_step(bond, angle, torsion)  # (B, 3L - 2, 4, 4)
    start = torch.eye(4, **kw).expand(B, 1, 4, 4).clone()
    start[:, 0, 0, 3] = BOND_N_CA  # the frame of CA(0): on the x axis, N(0) behind it at the origin
    frames = start @ _prefix_products(steps)  # frames of atoms 2 .. 3L - 1
    positions = torch.cat([torch.zeros(B, 1, 3, **kw), start[:, :, :3, 3], frames[:, :, :3, 3]], 1)
    n, ca, c = positions.reshape(B, L, 3, 3).unbind(2)
    to_o = _local_step(BOND_C_O, torch.full_like(psi, math.radians(ANGLE_CA_C_O)), psi + math.pi)
    o = (frames[:, ::3] @ to_o)[..., :3, 3]  # from the frame of each C
    backbone = torch.stack([n, ca, c, o], 2)
    return backbone[0] if single else backbone


# the last residue's entries that no atom of the chain defines: omega and the two peptide angles (radians)
END_FILLS = {2: math.pi, 4: math.radians(ANGLE_CA_C_N), 5: math.radians(ANGLE_C_N_CA)}


def fill_ends(internal: torch.Tensor, *, phi_first: float = PHI_FIRST) -> torch.Tensor:
    """A copy of one chain's internal coordinates (L, 6) (e.g. a window of a longer chain's) with the
    entries its own atoms do not define filled as :func:`internal_from_backbone` fills them: phi of the
    first residue, omega and the peptide angles of the last (its psi places its O and is kept)."""
    out = internal.clone()
    out[0, 0] = phi_first
    for k, value in END_FILLS.items():
        out[-1, k] = value
    return out


def internal_from_backbone(backbone, mask=None, *, phi_first: float = PHI_FIRST) -> torch.Tensor:
    """The inverse of :func:`backbone_from_internal` up to the bond lengths: (B, L, 6) or (L, 6) radians
    (phi, psi, omega, N-CA-C, CA-C-N, C-N-CA) of backbones (B, L, 4, 3) / (L, 4, 3).  The entries the
    chain does not define are filled: phi of the first residue with ``phi_first``, omega of the last
    with pi and its last two angles with Engh & Huber's, psi of the last from its O (N-CA-C-O - 180
    degrees); zero at padding."""
    x, mask, single = as_batch(backbone, mask)
    phi, psi, omega = (torch.deg2rad(v) for v in dihedrals(x, mask))
    angles = bond_angles(x, mask)
    nan = torch.full_like(phi[:, :1], math.nan)
    n_ca_c = torch.deg2rad(angles["N-CA-C"])
    ca_c_n, c_n_ca = (torch.deg2rad(torch.cat([angles[k], nan], 1)) for k in ("CA-C-N", "C-N-CA"))
    last_psi = torch.deg2rad(dihedral(x[:, :, 0], x[:, :, 1], x[:, :, 2], x[:, :, 3])) - math.pi
    last_psi = torch.remainder(last_psi + math.pi, 2 * math.pi) - math.pi
    is_last = torch.arange(x.shape[1], device=x.device)[None] == (mask.sum(1) - 1)[:, None]
    phi[:, 0] = phi_first
    out = torch.stack([phi, psi, omega, n_ca_c, ca_c_n, c_n_ca], -1)
    for k, value in {1: last_psi, **END_FILLS}.items():
        out[..., k] = torch.where(is_last, torch.as_tensor(value, dtype=out.dtype, device=out.device), out[..., k])
    out = torch.where(mask[..., None], out, torch.zeros_like(out))
    return out[0] if single else out


def build_backbone(phi, psi, omega=None) -> torch.Tensor:
    """A backbone from dihedrals (degrees) with Engh & Huber's bond lengths and angles.

    phi, psi, omega: (L,) or (B, L); omega defaults to 180 (trans).  phi[0], psi[-1] and omega[-1]
    are not used (they may be NaN).  O(i) lies in the peptide plane, anti to N(i+1) about CA-C (the
    last residue's O uses its psi when finite, else 180).  Returns (L, 4, 3) or (B, L, 4, 3) in the
    dtype of phi (float: the default dtype for integer input), centred at the CA centroid.
    """
    phi = torch.as_tensor(phi)
    if not phi.is_floating_point():
        phi = phi.to(torch.get_default_dtype())
    psi = torch.as_tensor(psi, dtype=phi.dtype, device=phi.device)
    omega = torch.full_like(phi, 180.0) if omega is None else torch.as_tensor(omega, dtype=phi.dtype,
                                                                                 device=phi.device)
    if phi.dim() not in (1, 2) or psi.shape != phi.shape or omega.shape != phi.shape:
        raise ValueError(f"phi, psi, omega must share one shape (L,) or (B, L), got {tuple(phi.shape)}, "
                         f"{tuple(psi.shape)}, {tuple(omega.shape)}")
    single = phi.dim() == 1
    if single:
        phi, psi, omega = phi[None], psi[None], omega[None]
    if phi.shape[1] < 1:
        raise ValueError("a backbone needs at least one residue")
    for name, v, part in (("phi", phi, phi[:, 1:]), ("psi", psi, psi[:, :-1]), ("omega", omega, omega[:, :-1])):
        if not torch.isfinite(part).all():
            raise ValueError(f"{name} must be finite where it is used (all but the chain end)")
    phi = torch.cat([torch.zeros_like(phi[:, :1]), phi[:, 1:]], 1)
    psi = torch.cat([psi[:, :-1], torch.where(torch.isfinite(psi[:, -1:]), psi[:, -1:], torch.full_like(psi[:, -1:], 180.0))], 1)
    omega = torch.cat([omega[:, :-1], torch.full_like(omega[:, -1:], 180.0)], 1)
    backbone = backbone_from_internal(torch.deg2rad(torch.stack([phi, psi, omega], -1)))
    backbone = backbone - backbone[:, :, 1].mean(dim=1)[:, None, None]
    return backbone[0] if single else backbone


def ideal_helix(L: int, dtype=None) -> torch.Tensor:
    """An ideal right-handed alpha helix of L residues (phi -57, psi -47, omega 180): (L, 4, 3)."""
    return build_backbone(torch.full((L,), -57.0, dtype=dtype), torch.full((L,), -47.0, dtype=dtype))


def ideal_strand(L: int, dtype=None) -> torch.Tensor:
    """An ideal beta strand of L residues (phi -120, psi +130, omega 180): (L, 4, 3)."""
    return build_backbone(torch.full((L,), -120.0, dtype=dtype), torch.full((L,), 130.0, dtype=dtype))


def ideal_hairpin(L: int, dtype=None) -> torch.Tensor:
    """A beta hairpin of L >= 6 residues: two antiparallel strands joined by a two-residue type I' turn.

    With k = L // 2 - 1, the turn residues k, k+1 (the turn's i+1, i+2) have (phi, psi) = (75, 30) and
    (85, 5), within the type I' region around (60, 30), (90, 0).  The strands before and after have
    (-160, 170) and (-105, 145): values found here by a small search so that, with uniform strands,
    cross-strand CA-CA distances near the turn are 4.3-6.0 Angstrom and no backbone atoms clash
    (the strands splay apart far from the turn, as untwisted uniform strands must).  Returns (L, 4, 3).
    """
    if L < 6:
        raise ValueError(f"a hairpin needs at least 6 residues, got L={L}")
    k = L // 2 - 1
    phi = torch.full((L,), -160.0, dtype=dtype)
    psi = torch.full((L,), 170.0, dtype=dtype)
    phi[k + 2:], psi[k + 2:] = -105.0, 145.0
    phi[k], psi[k], phi[k + 1], psi[k + 1] = 75.0, 30.0, 85.0, 5.0
    return build_backbone(phi, psi)


def dihedral(a, b, c, d) -> torch.Tensor:
    """The dihedral angle a-b-c-d in degrees, in (-180, 180]: a, b, c, d (..., 3) -> (...)."""
    b0, b1, b2 = a - b, _unit(c - b), d - c
    v = b0 - (b0 * b1).sum(-1, keepdim=True) * b1
    w = b2 - (b2 * b1).sum(-1, keepdim=True) * b1
    x = (v * w).sum(-1)
    y = (torch.linalg.cross(b1, v) * w).sum(-1)
    return torch.rad2deg(torch.atan2(y, x))


def _nan_pad(values: torch.Tensor, valid: torch.Tensor, front: bool) -> torch.Tensor:
    """values, valid: (B, L-1) -> (B, L) with NaN at invalid places and at the front or the back."""
    values = torch.where(valid, values, torch.full_like(values, math.nan))
    pad = torch.full_like(values[:, :1], math.nan)
    return torch.cat([pad, values] if front else [values, pad], dim=1)


def dihedrals(backbone, mask=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backbone dihedrals in degrees: backbone (B, L, 4, 3) or (L, 4, 3), mask (B, L).

    Returns phi, psi, omega, each (B, L) (or (L,) for one chain), NaN where undefined: phi of the
    first residue, psi and omega of the last, and wherever a needed residue is masked out.
    """
    x, mask, single = as_batch(backbone, mask)
    n, ca, c = x[:, :, 0], x[:, :, 1], x[:, :, 2]
    pair = mask[:, 1:] & mask[:, :-1]
    phi = _nan_pad(dihedral(c[:, :-1], n[:, 1:], ca[:, 1:], c[:, 1:]), pair, front=True)
    psi = _nan_pad(dihedral(n[:, :-1], ca[:, :-1], c[:, :-1], n[:, 1:]), pair, front=False)
    omega = _nan_pad(dihedral(ca[:, :-1], c[:, :-1], n[:, 1:], ca[:, 1:]), pair, front=False)
    return (phi[0], psi[0], omega[0]) if single else (phi, psi, omega)


def _angle(a, b, c) -> torch.Tensor:
    """The angle a-b-c in degrees: (..., 3) each -> (...)."""
    u, v = _unit(a - b), _unit(c - b)
    return torch.rad2deg(torch.acos((u * v).sum(-1).clamp(-1.0, 1.0)))


def bond_lengths(backbone, mask=None) -> dict[str, torch.Tensor]:
    """Bond lengths in Angstrom: backbone (B, L, 4, 3), mask (B, L).

    Returns {"N-CA": (B, L), "CA-C": (B, L), "C-O": (B, L), "C-N": (B, L-1)} where "C-N" is the
    peptide bond C(i) - N(i+1); NaN at masked residues (pairs).  One chain in, no batch dim out.
    """
    x, mask, single = as_batch(backbone, mask)
    n, ca, c, o = x.unbind(dim=2)
    nan = torch.tensor(math.nan, dtype=x.dtype, device=x.device)
    pair = mask[:, 1:] & mask[:, :-1]
    out = {"N-CA": torch.where(mask, (ca - n).norm(dim=-1), nan),
           "CA-C": torch.where(mask, (c - ca).norm(dim=-1), nan),
           "C-O": torch.where(mask, (o - c).norm(dim=-1), nan),
           "C-N": torch.where(pair, (n[:, 1:] - c[:, :-1]).norm(dim=-1), nan)}
    return {k: v[0] for k, v in out.items()} if single else out


def bond_angles(backbone, mask=None) -> dict[str, torch.Tensor]:
    """Bond angles in degrees: backbone (B, L, 4, 3), mask (B, L).

    Returns {"N-CA-C": (B, L), "CA-C-O": (B, L), "CA-C-N": (B, L-1), "C-N-CA": (B, L-1)} where the
    last two span the peptide bond (CA(i)-C(i)-N(i+1), C(i)-N(i+1)-CA(i+1)); NaN where masked.
    """
    x, mask, single = as_batch(backbone, mask)
    n, ca, c, o = x.unbind(dim=2)
    nan = torch.tensor(math.nan, dtype=x.dtype, device=x.device)
    pair = mask[:, 1:] & mask[:, :-1]
    out = {"N-CA-C": torch.where(mask, _angle(n, ca, c), nan),
           "CA-C-O": torch.where(mask, _angle(ca, c, o), nan),
           "CA-C-N": torch.where(pair, _angle(ca[:, :-1], c[:, :-1], n[:, 1:]), nan),
           "C-N-CA": torch.where(pair, _angle(c[:, :-1], n[:, 1:], ca[:, 1:]), nan)}
    return {k: v[0] for k, v in out.items()} if single else out


def _points(x, mask, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Points (N, 3) / (B, N, 3) or backbones (L, 4, 3) / (B, L, 4, 3) -> (B, N, 3), weights (B, N)."""
    x = torch.as_tensor(x)
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor, got dtype {x.dtype}")
    if x.dim() in (3, 4) and x.shape[-2:] == (4, 3):
        x, m, _ = as_batch(x, mask)  # backbones: every atom of a real residue counts
        return x.flatten(1, 2), m[:, :, None].expand(-1, -1, 4).flatten(1).to(x.dtype)
    if x.dim() == 2:
        x = x[None]
        if mask is not None and torch.as_tensor(mask).dim() == 1:
            mask = torch.as_tensor(mask)[None]
    if x.dim() != 3 or x.shape[-1] != 3:
        raise ValueError(f"{name} must be points (N, 3), (B, N, 3) or backbones (L, 4, 3), (B, L, 4, 3), "
                         f"got {tuple(x.shape)}")
    w = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device) if mask is None else torch.as_tensor(mask).to(x)
    if w.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape {tuple(x.shape[:2])}, got {tuple(w.shape)}")
    return x, w


def kabsch(mobile, target, mask=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The proper rotation and translation that best superpose mobile onto target (Kabsch 1976).

    mobile, target: points (N, 3) / (B, N, 3) or backbones (L, 4, 3) / (B, L, 4, 3) (all four atoms
    of each real residue count), same shape; mask: (B, N) or (B, L) of points or residues to fit.
    Returns rotation (B, 3, 3) with det +1 (never a reflection), translation (B, 3) such that
    ``mobile @ rotation.T + translation`` fits target, and the RMSD after fitting (B,) (Angstrom).
    """
    p, w = _points(mobile, mask, "mobile")
    q, _ = _points(target, mask, "target")
    if p.shape != q.shape:
        raise ValueError(f"mobile and target must have the same shape, got {tuple(p.shape)} and {tuple(q.shape)}")
    if (w.sum(dim=1) < 3).any():
        raise ValueError("kabsch needs at least 3 points per structure")
    wn = w / w.sum(dim=1, keepdim=True)
    p_mean, q_mean = (wn[..., None] * p).sum(1), (wn[..., None] * q).sum(1)
    pc, qc = p - p_mean[:, None], q - q_mean[:, None]
    h = (wn[..., None] * pc).transpose(1, 2) @ qc  # (B, 3, 3): covariance
    u, _, vt = torch.linalg.svd(h)
    d = torch.sign(torch.linalg.det(vt.transpose(1, 2) @ u.transpose(1, 2)))
    d = torch.where(d == 0, torch.ones_like(d), d)
    diag = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], dim=-1))
    rotation = vt.transpose(1, 2) @ diag @ u.transpose(1, 2)
    translation = q_mean - (rotation @ p_mean[..., None])[..., 0]
    fitted = p @ rotation.transpose(1, 2) + translation[:, None]
    rmsd = ((wn * ((fitted - q) ** 2).sum(-1)).sum(1)).clamp_min(0).sqrt()
    return rotation, translation, rmsd


def residue_frames(backbone: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each residue's rigid frame from its N, CA, C: rotation (..., 3, 3) whose columns are the unit
    vectors CA->C, the part of CA->N normal to it, and their cross product, and origin CA (..., 3);
    backbone (..., 4, 3).  A point p is ``(p - origin) @ rotation`` in the frame.  Differentiable."""
    n, ca, c = backbone[..., 0, :], backbone[..., 1, :], backbone[..., 2, :]
    e1 = _unit(c - ca)
    to_n = n - ca
    e2 = _unit(to_n - (to_n * e1).sum(-1, keepdim=True) * e1)
    return torch.stack([e1, e2, torch.linalg.cross(e1, e2)], -1), ca


def solve_internal(state: torch.Tensor, free: torch.Tensor, residual, *, iterations: int, damping: float = 1.0,
                   max_step: float = 0.3, tolerance: float = 1e-3) -> torch.Tensor:
    """Internal coordinates moved so that ``residual`` vanishes: damped least squares (Levenberg 1944;
    the inverse kinematics of loop closure), the smallest change of the ``free`` entries per step.

    state: (B, L, 6) radians; free: (B, L, 6) bool, the entries that may move; residual:
    ``(state (B, L, 6)) -> (B, R)``, differentiable (Angstrom, e.g. where motif atoms are against where
    they should be).  Each step solves ``(J J^T + damping I) y = r`` and moves ``-J^T y``, scaled so that
    no entry moves more than ``max_step`` radians; it stops after ``iterations`` steps or once every
    example's largest residual is below ``tolerance``.  Returns the new state (B, L, 6), detached."""
    state = state.detach()
    movable = free.to(state.dtype).flatten(1)[:, None]  # (B, 1, L*6)
    for _ in range(iterations):
        with torch.enable_grad():
            x = state.requires_grad_(True)
            r = residual(x)
            if r.ndim != 2 or r.shape[0] != state.shape[0]:
                raise ValueError(f"a residual must have shape (B, R) with B = {state.shape[0]}, got {tuple(r.shape)}")
            rows = [torch.autograd.grad(r[:, j].sum(), x, retain_graph=j + 1 < r.shape[1])[0].flatten(1)
                    for j in range(r.shape[1])]
        state, r = state.detach(), r.detach()
        if float(r.abs().amax()) < tolerance:
            break
        jacobian = torch.stack(rows, 1) * movable  # (B, R, L*6)
        normal = jacobian @ jacobian.transpose(1, 2) + damping * torch.eye(r.shape[1], dtype=r.dtype, device=r.device)
        step = -(jacobian.transpose(1, 2) @ torch.linalg.solve(normal, r[..., None]))[..., 0]  # (B, L*6)
        largest = step.abs().amax(1, keepdim=True).clamp(min=1e-30)
        state = state + (step * (max_step / largest).clamp(max=1.0)).view_as(state)
    return state


def rmsd_after_superposition(mobile, target, mask=None) -> torch.Tensor:
    """RMSD in Angstrom after the optimal proper superposition (see ``kabsch``): (B,)."""
    return kabsch(mobile, target, mask)[2]


def random_rotations(n: int, generator: torch.Generator | None = None, dtype=None, device=None) -> torch.Tensor:
    """n rotation matrices (n, 3, 3) drawn uniformly (Haar) from SO(3): unit quaternions from
    normalised 4-D Gaussians (Shoemake 1992).  The generator (and ``device``) decide where they are drawn."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    dtype = dtype or torch.get_default_dtype()
    q = torch.randn(n, 4, generator=generator, dtype=dtype, device=device)
    w, x, y, z = _unit(q).unbind(-1)
    return torch.stack([
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], -2)


def centre(backbone, mask=None) -> torch.Tensor:
    """Translate each chain so that the centroid of its real CA atoms is at the origin.

    backbone: (B, L, 4, 3) or (L, 4, 3); mask: (B, L).  Padding residues are set to zero.
    Returns the same shape.
    """
    x, mask, single = as_batch(backbone, mask)
    m = mask.to(x.dtype)
    count = m.sum(dim=1).clamp_min(1)
    ca = torch.where(mask[..., None], x[:, :, 1], torch.zeros_like(x[:, :, 1]))
    mean = ca.sum(dim=1) / count[:, None]
    out = torch.where(mask[..., None, None], x - mean[:, None, None], torch.zeros_like(x))
    return out[0] if single else out
