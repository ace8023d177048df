"""Priors: what "pure noise" is.  Samplers and objectives draw noise only through a prior.

A prior supplies
- ``noise(like, generator)``: a standard draw shaped like ``like`` (B, ...);
- ``project(x)``: the map onto the prior's subspace (zero at padding, zero centre of mass), applied
  to every network output so that states never drift off that subspace;
- ``log_prob(x, std)``: the log density (B,) of ``std * noise`` at ``x``, in nats;
- ``num_dims(x)``: degrees of freedom per example (B,), e.g. for bits per dimension;
- ``whiten(x)``: x in units of the prior's standard deviation, the metric the denoising loss is
  measured in (identity for standard normal noise; PriorGrad's inverse-covariance weighting otherwise).

``Diagonal`` is noise N(0, diag(std^2)) with a per-element standard deviation; a *conditional* prior
(``{"name": "conditional", ...}`` in a model config) is a ``Diagonal`` whose std is a function of the
condition, computed by the model (``ZooModel.prior_std``), e.g. PriorGrad's from a mel's frame energy
(Lee et al. 2022).  Every sampler draws through whatever prior the denoiser carries, so none needs to know.
"""
from __future__ import annotations

import math

import torch

__all__ = ["Isotropic", "Masked", "ZeroCentreOfMass", "ZeroCoM", "Diagonal", "NAMES", "CONDITIONAL",
           "from_name", "from_config"]


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

    def whiten(self, x: torch.Tensor) -> torch.Tensor:
        return x

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


class Diagonal(Masked):
    """Noise N(0, diag(std^2)): std (B, ...) positive, of the data's shape or a prefix of it (broadcast
    over the rest); mask: optional (B, N) as for ``Masked`` (padding gets no noise)."""

    def __init__(self, std: torch.Tensor, mask: torch.Tensor | None = None):
        std = torch.as_tensor(std)
        if std.ndim < 1 or not torch.isfinite(std).all() or not (std > 0).all():
            raise ValueError(f"Diagonal prior needs a finite, positive std with a batch dimension, got shape "
                             f"{tuple(std.shape)} with min {float(std.min()) if std.numel() else 'none'}")
        self.std, self.mask = std, mask

    def _std_for(self, x: torch.Tensor) -> torch.Tensor:
        s = self.std
        if s.ndim > x.ndim or tuple(x.shape[: s.ndim]) != tuple(s.shape):
            raise ValueError(f"prior std of shape {tuple(s.shape)} does not fit data of shape {tuple(x.shape)}")
        return s.to(device=x.device, dtype=x.dtype).reshape(*s.shape, *([1] * (x.ndim - s.ndim)))

    def _mask_for(self, x):
        return torch.ones_like(x[:1]).expand_as(x) if self.mask is None else super()._mask_for(x)

    def noise(self, like, generator=None):
        return Isotropic.noise(self, like, generator) * self._std_for(like) * self._mask_for(like)

    def whiten(self, x):
        return x / self._std_for(x)

    def log_prob(self, x, std=1.0):
        white = (x.to(torch.float64) / self._std_for(x).to(torch.float64)) * self._mask_for(x)
        log_std = (torch.log(self._std_for(x).to(torch.float64)) * self._mask_for(x)).expand_as(x).flatten(1).sum(1)
        return _log_normal(white, std, self.num_dims(x)) - log_std

    def __repr__(self) -> str:
        return f"Diagonal(std of shape {tuple(self.std.shape)})"


NAMES = ("isotropic", "zero_com")
CONDITIONAL = "conditional"  # a config's {"name": "conditional", ...}: Diagonal, std from the condition


def from_name(name: str, mask: torch.Tensor | None = None):
    """The prior called ``name`` ("isotropic" or "zero_com"), over the elements ``mask`` (B, N) marks
    real (None: all): isotropic with a mask is ``Masked``."""
    if name == "isotropic":
        return Isotropic() if mask is None else Masked(mask)
    if name == "zero_com":
        return ZeroCentreOfMass(mask)
    raise ValueError(f"unknown prior {name!r}; choose one of {NAMES}")


def from_config(spec, mask: torch.Tensor | None = None, std: torch.Tensor | None = None):
    """The prior a model config's ``prior`` names: a name of ``NAMES``, or ``{"name": "conditional", ...}``,
    which needs ``std`` (B, ...), the standard deviation the model computed from the condition."""
    if isinstance(spec, str):
        return from_name(spec, mask)
    if not isinstance(spec, dict) or spec.get("name") != CONDITIONAL:
        raise ValueError(f"a prior is one of {NAMES} or {{'name': '{CONDITIONAL}', ...}}, got {spec!r}")
    if std is None:
        raise ValueError("a conditional prior needs the condition it is a function of (its std)")
    return Diagonal(std, mask)
