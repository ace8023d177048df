"""Priors: what "pure noise" is.  Samplers and objectives draw noise only through a prior.

A prior supplies
- ``noise(like, generator)``: a standard draw shaped like ``like`` (B, ...);
- ``project(x)``: the map onto the prior's subspace (zero at padding, zero centre of mass), applied
  to every network output so that states never drift off that subspace;
- ``log_prob(x, std)``: the log density (B,) of ``std * noise`` at ``x``, in nats;
- ``num_dims(x)``: degrees of freedom per example (B,), e.g. for bits per dimension.
"""
from __future__ import annotations

import math

import torch

__all__ = ["Isotropic", "Masked", "ZeroCentreOfMass", "ZeroCoM", "NAMES", "from_name"]


def _log_normal(x: torch.Tensor, std, dims: torch.Tensor) -> torch.Tensor:
    sq = x.flatten(1).to(torch.float64).pow(2).sum(1)
    std = torch.as_tensor(std, dtype=torch.float64)
    return -0.5 * sq / std**2 - dims * (torch.log(std) + 0.5 * math.log(2 * math.pi))


class Isotropic:
    """Standard normal noise in every coordinate."""

    def noise(self, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Noise shaped like ``like``, drawn on the generator's device (a CPU generator seeds CUDA
        sampling too: the same draws on every device) and moved to ``like``'s."""
        device = like.device if generator is None else generator.device
        return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=device).to(like.device)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def num_dims(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0],), float(x[0].numel()), dtype=torch.float64, device=x.device)

    def log_prob(self, x: torch.Tensor, std=1.0) -> torch.Tensor:
        return _log_normal(x, std, self.num_dims(x))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Masked(Isotropic):
    """Noise only where ``mask`` is set: variable-length sets (residues, points, padded audio).

    mask: (B, N) or any shape that is a prefix of the data's shape (B, N, ...); 1 = real element.
    """

    def __init__(self, mask: torch.Tensor):
        if mask.ndim < 1:
            raise ValueError("Masked prior needs a mask with a batch dimension, got a scalar")
        self.mask = mask

    def _mask_for(self, x: torch.Tensor) -> torch.Tensor:
        m = self.mask
        if m.ndim > x.ndim or tuple(x.shape[: m.ndim]) != tuple(m.shape):
            raise ValueError(f"mask of shape {tuple(m.shape)} does not fit data of shape {tuple(x.shape)}: "
                             f"the mask's shape must be the leading part of the data's")
        return m.to(device=x.device, dtype=x.dtype).reshape(*m.shape, *([1] * (x.ndim - m.ndim)))

    def noise(self, like, generator=None):
        return super().noise(like, generator) * self._mask_for(like)

    def project(self, x):
        return x * self._mask_for(x)

    def num_dims(self, x):
        m = self._mask_for(x).expand_as(x)
        return m.flatten(1).sum(1).to(torch.float64)


class ZeroCentreOfMass(Masked):
    """Noise with zero mean over the set (translation-invariant coordinates).

    For data (B, N, D), or (B, N, ..., D) with inner axes (a protein's residues x backbone atoms),
    the mean over all (valid) elements of every axis between the batch and the last one is removed;
    the density lives on the (M - 1) * D dimensional subspace, M the number of valid elements
    (Hoogeboom et al. 2022).  mask: optional (B, N), 1 = real element (all its inner elements count).
    """

    def __init__(self, mask: torch.Tensor | None = None):
        self.mask = mask

    def _mask_for(self, x):
        """The mask as (B, N, ..., 1) float, 1 for every valid element of the set."""
        if x.ndim < 3:
            raise ValueError(f"ZeroCentreOfMass expects data of shape (B, N, D) or (B, N, ..., D), got {tuple(x.shape)}")
        if self.mask is None:
            return torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)
        return super()._mask_for(x).expand(*x.shape[:-1], 1)

    def _set_axes(self, x) -> tuple[int, ...]:
        return tuple(range(1, x.ndim - 1))

    def project(self, x):
        m = self._mask_for(x)
        count = m.sum(self._set_axes(x), keepdim=True).clamp(min=1)
        centre = (x * m).sum(self._set_axes(x), keepdim=True) / count
        return (x - centre) * m

    def noise(self, like, generator=None):
        return self.project(Isotropic.noise(self, like, generator))

    def num_dims(self, x):
        m = self._mask_for(x)
        return ((m.sum(tuple(range(1, x.ndim))) - 1).clamp(min=0) * x.shape[-1]).to(torch.float64)


ZeroCoM = ZeroCentreOfMass


NAMES = ("isotropic", "zero_com")


def from_name(name: str, mask: torch.Tensor | None = None):
    """The prior called ``name`` ("isotropic" or "zero_com"), over the elements ``mask`` (B, N) marks
    real (None: all): isotropic with a mask is ``Masked``."""
    if name == "isotropic":
        return Isotropic() if mask is None else Masked(mask)
    if name == "zero_com":
        return ZeroCentreOfMass(mask)
    raise ValueError(f"unknown prior {name!r}; choose one of {NAMES}")
