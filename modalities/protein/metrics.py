"""The protein backbone evaluation suite, protocol ``protein-backbone-eval/1``.

Backbones are (B, L, 4, 3) (atoms N, CA, C, O; Angstrom) or one chain (L, 4, 3), with an optional
mask (B, L) of real residues (padding at the end); see ``modalities.protein.geometry``.

- ``bond_report``: per bond and angle type, the mean absolute deviation from Engh & Huber's ideal
  values and the fraction within tolerance: 0.1 Angstrom for bonds, 10 degrees for angles.
- ``ca_ca``, ``ca_ca_within`` (within 0.2 Angstrom of 3.80) and ``chain_breaks``: a break is
  CA(i) - CA(i+1) > 4.2 Angstrom (ideal 3.80).
- ``clashes``: non-bonded backbone atom pairs closer than 3.0 Angstrom (see its docstring for the
  pairs it leaves out), and CA-CA pairs closer than 3.0 Angstrom.
- ``ramachandran_regions``: a rectangular approximation of the Ramachandran plot (this module's own,
  not the contours of Lovell et al. 2003); ``phi_psi_kl``: KL divergence of 2-D phi/psi histograms.
- ``radius_of_gyration`` of the CA atoms against ``rg_expected(L) = 2.2 L^0.38``.
- ``secondary_structure``: P-SEA on CA atoms (biotite); ``sse_fractions``.
- ``tm_score`` and ``pairwise_tm_diversity`` with TM-align (tmtools).

Designability needs a folding model that is not available offline: it is "not computed" here.
"""
from __future__ import annotations

import math

import torch

from modalities.protein import geometry

__all__ = ["PROTOCOL", "BOND_TOLERANCE", "ANGLE_TOLERANCE", "BREAK_THRESHOLD", "CLASH_CUTOFF", "HBOND_CUTOFF",
           "REGIONS", "CA_CA_TOLERANCE", "bond_report", "ca_ca", "ca_ca_within", "chain_breaks", "clashes",
           "ramachandran_regions", "region_fractions",
           "phi_psi_kl", "radius_of_gyration", "rg_expected", "secondary_structure", "sse_fractions", "tm_score",
           "pairwise_tm_diversity"]

PROTOCOL = "protein-backbone-eval/1"

BOND_TOLERANCE = 0.1    # Angstrom
ANGLE_TOLERANCE = 10.0  # degrees
BREAK_THRESHOLD = 4.2   # Angstrom, CA(i) - CA(i+1)
CA_CA_TOLERANCE = 0.2   # Angstrom, around 3.80
CLASH_CUTOFF = 3.0      # Angstrom
HBOND_CUTOFF = 2.5      # Angstrom, for N-O pairs (backbone hydrogen bonds put them at 2.8-3.1)

# Rectangular Ramachandran regions, (phi range, psi ranges) in degrees, bounds inclusive.  A simple
# approximation of the broad allowed regions for non-glycine residues (cf. Lovell et al. 2003, Fig. 5);
# not contour-based.  The beta region's psi wraps around +-180.
REGIONS = ("alpha", "beta", "left", "disallowed")
_REGION_BOXES = {
    "alpha": ((-160.0, -20.0), ((-120.0, 50.0),)),
    "beta": ((-180.0, -45.0), ((90.0, 180.0), (-180.0, -150.0))),
    "left": ((30.0, 120.0), ((-60.0, 90.0),)),
}


def _summary(values: torch.Tensor, ideal: float, tol: float) -> dict:
    values = values[~torch.isnan(values)]
    dev = (values - ideal).abs()
    n = values.numel()
    return {"ideal": ideal, "mad": dev.mean().item() if n else math.nan, "within": (dev <= tol).float().mean().item()
            if n else math.nan, "outliers": int((dev > tol).sum()), "count": n}


