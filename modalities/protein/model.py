"""ProteinModel: the ZooModel of the protein modality.

``sample(n, length=100)`` (or ``length=[60, 80, ...]``, one per sample) returns backbones
(n, L, 4, 3) in Angstrom, N, CA, C, O per residue, L the longest length, padding zero, centred
(zero centre of mass over the real atoms, the model's prior).  The network is told which residues
are real (``mask``), so one batch can hold chains of different lengths.

``scaffold(motif, contig, n)`` generates chains around a fixed motif (motif scaffolding): the
contig (``io.parse_contig``) says how many new residues go before, between and after the motif
segments; the motif's atoms are held exact through the core's inpainting guidance
(``core.guidance.Inpaint``).  The motif comes from a PDB/mmCIF file in its own frame, which is not
the frame the network puts the motif in, so at every step the motif is superposed (rotation and
translation, ``geometry.kabsch``) onto where the network predicts it, and the whole chain is then
re-centred (the zero-centre-of-mass prior).  The motif's internal geometry never changes: its RMSD
to the input after superposition is zero up to rounding, and ``Scaffolds.motif_rmsd`` reports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from zoo.model import ZooModel

from . import io as protein_io
from .geometry import kabsch

__all__ = ["ProteinModel", "Scaffolds"]


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
        return lengths

    @torch.no_grad()
    def sample(self, n: int = 8, *, length=100, generator: torch.Generator | None = None, **options):
        """n backbones (n, L, 4, 3), L = max(length); ``options`` as for ``ZooModel.sample``
        (steps, sampler, return_info, inpaint, ...)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        lengths = self.lengths(n, length)
        longest = int(lengths.max())
        mask = (torch.arange(longest)[None] < lengths[:, None]).float()
        prior = self.prior(mask=mask)
        x_T = self.noise(n, generator, prior=prior, shape=(longest, 4, 3))
        return super().sample(n, x_T=x_T, mask=mask, generator=generator, **options)

    @torch.no_grad()
    def scaffold(self, motif, contig, n: int = 8, *, generator: torch.Generator | None = None,
                 **options) -> Scaffolds:
        """n chains that hold ``motif`` exactly (module docstring).

        motif: a PDB/mmCIF file whose residues the contig's motif segments name, or their
        backbones (M, 4, 3) in contig order; contig: a contig string ("10-20,A5-15,30-40") or
        ``io.parse_contig`` output; each sample draws its own segment lengths.  ``options`` as for
        ``ZooModel.sample`` (steps, sampler, ...)."""
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
        lengths = torch.tensor([total for total, _ in draws])
        if bool((lengths < 2).any()):
            raise ValueError(f"contig {contig!r} gives chains shorter than 2 residues")
        longest = int(lengths.max())
        index = torch.stack([torch.cat([torch.arange(r.start, r.stop) for r in ranges]) for _, ranges in draws])
        where = torch.zeros(n, longest, dtype=torch.bool).scatter_(1, index, True)
        param = next(self.network.parameters())
        coords, index, where = coords.to(param.device, param.dtype), index.to(param.device), where.to(param.device)
        gather = index[:, :, None, None].expand(-1, -1, 4, 3)  # (n, M, 4, 3): the motif residues of each chain

        def superposed(x0: torch.Tensor) -> torch.Tensor:
            """The motif superposed onto the predicted motif residues of x0 (n, L, 4, 3), placed in an (n, L, 4, 3)."""
            motif_in_x0 = x0.gather(1, gather)
            rotation, translation, _ = kabsch(coords.expand_as(motif_in_x0).to(x0.dtype), motif_in_x0)
            placed = coords.to(x0.dtype) @ rotation[:, None].transpose(-1, -2) + translation[:, None, None]
            return torch.zeros_like(x0).scatter(1, gather, placed)

        x, info = self.sample(n, length=lengths, generator=generator, inpaint=(superposed, where[..., None, None]),
                              return_info=True, **options)
        generated = x.gather(1, gather)
        rmsd = kabsch(coords.expand_as(generated).to(x.dtype), generated)[2]
        mask = torch.arange(longest, device=x.device)[None] < lengths.to(x.device)[:, None]
        return Scaffolds(x, mask, where, rmsd, lengths, info)
