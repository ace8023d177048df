"""Guidance: wrappers that take a denoiser and return a denoiser, so they compose with every sampler.

- :class:`ClassifierFree` (Ho & Salimans 2022): ``x0 = x0_u + w (x0_c - x0_u)``, optionally
  rescaled toward the conditional prediction's standard deviation (Lin et al. 2024) and applied
  only on an interval of times (Kynkaanniemi et al. 2024).
- :class:`ClassifierGuidance` (Dhariwal & Nichol 2021): ``score + w grad log p(y | x_t)``.
- :class:`Inpaint`: a known part of the data is held exact (replacement in the ``x0`` prediction),
  for point-cloud completion and motif scaffolding.
- :class:`Threshold`: static thresholding, ``x0`` clipped to the data's range (Ho et al. 2020;
  Saharia et al. 2022), for pixels in [-1, 1].
- :class:`Potential`: guidance by a differentiable energy of the clean estimate (RFdiffusion's
  potentials, Watson et al. 2023): ``x0 <- x0 - scale grad E(x0)``, each example's step capped.
"""
from __future__ import annotations

import torch

from .parameterization import DenoiserWrapper, Prediction

__all__ = ["ClassifierFree", "ClassifierGuidance", "Inpaint", "Threshold", "Potential", "Project"]


def _std(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).std(1).reshape(-1, *([1] * (x.ndim - 1)))


def _below(pred: Prediction, x: torch.Tensor, below: float | None) -> torch.Tensor:
    """(B,) bool: the examples whose variance-exploding noise level ``sigma / alpha`` is below ``below`` (all if None)."""
    if below is None:
        return torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    level = torch.as_tensor(pred.sigma / pred.alpha, dtype=x.dtype, device=x.device)
    return level.reshape(-1).expand(x.shape[0]) < below


def _t_value(t) -> float | torch.Tensor:
    return float(t) if not isinstance(t, torch.Tensor) or t.ndim == 0 else t


class ClassifierFree(DenoiserWrapper):
    """Classifier-free guidance.

    cond / uncond: dicts of model keyword arguments (tensors with batch size B) for the
    conditional and unconditional branch; with the same keys both run in one batch of 2B.
    scale: w (1 = conditional only, 0 = unconditional only).
    rescale: phi in [0, 1] of Lin et al. (2024), matching the guided x0's per-example std to the
    conditional one's.
    interval: (t_lo, t_hi): guide only for t_lo < t <= t_hi; elsewhere the conditional prediction.
    """

    def __init__(self, base, scale: float, cond: dict, uncond: dict, *, rescale: float = 0.0,
                 interval: tuple[float, float] | None = None):
        super().__init__(base)
        if not 0.0 <= rescale <= 1.0:
            raise ValueError(f"rescale must lie in [0, 1], got {rescale}")
        if interval is not None and not (0.0 <= interval[0] < interval[1] <= 1.0):
            raise ValueError(f"interval must be (t_lo, t_hi) with 0 <= t_lo < t_hi <= 1, got {interval}")
        self.scale, self.cond, self.uncond = float(scale), dict(cond), dict(uncond)
        self.rescale, self.interval = float(rescale), interval

    def _both(self, x, t) -> tuple[Prediction, torch.Tensor]:
        """The conditional prediction and the unconditional x0, in one batch when the keys allow."""
        same = set(self.cond) == set(self.uncond) and all(
            isinstance(self.cond[k], torch.Tensor) and isinstance(self.uncond[k], torch.Tensor)
            and self.cond[k].shape == self.uncond[k].shape for k in self.cond)
        if not (same and self.cond):
            return self.base(x, t, **self.cond), self.base(x, t, **self.uncond).x0
        both = {k: torch.cat([self.cond[k], self.uncond[k]]) for k in self.cond}
        tt = torch.cat([t, t]) if isinstance(t, torch.Tensor) else t
        x0_c, x0_u = self.base(torch.cat([x, x]), tt, **both).x0.chunk(2)
        return _from_x0(self.schedule, x, t, x0_c), x0_u

    def __call__(self, x, t, **cond) -> Prediction:
        t = _t_value(t)
        if self.interval is not None and isinstance(t, float) and not (self.interval[0] < t <= self.interval[1]):
            return self.base(x, t, **{**self.cond, **cond})
        cond_pred, x0_u = self._both(x, t)
        x0_c = cond_pred.x0
        x0 = x0_u + self.scale * (x0_c - x0_u)
        if self.rescale > 0:
            x0 = self.rescale * x0 * (_std(x0_c) / _std(x0).clamp(min=1e-12)) + (1 - self.rescale) * x0
        if self.interval is not None and isinstance(t, torch.Tensor):
            inside = ((t > self.interval[0]) & (t <= self.interval[1])).to(x.device).reshape(-1, *([1] * (x.ndim - 1)))
            x0 = torch.where(inside, x0, x0_c)
        return cond_pred.with_x0(x0)