def bond_report(backbone, mask=None) -> dict:
    """Bond lengths and angles against Engh & Huber's ideal values, over all chains of the batch.

    backbone: (B, L, 4, 3) or (L, 4, 3); mask: (B, L).  Returns
    ``{"bonds": {name: stats}, "angles": {name: stats}, "bonds_within", "angles_within", "within"}``
    where bond names are N-CA, CA-C, C-O, C-N (peptide) and angle names N-CA-C, CA-C-O, CA-C-N,
    C-N-CA; stats = {"ideal", "mad" (mean absolute deviation), "within" (fraction with deviation
    <= tolerance), "outliers" (count beyond it), "count"}.  Tolerances: 0.1 Angstrom, 10 degrees.
    The last three entries are the fractions within tolerance over all bonds, all angles and both.
    """
    lengths = geometry.bond_lengths(backbone, mask)
    angles = geometry.bond_angles(backbone, mask)
    bonds = {k: _summary(v, geometry.IDEAL_BONDS[k], BOND_TOLERANCE) for k, v in lengths.items()}
    angs = {k: _summary(v, geometry.IDEAL_ANGLES[k], ANGLE_TOLERANCE) for k, v in angles.items()}

    def frac(stats):
        count = sum(s["count"] for s in stats)
        return 1.0 - sum(s["outliers"] for s in stats) / count if count else math.nan

    return {"bonds": bonds, "angles": angs, "bonds_within": frac(bonds.values()),
            "angles_within": frac(angs.values()), "within": frac([*bonds.values(), *angs.values()])}


def ca_ca(backbone, mask=None) -> torch.Tensor:
    """CA(i) - CA(i+1) distances in Angstrom: (B, L-1) (or (L-1,) for one chain), NaN at padding."""
    x, m, single = geometry.as_batch(backbone, mask)
    ca = x[:, :, 1]
    d = (ca[:, 1:] - ca[:, :-1]).norm(dim=-1)
    d = torch.where(m[:, 1:] & m[:, :-1], d, torch.full_like(d, math.nan))
    return d[0] if single else d


def ca_ca_within(backbone, mask=None, tolerance: float = CA_CA_TOLERANCE) -> float:
    """The share of CA(i) - CA(i+1) distances within ``tolerance`` (0.2 A) of 3.80 A (a trans peptide)."""
    d = ca_ca(backbone, mask)
    d = d[torch.isfinite(d)]
    return float(((d - geometry.CA_CA).abs() <= tolerance).double().mean()) if d.numel() else math.nan


def chain_breaks(backbone, mask=None, threshold: float = BREAK_THRESHOLD) -> torch.Tensor:
    """Chain breaks per chain: the number of CA(i) - CA(i+1) distances above ``threshold``
    (4.2 Angstrom by default; ideal 3.80).  Returns (B,) long (a 0-dim tensor for one chain)."""
    d = ca_ca(backbone, mask)
    return (d > threshold).sum(dim=-1)


def clashes(backbone, mask=None, cutoff: float = CLASH_CUTOFF, hbond_cutoff: float = HBOND_CUTOFF) -> dict:
    """Steric clashes between backbone atoms, per chain.

    backbone: (B, L, 4, 3) or (L, 4, 3); mask: (B, L).  Atom pairs counted: the 16 pairs of atoms
    (N, CA, C, O) x (N, CA, C, O) of residues i < j with j - i >= 2.  Left out as bonded or fixed by
    covalent geometry: every pair within one residue and every pair between neighbours i, i+1.
    A pair clashes when closer than ``cutoff`` (3.0 Angstrom), except N-O pairs, which backbone
    hydrogen bonds put at 2.8-3.1 Angstrom: they clash below ``hbond_cutoff`` (2.5 Angstrom).
    Separately, ``"ca"`` counts CA-CA pairs with j - i > 2 closer than ``cutoff``.

    Returns {"atom": (B,) long, "ca": (B,) long, "rate": (B,) float = atom clashes per real residue}
    (0-dim tensors for one chain).
    """
    x, m, single = geometry.as_batch(backbone, mask)
    B, L = m.shape
    flat = x.reshape(B, L * 4, 3)
    d = torch.cdist(flat, flat).reshape(B, L, 4, L, 4)
    i = torch.arange(L, device=x.device)
    sep = i[None, :] - i[:, None]                             # j - i, (L, L)
    real = m[:, :, None] & m[:, None, :]                      # (B, L, L)
    is_no = torch.zeros(4, 4, dtype=torch.bool, device=x.device)
    is_no[0, 3] = is_no[3, 0] = True
    limit = torch.where(is_no, torch.tensor(hbond_cutoff, dtype=x.dtype), torch.tensor(cutoff, dtype=x.dtype))
    close = d < limit[None, None, :, None, :].to(x.device)     # (B, L, 4, L, 4)
    pairs = (real & (sep >= 2))[:, :, None, :, None]
    atom = (close & pairs).flatten(1).sum(dim=1)
    ca_close = (d[:, :, 1, :, 1] < cutoff) & real & (sep > 2)
    ca = ca_close.flatten(1).sum(dim=1)
    rate = atom.to(x.dtype) / m.sum(dim=1).clamp_min(1).to(x.dtype)
    out = {"atom": atom, "ca": ca, "rate": rate}
    return {k: v[0] for k, v in out.items()} if single else out


