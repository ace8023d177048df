"""Potentials for guiding backbone sampling: differentiable energies of backbones, in the spirit of
RFdiffusion's (Watson et al. 2023), used through ``zoo.core.guidance.Potential`` (``ProteinModel``'s
``potentials``, ``zoo sample --potential clash=1``).

Each energy takes backbones (B, L, 4, 3) in Angstrom and a mask (B, L) of real residues and returns
(B,), zero for a chain that satisfies it:

- ``clash``: the sum over the atom pairs that ``metrics.clashes`` judges (residues i, j with
  j - i >= 2) of ``relu(cutoff - d)^2``, with the metric's cutoffs (3.0 A; 2.5 A for N-O pairs,
  which hydrogen bonds bring close); ``CLASH_MARGIN`` (0.2 A) is added to each cutoff, so that the
  guidance stops short of a clash rather than at its edge;
- ``bond``: the sum of ``(|C(i) - N(i+1)| - 1.329)^2`` over the peptide bonds (zero by construction in
  the internal representation, where NeRF builds every bond at its ideal length);
- ``rg``: ``relu(Rg / rg_expected(L) - RG_RATIO)^2``, a pull toward compact chains when the radius
  of gyration of the CA atoms exceeds ``RG_RATIO`` (1.2, what real chain crops score) times the
  expectation ``2.2 L^0.38``.
"""
from __future__ import annotations

import torch

from .geometry import BOND_C_N
from .metrics import CLASH_CUTOFF, HBOND_CUTOFF, rg_expected

__all__ = ["ENERGIES", "CLASH_MARGIN", "RG_RATIO", "clash", "bond", "rg", "energy", "check_weights"]

CLASH_MARGIN = 0.2  # Angstrom
RG_RATIO = 1.2


def _pairs(mask: torch.Tensor) -> torch.Tensor:
    """(B, L, 1, L, 1) bool: the residue pairs i, j with j - i >= 2, both real."""
    m = mask.bool()
    i = torch.arange(m.shape[1], device=m.device)
    return ((i[None, :] - i[:, None] >= 2)[None] & m[:, :, None] & m[:, None, :])[:, :, None, :, None]


def clash(backbone: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Steric repulsion (B,) in A^2 (module docstring)."""
    B, L = mask.shape
    flat = backbone.reshape(B, L * 4, 3)
    d = ((flat[:, :, None] - flat[:, None]).pow(2).sum(-1) + 1e-9).sqrt().reshape(B, L, 4, L, 4)
    limit = torch.full((4, 4), CLASH_CUTOFF + CLASH_MARGIN, dtype=backbone.dtype, device=backbone.device)
    limit[0, 3] = limit[3, 0] = HBOND_CUTOFF + CLASH_MARGIN
    overlap = torch.relu(limit[None, None, :, None, :] - d) * _pairs(mask)
    return overlap.pow(2).flatten(1).sum(1)


def bond(backbone: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Peptide-bond restraint (B,) in A^2 (module docstring)."""
    m = mask.bool()
    length = (backbone[:, 1:, 0] - backbone[:, :-1, 2]).norm(dim=-1)
    return ((length - BOND_C_N).pow(2) * (m[:, 1:] & m[:, :-1])).sum(1)


def rg(backbone: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Compactness restraint (B,) (module docstring)."""
    m = mask.to(backbone.dtype)
    count = m.sum(1).clamp(min=1)
    ca = backbone[:, :, 1]
    centre = (ca * m[..., None]).sum(1) / count[:, None]
    radius = (((ca - centre[:, None]).pow(2).sum(-1) * m).sum(1) / count).sqrt()
    return torch.relu(radius / rg_expected(count) - RG_RATIO).pow(2)


ENERGIES = {"clash": clash, "bond": bond, "rg": rg}


def check_weights(weights) -> dict[str, float]:
    """``{name: weight}`` with names of ``ENERGIES`` and finite weights >= 0, zeros dropped."""
    if not isinstance(weights, dict):
        raise ValueError(f"potentials are {{name: weight}} with names {sorted(ENERGIES)}, got {weights!r}")
    out = {}
    for name, weight in weights.items():
        if name not in ENERGIES:
            raise ValueError(f"unknown potential {name!r}; choose from {sorted(ENERGIES)}")
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"potential {name!r} needs a number as its weight, got {weight!r}") from None
        if not weight >= 0 or weight == float("inf"):
            raise ValueError(f"potential {name!r} needs a finite weight >= 0, got {weight}")
        if weight:
            out[name] = weight
    return out


def energy(backbone: torch.Tensor, mask: torch.Tensor, weights: dict[str, float]) -> torch.Tensor:
    """The weighted sum (B,) of the energies ``weights`` names, of backbones (B, L, 4, 3) with mask (B, L)."""
    total = torch.zeros(backbone.shape[0], dtype=backbone.dtype, device=backbone.device)
    for name, weight in weights.items():
        total = total + weight * ENERGIES[name](backbone, mask)
    return total