def _from_x0(schedule, x, t, x0) -> Prediction:
    """A Prediction from an x0 at (x, t), with the schedule's alpha and sigma there."""
    if isinstance(t, float):
        alpha, sigma = (v.item() for v in schedule.alpha_sigma(t))
    else:
        shape = (-1,) + (1,) * (x.ndim - 1)
        alpha, sigma = (v.reshape(shape).to(x.device, x.dtype) for v in schedule.alpha_sigma(t.cpu()))
    return Prediction.from_x0(x, x0, alpha, sigma, t, schedule)


class ClassifierGuidance(DenoiserWrapper):
    """Classifier guidance: ``eps <- eps - w sigma grad_x log p(y | x_t)``.

    classifier(x_t, noise_label) -> logits (B, C): a noise-aware classifier of the noisy state,
    conditioned on the same noise label as the denoiser.  labels: (B,) int target classes.
    """

    def __init__(self, base, classifier, labels: torch.Tensor, scale: float):
        super().__init__(base)
        self.classifier, self.labels, self.scale = classifier, labels, float(scale)

    def __call__(self, x, t, **cond) -> Prediction:
        t = _t_value(t)
        pred = self.base(x, t, **cond)
        label = self.schedule.noise_label(t if isinstance(t, float) else t.cpu())
        label = label.to(torch.float32).expand(x.shape[0]).to(x.device)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logits = self.classifier(xg, label)
            if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
                raise ValueError(f"classifier must return logits of shape (B, C), got {tuple(logits.shape)}")
            log_p = torch.log_softmax(logits.float(), 1).gather(1, self.labels.to(x.device).reshape(-1, 1)).sum()
            grad = torch.autograd.grad(log_p, xg)[0]
        return pred.with_eps(pred.eps - self.scale * pred.sigma * grad.to(x.dtype))


class Inpaint(DenoiserWrapper):
    """Hold a known part exact: ``x0 <- mask * known + (1 - mask) * x0``, then projected onto the
    prior's subspace (e.g. zero centre of mass; the identity for isotropic noise).

    known: (B, ...) values of the known part (anything elsewhere), or a function of the predicted
    x0 returning them (a known part that may move with the prediction, e.g. a motif superposed onto
    where the network puts it); mask: 1 where known, broadcastable to (B, ...).  The noise estimate
    follows from ``x`` and this ``x0``, so along any sampler the known part stays
    ``alpha_t * known + sigma_t * noise`` and ends exactly at ``known`` (up to the projection's shift).
    """

    def __init__(self, base, known, mask: torch.Tensor):
        super().__init__(base)
        if not callable(known):
            try:
                torch.broadcast_shapes(mask.shape, known.shape)
            except RuntimeError:
                raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to known of shape "
                                 f"{tuple(known.shape)}") from None
        self.known, self.mask = known, mask

    def __call__(self, x, t, **cond) -> Prediction:
        t = _t_value(t)
        pred = self.base(x, t, **cond)
        known = self.known(pred.x0) if callable(self.known) else self.known
        if known.shape != x.shape:
            raise ValueError(f"known part has shape {tuple(known.shape)} but the state has {tuple(x.shape)}")
        x0 = torch.lerp(pred.x0, known.to(x.device, x.dtype), self.mask.to(x.device, x.dtype))
        return pred.with_x0(self.prior.project(x0))