def ramachandran_regions(phi, psi) -> torch.Tensor:
    """Ramachandran region of each residue: phi, psi in degrees, same shape (any).

    Returns a long tensor of that shape indexing ``REGIONS`` = ("alpha", "beta", "left",
    "disallowed"), and -1 where phi or psi is NaN (chain ends, padding).  The regions are boxes
    (bounds inclusive, psi wrapping at +-180 for beta), a simple approximation of the broad allowed
    regions of the general (non-Gly, non-Pro) case:
    alpha phi [-160, -20], psi [-120, 50];  beta phi [-180, -45], psi [90, 180] or [-180, -150];
    left (left-handed helix) phi [30, 120], psi [-60, 90];  everything else is "disallowed".
    """
    phi, psi = torch.as_tensor(phi), torch.as_tensor(psi)
    if phi.shape != psi.shape:
        raise ValueError(f"phi and psi must have the same shape, got {tuple(phi.shape)} and {tuple(psi.shape)}")
    phi = (phi + 180.0) % 360.0 - 180.0  # to [-180, 180); 180 itself maps to -180
    psi = (psi + 180.0) % 360.0 - 180.0
    out = torch.full(phi.shape, REGIONS.index("disallowed"), dtype=torch.long, device=phi.device)
    for code, name in enumerate(REGIONS[:-1]):  # the boxes do not overlap
        (lo, hi), psi_boxes = _REGION_BOXES[name]
        inside = torch.zeros_like(out, dtype=torch.bool)
        for psi_lo, psi_hi in psi_boxes:
            inside |= (psi >= psi_lo) & (psi <= psi_hi)
        inside &= (phi >= lo) & (phi <= hi)
        out = torch.where(inside, torch.full_like(out, code), out)
    return torch.where(torch.isnan(phi) | torch.isnan(psi), torch.full_like(out, -1), out)


def region_fractions(phi, psi) -> dict[str, float]:
    """Fraction of residues (with defined phi and psi) in each Ramachandran region: {name: float}."""
    codes = ramachandran_regions(phi, psi)
    codes = codes[codes >= 0]
    n = codes.numel()
    return {name: ((codes == k).sum().item() / n if n else math.nan) for k, name in enumerate(REGIONS)}


def _phi_psi(x) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.dim() < 1 or x.shape[-1] != 2:
        raise ValueError(f"phi/psi pairs must have shape (..., 2) (degrees), got {tuple(x.shape)}")
    x = x.reshape(-1, 2)
    return x[~torch.isnan(x).any(dim=1)]


def phi_psi_kl(phi_psi_a, phi_psi_b, bins: int = 36, pseudocount: float = 1e-6) -> float:
    """KL(a || b) in nats between 2-D phi/psi histograms.

    phi_psi_a, phi_psi_b: (..., 2) pairs in degrees (rows with NaN are dropped).  Each set is binned
    on a ``bins`` x ``bins`` grid over [-180, 180)^2 (10-degree bins by default) and normalised to
    probabilities; ``pseudocount`` is then added to every bin's probability and the histogram
    renormalised (additive smoothing, so empty bins of b give a finite number).
    """
    if bins < 1 or pseudocount <= 0:
        raise ValueError(f"bins must be >= 1 and pseudocount > 0, got bins={bins}, pseudocount={pseudocount}")

    def hist(x):
        x = _phi_psi(x)
        if x.shape[0] == 0:
            raise ValueError("no defined phi/psi pairs to histogram")
        idx = (((x + 180.0) % 360.0) / (360.0 / bins)).long().clamp(0, bins - 1)
        h = torch.bincount(idx[:, 0] * bins + idx[:, 1], minlength=bins * bins).double()
        p = h / h.sum() + pseudocount
        return p / p.sum()

    p, q = hist(phi_psi_a), hist(phi_psi_b)
    return (p * (p / q).log()).sum().clamp_min(0).item()


def radius_of_gyration(backbone, mask=None) -> torch.Tensor:
    """Radius of gyration of the real CA atoms in Angstrom: (B,) (0-dim for one chain)."""
    x, m, single = geometry.as_batch(backbone, mask)
    w = m.to(x.dtype)
    ca = x[:, :, 1]
    n = w.sum(dim=1).clamp_min(1)
    mean = (w[..., None] * ca).sum(1) / n[:, None]
    rg = ((w * ((ca - mean[:, None]) ** 2).sum(-1)).sum(1) / n).sqrt()
    return rg[0] if single else rg


