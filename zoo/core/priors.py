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

``Torus`` is the prior of angles (radians, periodic in 2 pi; e.g. a protein's torsions): the state is
an unwrapped real vector read modulo 2 pi, the forward process wraps Gaussian noise around the circle,
and at a noise level of a few radians the wrapped density is uniform.  ``periodic`` says so; a periodic
prior also supplies ``eps_target(noise, sigma)``, the denoising target that replaces the drawn noise
(below).  It needs a variance-exploding schedule (alpha = 1) and a noise ("eps") prediction, so that
``x0 = x - sigma eps`` moves with x by whole turns; ``Denoiser`` and ``objectives.loss`` refuse others.
"""
from __future__ import annotations

import math

import torch

__all__ = ["Isotropic", "Masked", "ZeroCentreOfMass", "ZeroCoM", "Diagonal", "Torus", "NAMES", "CONDITIONAL",
           "from_name", "from_config"]


def _log_normal(x: torch.Tensor, std, dims: torch.Tensor) -> torch.Tensor:
    sq = x.flatten(1).to(torch.float64).pow(2).sum(1)
    std = torch.as_tensor(std, dtype=torch.float64)
    return -0.5 * sq / std**2 - dims * (torch.log(std) + 0.5 * math.log(2 * math.pi))


class Isotropic:
    """Standard normal noise in every coordinate."""

    periodic = False  # True for angles (``Torus``)

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

    def eps_target(self, noise: torch.Tensor, sigma) -> torch.Tensor:
        """The regression target of a noise prediction for ``x_t = x0 + sigma noise``: the noise itself
        (``Torus`` replaces it by the expected noise given where x_t lies on the circle)."""
        return noise

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


def _wrap(x: torch.Tensor) -> torch.Tensor:
    """Angles to [-pi, pi)."""
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


def _turns(sigma_max: float) -> torch.Tensor:
    """The whole turns k (K,) that carry a wrapped normal of std up to ``sigma_max``: |2 pi k| within
    about 7 standard deviations of the wrapped point (the rest weigh under 1e-10)."""
    half = int(math.ceil(7.0 * sigma_max / (2 * math.pi))) + 1
    return torch.arange(-half, half + 1, dtype=torch.float64)


class Torus(Masked):
    """Angles in radians on the torus: standard normal noise read modulo 2 pi (module docstring).

    mask: optional (B, N) (or a prefix of the data's shape), 1 = a real element; padding gets no noise.
    ``log_prob(x, std)`` is the wrapped normal density of std at x (uniform, -log 2 pi per angle, once
    std is a few radians); ``eps_target(noise, sigma)`` is E[eps | x_t mod 2 pi, x0] for
    ``x_t = x0 + sigma noise``: the sum over whole turns k of ``(sigma noise + 2 pi k) / sigma``
    weighted by their Gaussian likelihood, so that the network's target is the wrapped normal's
    score (Jing et al. 2022, torsional diffusion) rather than one unidentifiable turn of it.  For
    sigma below about 1 it equals the noise; for sigma of several radians it goes to 0.
    """

    periodic = True

    def __init__(self, mask: torch.Tensor | None = None):
        if mask is not None and mask.ndim < 1:
            raise ValueError("Torus prior needs a mask with a batch dimension, got a scalar")
        self.mask = mask

    def _mask_for(self, x):
        return torch.ones_like(x[:1]).expand_as(x) if self.mask is None else super()._mask_for(x)

    def log_prob(self, x, std=1.0):
        std = float(std)
        turns = _turns(std).to(x.device)
        y = _wrap(x.to(torch.float64))[..., None] + 2 * math.pi * turns  # (B, ..., K)
        log_density = torch.logsumexp(-0.5 * (y / std) ** 2, -1) - math.log(std) - 0.5 * math.log(2 * math.pi)
        return (log_density * self._mask_for(x).to(torch.float64)).flatten(1).sum(1)

    def eps_target(self, noise, sigma):
        sigma = torch.as_tensor(sigma, dtype=torch.float64, device=noise.device)
        turns = _turns(float(sigma.max())).to(noise.device)
        shifted = _wrap(noise.to(torch.float64) * sigma)[..., None] + 2 * math.pi * turns  # (B, ..., K)
        weights = torch.softmax(-0.5 * (shifted / sigma[..., None]) ** 2, -1)
        return ((weights * shifted).sum(-1) / sigma).to(noise.dtype) * self._mask_for(noise)

    def __repr__(self) -> str:
        return "Torus()" if self.mask is None else f"Torus(mask of shape {tuple(self.mask.shape)})"


NAMES = ("isotropic", "zero_com", "torus")
CONDITIONAL = "conditional"  # a config's {"name": "conditional", ...}: Diagonal, std from the condition


def from_name(name: str, mask: torch.Tensor | None = None):
    """The prior called ``name`` ("isotropic", "zero_com" or "torus"), over the elements ``mask`` (B, N)
    marks real (None: all): isotropic with a mask is ``Masked``."""
    if name == "isotropic":
        return Isotropic() if mask is None else Masked(mask)
    if name == "zero_com":
        return ZeroCentreOfMass(mask)
    if name == "torus":
        return Torus(mask)
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