class Threshold(DenoiserWrapper):
    """Static thresholding: ``x0 <- clamp(x0, low, high)``, the noise estimate following from ``x``.

    Early in sampling ``x0 = (x - sigma eps) / alpha`` multiplies the network's error by
    ``sigma / alpha``; with guidance scales above one, pixels overshoot the data range and the
    trajectory cannot recover.  Clipping to the range the data are known to occupy keeps it there.
    """

    def __init__(self, base, low: float = -1.0, high: float = 1.0):
        super().__init__(base)
        if not low < high:
            raise ValueError(f"threshold needs low < high, got [{low}, {high}]")
        self.low, self.high = float(low), float(high)

    def __call__(self, x, t, **cond) -> Prediction:
        pred = self.base(x, _t_value(t), **cond)
        return pred.with_x0(pred.x0.clamp(self.low, self.high))


class Potential(DenoiserWrapper):
    """Guidance by a potential: ``x0 <- x0 - scale * grad E(x0)``, the noise estimate following from ``x``.

    energy: ``E(x0 (B, ...)) -> (B,)``, differentiable (e.g. steric clashes of a protein backbone
    built from x0).  scale: the step in the state's units per unit of energy gradient.  max_step:
    each example's step is scaled down so that its largest element moves at most this much (one
    bad estimate early in sampling cannot throw the state away).  below: guide only where the
    variance-exploding noise level ``sigma / alpha`` is below this (at high noise x0 is a blur and
    its energy means nothing); None: everywhere.  Composes with every sampler and with
    :class:`Inpaint` (wrap the inpainting denoiser so the potential sees the held part too, or the
    other way round to let inpainting have the last word).
    """

    def __init__(self, base, energy, scale: float, *, max_step: float | None = None, below: float | None = None):
        super().__init__(base)
        if not scale >= 0:
            raise ValueError(f"a potential's scale must be >= 0, got {scale}")
        if max_step is not None and not max_step > 0:
            raise ValueError(f"max_step must be > 0 (or None), got {max_step}")
        self.energy, self.scale, self.max_step, self.below = energy, float(scale), max_step, below

    def __call__(self, x, t, **cond) -> Prediction:
        t = _t_value(t)
        pred = self.base(x, t, **cond)
        if self.scale == 0.0:
            return pred
        active = _below(pred, x, self.below)
        if not bool(active.any()):
            return pred
        with torch.enable_grad():
            x0 = pred.x0.detach().requires_grad_(True)
            energy = self.energy(x0)
            if not isinstance(energy, torch.Tensor) or energy.shape != (x.shape[0],):
                raise ValueError(f"a potential's energy must return one value per example, shape ({x.shape[0]},), "
                                 f"got {tuple(getattr(energy, 'shape', ()))}")
            grad = torch.autograd.grad(energy.sum(), x0)[0]
        step = self.scale * torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
        if self.max_step is not None:
            largest = step.flatten(1).abs().amax(1).clamp(min=1e-30)
            step = step * (self.max_step / largest).clamp(max=1.0).reshape(-1, *([1] * (x.ndim - 1)))
        step = step * active.reshape(-1, *([1] * (x.ndim - 1))).to(step.dtype)
        return pred.with_x0(self.prior.project(pred.x0 - step.to(pred.x0.dtype)))


class Project(DenoiserWrapper):
    """Guidance by projection: ``x0 <- project(x0)`` below a noise level, the noise estimate following from ``x``.

    project: ``(x0 (B, ...)) -> (B, ...)``, a map onto the states that satisfy a hard constraint
    (e.g. a protein chain whose loops close onto a motif: ``modalities.protein.geometry.solve_internal``).
    below: as for :class:`Potential`.  Composes like :class:`Potential`; wrap it outermost (or
    inside :class:`Inpaint`) so the constraint holds on the x0 the sampler steps toward.
    """

    def __init__(self, base, project, *, below: float | None = None):
        super().__init__(base)
        self.project, self.below = project, below

    def __call__(self, x, t, **cond) -> Prediction:
        pred = self.base(x, _t_value(t), **cond)
        active = _below(pred, x, self.below)
        if not bool(active.any()):
            return pred
        projected = self.project(pred.x0)
        if projected.shape != pred.x0.shape:
            raise ValueError(f"a projection must keep x0's shape {tuple(pred.x0.shape)}, got {tuple(projected.shape)}")
        where = active.reshape(-1, *([1] * (x.ndim - 1)))
        return pred.with_x0(self.prior.project(torch.where(where, projected.to(pred.x0.dtype), pred.x0)))