def rg_expected(L):
    """The expected radius of gyration (Angstrom) of a compact globular protein of L residues,
    ``2.2 * L ** 0.38``: an empirical Flory-like fit (Skolnick, Kolinski & Ortiz 1997, J Mol Biol
    265, 217).  An approximation: elongated or multi-domain proteins sit above it.
    Takes an int, a float or a tensor."""
    if isinstance(L, torch.Tensor):
        return 2.2 * L.to(torch.get_default_dtype() if not L.is_floating_point() else L.dtype) ** 0.38
    return 2.2 * float(L) ** 0.38


def _chains(backbone, mask) -> list[torch.Tensor]:
    """A list of the real residues of each chain: (L_b, 4, 3), or a list of such backbones."""
    if isinstance(backbone, (list, tuple)):
        return [geometry.as_batch(b)[0][0] for b in backbone]
    x, m, _ = geometry.as_batch(backbone, mask)
    return [x[b, : int(m[b].sum())] for b in range(x.shape[0])]


def secondary_structure(backbone, mask=None) -> list[str]:
    """P-SEA secondary structure from CA atoms (Labesse et al. 1997, as implemented by biotite's
    ``annotate_sse``): one string per chain over its real residues, 'a' helix, 'b' strand, 'c' coil.

    backbone: (B, L, 4, 3) or (L, 4, 3) with mask (B, L), or a list of (L_b, 4, 3) chains.
    """
    try:
        import biotite.structure as struc
    except ImportError as e:
        raise ImportError("secondary_structure needs biotite: pip install biotite") from e
    import numpy as np

    out = []
    for chain in _chains(backbone, mask):
        n = chain.shape[0]
        atoms = struc.AtomArray(n)
        atoms.coord = chain[:, 1].detach().cpu().double().numpy().astype(np.float32)
        atoms.atom_name[:] = "CA"
        atoms.element[:] = "C"
        atoms.res_name[:] = "GLY"
        atoms.res_id[:] = np.arange(1, n + 1)
        atoms.chain_id[:] = "A"
        sse = struc.annotate_sse(atoms) if n else []
        out.append("".join(s if s else "c" for s in sse))
    return out


def sse_fractions(sse: list[str]) -> dict[str, float]:
    """Fractions of 'a', 'b' and 'c' over all residues of the strings from ``secondary_structure``."""
    text = "".join(sse)
    n = len(text)
    return {k: (text.count(k) / n if n else math.nan) for k in "abc"}


def _ca_numpy(x, name: str):
    x = torch.as_tensor(x)
    if x.dim() == 3 and x.shape[1:] == (4, 3):
        x = x[:, 1]
    if x.dim() != 2 or x.shape[1] != 3 or x.shape[0] < 3:
        raise ValueError(f"{name} must be one chain (L, 4, 3) or its CA atoms (L, 3) with L >= 3, "
                         f"got {tuple(x.shape)}")
    return x.detach().cpu().double().numpy()


def _tm_align(a, b):
    try:
        import tmtools
    except ImportError as e:
        raise ImportError("tm_score needs tmtools: pip install tmtools") from e
    import numpy as np

    ca, cb = _ca_numpy(a, "a"), _ca_numpy(b, "b")
    return tmtools.tm_align(np.ascontiguousarray(ca), np.ascontiguousarray(cb), "G" * len(ca), "G" * len(cb))


def tm_score(a, b) -> float:
    """TM-score of chain a aligned onto chain b by TM-align (tmtools), normalised by the length of b.

    a, b: one chain each, (L, 4, 3) backbone or (L, 3) CA atoms; both get an all-glycine sequence,
    so the alignment is purely structural.  1 for identical structures; below ~0.2 for unrelated.
    """
    return float(_tm_align(a, b).tm_norm_chain2)


def pairwise_tm_diversity(chains, mask=None) -> float:
    """Mean TM-score over all unordered pairs of chains (lower = more diverse).

    chains: a list of (L_b, 4, 3) backbones or a batch (B, L, 4, 3) with mask (B, L).  Each pair is
    scored by one TM-align run and the mean of its two normalisations (by either chain's length),
    so the number is symmetric.  Needs at least two chains.
    """
    chains = _chains(chains, mask)
    if len(chains) < 2:
        raise ValueError(f"pairwise_tm_diversity needs at least 2 chains, got {len(chains)}")
    scores = []
    for i in range(len(chains)):
        for j in range(i + 1, len(chains)):
            r = _tm_align(chains[i], chains[j])
            scores.append(0.5 * (r.tm_norm_chain1 + r.tm_norm_chain2))
    return float(sum(scores) / len(scores))
