"""ProteinModel: the ZooModel of the protein modality.

``sample(n, length=100)`` (or ``length=[60, 80, ...]``, one per sample) returns backbones
(n, L, 4, 3) in Angstrom, N, CA, C, O per residue, L the longest length, padding zero, centred
(zero centre of mass over the real atoms, the model's prior).  The network is told which residues
are real (``mask``), so one batch can hold chains of different lengths.
"""
from __future__ import annotations

import torch

from zoo.core import priors
from zoo.model import ZooModel

__all__ = ["ProteinModel"]


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
        prior = priors.from_name(self.config.get("prior", "isotropic"), mask)
        x_T = self.noise(n, generator, prior=prior, shape=(longest, 4, 3))
        return super().sample(n, x_T=x_T, mask=mask, generator=generator, **options)
