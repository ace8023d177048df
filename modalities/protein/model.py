"""ProteinModel: the ZooModel of the protein modality.

``sample(n, length=100)`` (or ``length=[60, 80, ...]``, one per sample) returns backbones
(n, L, 4, 3) in Angstrom, N, CA, C, O per residue, L the longest length, padding zero, centred
(zero centre of mass over the real atoms).  The network is told which residues are real
(``mask``), so one batch can hold chains of different lengths.

Two representations (the network's ``representation``):
- ``"atoms"``: the state is the backbone itself, with a zero-centre-of-mass prior;
- ``"internal"``: the state is each residue's internal coordinates (L, 6): torsions phi, psi, omega
  and bond angles N-CA-C, CA-C-N, C-N-CA, in radians on the torus (``core.priors.Torus``), turned into
  atoms by NeRF with Engh & Huber's bond lengths (``geometry.backbone_from_internal``): every bond,
  the peptide bond included, has its ideal length by construction, and the chain cannot break.
``decode`` / ``encode`` map between a state and backbones.

Potentials (``potentials`` of ``sample`` and ``scaffold``, default the config's
``sampling.potentials``): ``{"clash": w, "bond": w, "rg": w}``, the energies of
``modalities.protein.potentials`` of the backbone decoded from the x0 estimate, added through the
core's ``guidance.Potential`` below ``POTENTIAL_BELOW`` (the noise level under which x0 is a chain).

``scaffold(motif, contig, n)`` generates chains around a fixed motif (motif scaffolding): the
contig (``io.parse_contig``) says how many new residues go before, between and after the motif
segments.
- atoms: the motif's atoms are held exact through the core's inpainting guidance
  (``core.guidance.Inpaint``); at every step the motif (in its own file's frame) is superposed
  (``geometry.kabsch``) onto where the network predicts it and the chain is re-centred.
- internal: the motif's internal coordinates are held through the same inpainting (each at the
  turn nearest the prediction), so each motif segment is rebuilt from its own angles: its RMSD to
  the input is that of ideal bond lengths, and every junction is an ideal peptide bond.  Where the
  contig has several motif segments, the scaffold between them closes onto their placement in the
  motif: each x0 estimate below ``POTENTIAL_BELOW``, and the result, is projected by damped least
  squares on the scaffold's phi and psi (``geometry.solve_internal``; ``PROJECTION_ITERATIONS`` steps)
  so that each later segment's first residue sits where it sits in the motif, in the frame of the
  first segment's first residue.  The potentials see the held angles and move only the others.
``Scaffolds.motif_rmsd`` reports the generated motif against the input after superposition.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo import core
from zoo.model import ZooModel

from . import io as protein_io
from . import potentials as protein_potentials
from .geometry import backbone_from_internal, internal_from_backbone, kabsch, residue_frames, solve_internal

__all__ = ["ProteinModel", "Scaffolds", "POTENTIAL_BELOW", "POTENTIAL_STEP", "PROJECTION_ITERATIONS"]

# the most one sampler step's potentials move any entry of x0, radians (internal) or Angstrom (atoms):
# 0.05 rad left scaffolds running through their motif (0.2 clashes per residue); 0.2, 0.4 and 0.6 all
# leave 1 or 2 of 24 scaffolds on 7ok9 with clashes (0.02-0.08 per residue on average), none better within noise
POTENTIAL_STEP = 0.2
POTENTIAL_BELOW = 0.5  # radians (internal) or sigma_data units times 0.5 (atoms): see ProteinModel.guided
# Gauss-Newton steps of the loop closure on each x0 estimate while sampling, and on the result
# (several motif segments in the internal representation: ProteinModel._hold_internal)
PROJECTION_ITERATIONS = (3, 20)


@dataclass
class Scaffolds:
    """What ``ProteinModel.scaffold`` returns.

    x: (n, L, 4, 3) backbones (padding zero); mask: (n, L) bool, the real residues; motif: (n, L)
    bool, the motif residues; motif_rmsd: (n,) Angstrom, the generated motif against the input
    after superposition; lengths: (n,) chain lengths; info: the sampler's ``SampleInfo``."""
    x: torch.Tensor
    mask: torch.Tensor
    motif: torch.Tensor
    motif_rmsd: torch.Tensor
    lengths: torch.Tensor
    info: object = None


class ProteinModel(ZooModel):
    MAX_LENGTH = 256  # longer chains are refused: the data's crops reach 128, and attention is quadratic

    @property
    def representation(self) -> str:
        """"atoms" or "internal" (module docstring)."""
        return self.config.get("network", {}).get("representation", "atoms")

    def residue_shape(self) -> tuple[int, ...]:
        return (4, 3) if self.representation == "atoms" else (6,)

    def lengths(self, n: int, length) -> torch.Tensor:
        """``length`` (an int, or n ints) as a checked (n,) tensor of chain lengths."""
        lengths = torch.as_tensor(length)
        if lengths.is_floating_point() or lengths.dtype == torch.bool:
            raise ValueError(f"length must be an integer or n integers, got {length!r}")
        lengths = lengths.long().expand(n) if lengths.ndim == 0 else lengths.long()
        if lengths.shape != (n,):
            raise ValueError(f"length must be one integer or {n} of them, got {tuple(lengths.shape)}")
        if bool((lengths < 2).any()):
            raise ValueError(f"chains need at least 2 residues, got lengths {lengths.tolist()}")
        if bool((lengths > self.MAX_LENGTH).any()):
            raise ValueError(f"chains of up to {self.MAX_LENGTH} residues, got {int(lengths.max())} ({self.name} was "
                             f"trained on crops of up to {self.sample_shape[0]})")
        return lengths

    def decode(self, state: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Backbones (n, L, 4, 3) of states (n, L, *residue_shape), centred at the mean of their real atoms,
        zero at padding; mask (n, L) of real residues.  Differentiable."""
        x = state if self.representation == "atoms" else backbone_from_internal(state)
        m = mask.to(x.dtype)[:, :, None, None]
        centre = (x * m).sum((1, 2), keepdim=True) / (4 * m.sum((1, 2), keepdim=True)).clamp(min=1)
        return (x - centre) * m

    def encode(self, backbone: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """States (n, L, *residue_shape) of backbones (n, L, 4, 3) with mask (n, L): centred atoms, or
        internal coordinates (``geometry.internal_from_backbone``)."""
        if self.representation == "atoms":
            return self.decode(backbone, mask)
        return internal_from_backbone(backbone, mask).to(backbone.dtype)

    def potential_weights(self, potentials) -> dict[str, float]:
        """``potentials`` (None: the config's ``sampling.potentials``; False: none; a dict of weights) checked."""
        if potentials is False:
            return {}
        if potentials is None:
            potentials = self.config.get("sampling", {}).get("potentials") or {}
        return protein_potentials.check_weights(potentials)

    def guided(self, denoiser, mask: torch.Tensor, weights: dict[str, float], project=None, inpaint=None):
        """``denoiser`` with the energies ``weights`` of the backbone decoded from its x0 estimate as a
        ``core.guidance.Potential``, then ``project(x0) -> x0`` (a hard constraint on the state, see
        ``_hold_internal``) as a ``core.guidance.Project``; ``denoiser`` itself when there is neither.
        inpaint: the ``(known(x0), held mask)`` that inpainting applies after them; the potentials and
        the projection see x0 with the held entries already known, and move only the others."""
        below = POTENTIAL_BELOW * (1.0 if self.representation == "internal" else float(self.config.get("sigma_data", 1)))

        def filled(x0: torch.Tensor) -> torch.Tensor:
            if inpaint is None:
                return x0
            known, held = inpaint
            return torch.where(held.bool(), known(x0.detach()).detach(), x0)
        if weights:
            def energy(x0: torch.Tensor) -> torch.Tensor:
                return protein_potentials.energy(self.decode(filled(x0), mask), mask, weights)
            denoiser = core.guidance.Potential(denoiser, energy, 1.0, max_step=POTENTIAL_STEP, below=below)
        if project is not None:
            denoiser = core.guidance.Project(denoiser, lambda x0: project(filled(x0)), below=below)
        return denoiser

    def _draw(self, n: int, lengths: torch.Tensor, generator, potentials, inpaint=None, project=None, **options):
        """States sampled for chains of ``lengths``, decoded: (backbones (n, L, 4, 3), mask (n, L), info).
        project: ``(state, iterations) -> state``, a hard constraint applied to x0 while sampling and to the result."""
        longest = int(lengths.max())
        param = next(self.network.parameters())
        mask = (torch.arange(longest)[None] < lengths[:, None]).float().to(param.device)
        prior = self.prior(mask=mask)
        x_T = self.noise(n, generator, prior=prior, shape=(longest, *self.residue_shape()))
        weights = self.potential_weights(potentials)
        guide = None
        if weights or project is not None:
            def guide(den):
                return self.guided(den, mask, weights, None if project is None else
                                   lambda x0: project(x0, PROJECTION_ITERATIONS[0]), inpaint)
        state, info = super().sample(n, x_T=x_T, mask=mask, generator=generator, inpaint=inpaint, guide=guide,
                                     return_info=True, **options)
        if project is not None:
            state = project(state, PROJECTION_ITERATIONS[1])
        return self.decode(state, mask), mask.bool(), info

    @torch.no_grad()
    def sample(self, n: int = 8, *, length=100, generator: torch.Generator | None = None, potentials=None,
               return_info: bool = False, **options):
        """n backbones (n, L, 4, 3), L = max(length); potentials: see the module docstring; ``options``
        as for ``ZooModel.sample`` (steps, sampler, ...)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        x, _, info = self._draw(n, self.lengths(n, length), generator, potentials, **options)
        return (x, info) if return_info else x

    @torch.no_grad()
    def scaffold(self, motif, contig, n: int = 8, *, generator: torch.Generator | None = None, potentials=None,
                 **options) -> Scaffolds:
        """n chains that hold ``motif`` (module docstring).

        motif: a PDB/mmCIF file whose residues the contig's motif segments name, or their
        backbones (M, 4, 3) in contig order; contig: a contig string ("10-20,A5-15,30-40") or
        ``io.parse_contig`` output; each sample draws its own segment lengths.  potentials and
        ``options`` as for ``sample``."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        segments = protein_io.parse_contig(contig) if isinstance(contig, str) else list(contig)
        wanted = sum(len(s) for s in segments if isinstance(s, protein_io.Motif))
        if not wanted:
            raise ValueError(f"contig {contig!r} has no motif segment (e.g. 'A5-15'); use sample(length=) instead")
        if isinstance(motif, (str, Path)):
            coords = torch.from_numpy(protein_io.motif_from_pdb(motif, segments)[0])
        else:
            coords = torch.as_tensor(motif)
            if coords.shape != (wanted, 4, 3) or not coords.is_floating_point():
                raise ValueError(f"motif backbones must be floats of shape ({wanted}, 4, 3) for this contig, "
                                 f"got {coords.dtype} {tuple(coords.shape)}")
        if not bool(torch.isfinite(coords).all()):
            raise ValueError("the motif holds NaN or infinite coordinates")
        coords = coords.double() - coords.double().reshape(-1, 3).mean(0)
        draws = [protein_io.sample_contig(segments, generator) for _ in range(n)]
        lengths = self.lengths(n, torch.tensor([total for total, _ in draws]))
        longest = int(lengths.max())
        index = torch.stack([torch.cat([torch.arange(r.start, r.stop) for r in ranges]) for _, ranges in draws])
        where = torch.zeros(n, longest, dtype=torch.bool).scatter_(1, index, True)
        param = next(self.network.parameters())
        coords, index, where = coords.to(param.device, param.dtype), index.to(param.device), where.to(param.device)
        gather = index[:, :, None, None].expand(-1, -1, 4, 3)  # (n, M, 4, 3): the motif residues of each chain
        if self.representation == "atoms":
            inpaint, project = self._hold_atoms(coords, gather, where), None
        else:
            inpaint, project = self._hold_internal(coords, segments, draws, where)
        x, mask, info = self._draw(n, lengths, generator, potentials, inpaint=inpaint, project=project, **options)
        generated = x.gather(1, gather)
        rmsd = kabsch(coords.expand_as(generated).to(x.dtype), generated)[2]
        return Scaffolds(x, mask, where, rmsd, lengths, info)

    def _hold_atoms(self, coords, gather, where):
        """Inpainting of the motif's atoms, superposed onto the predicted motif at every step."""
        def superposed(x0: torch.Tensor) -> torch.Tensor:
            """The motif superposed onto the predicted motif residues of x0 (n, L, 4, 3), placed in an (n, L, 4, 3)."""
            motif_in_x0 = x0.gather(1, gather)
            rotation, translation, _ = kabsch(coords.expand_as(motif_in_x0).to(x0.dtype), motif_in_x0)
            placed = coords.to(x0.dtype) @ rotation[:, None].transpose(-1, -2) + translation[:, None, None]
            return torch.zeros_like(x0).scatter(1, gather, placed)
        return superposed, where[..., None, None]

    def _hold_internal(self, coords, segments, draws, where):
        """Inpainting of each motif segment's internal coordinates (the angles within it): the
        ``(known(x0), held)`` pair, and with several segments the loop closure
        ``project(state, iterations) -> state`` (module docstring), else None."""
        n, longest = where.shape
        motif_segments = [s for s in segments if isinstance(s, protein_io.Motif)]
        known = torch.zeros(n, longest, 6, dtype=coords.dtype, device=coords.device)
        held = torch.zeros(n, longest, 6, dtype=coords.dtype, device=coords.device)
        offset = 0
        for k, segment in enumerate(motif_segments):
            piece = coords[offset:offset + len(segment)]
            angles = internal_from_backbone(piece)  # (m, 6): the segment's own torsions and angles
            for b, (_, ranges) in enumerate(draws):
                placed = ranges[k]
                known[b, placed.start:placed.stop] = angles
                # within a segment: every torsion and angle its atoms depend on (not phi of its first
                # residue, nor psi/omega and the peptide angles after its last: those join it to the scaffold)
                held[b, placed.start:placed.stop, 3] = 1
                held[b, placed.start + 1:placed.stop, 0] = 1
                held[b, placed.start:placed.stop - 1, [1, 2, 4, 5]] = 1
                held[b, placed.stop - 1, 1] = 1  # psi of the last residue places its own O
            offset += len(segment)

        def nearest_turn(x0: torch.Tensor) -> torch.Tensor:
            """The held angles at the whole turn nearest to the prediction x0 (n, L, 6)."""
            return x0 + torch.remainder(known.to(x0.dtype) - x0 + math.pi, 2 * math.pi) - math.pi
        project = None
        if len(motif_segments) > 1:
            # where each later segment's first residue (N, CA, C) is in the frame of the first segment's first residue
            firsts = torch.tensor([[r.start for r in ranges] for _, ranges in draws], device=coords.device)
            starts = torch.tensor([0, *itertools.accumulate(len(s) for s in motif_segments)][:-1], device=coords.device)
            rotation, origin = residue_frames(coords[starts[0]])
            target = ((coords[starts[1:], :3] - origin) @ rotation).flatten()  # (9 (K - 1),)
            free = ~held.bool()
            free[..., 2:] = False  # only phi and psi of the scaffold move: omega and the bond angles stay as sampled

            def residual(state: torch.Tensor) -> torch.Tensor:
                first = backbone_from_internal(state).gather(1, firsts[..., None, None].expand(-1, -1, 4, 3))
                rotation, origin = residue_frames(first[:, 0])
                return ((first[:, 1:, :3] - origin[:, None, None]) @ rotation[:, None]).flatten(1) - target.to(state.dtype)

            def project(state: torch.Tensor, iterations: int) -> torch.Tensor:
                return solve_internal(state, free, residual, iterations=iterations)
        return (nearest_turn, held), project
