"""Gaussian mixtures: data with an exact density and an exact denoiser for every schedule.

If ``x0 ~ sum_k w_k N(mu_k, diag(s_k^2))`` and ``x_t = alpha x0 + sigma eps`` then
``x_t | k ~ N(alpha mu_k, alpha^2 s_k^2 + sigma^2)`` and
``E[x0 | x_t] = sum_k r_k(x_t) (mu_k + alpha s_k^2 / (alpha^2 s_k^2 + sigma^2) (x_t - alpha mu_k))``
with posterior responsibilities ``r_k``.  This is the optimal denoiser, so samplers, guidance and
likelihoods can be checked against closed forms with no training.  Also: sliced Wasserstein.
"""
from __future__ import annotations

import math

import torch

from .parameterization import PREDICTIONS, coefficients
from .schedules import Schedule

__all__ = ["GaussianMixture", "sliced_wasserstein"]

_F64 = torch.float64


class GaussianMixture:
    """means: (K, D); stds: (K,) or (K, D); weights: (K,) (default equal); classes: (K,) int labels
    of the components, for class-conditional denoising (label -1 = unconditional)."""

    def __init__(self, means, stds, weights=None, classes=None):
        self.means = torch.as_tensor(means, dtype=_F64)
        if self.means.ndim != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(self.means.shape)}")
        k, d = self.means.shape
        stds = torch.as_tensor(stds, dtype=_F64)
        self.stds = (stds.reshape(-1, 1) if stds.ndim <= 1 else stds).expand(k, d).clone()
        if (self.stds <= 0).any():
            raise ValueError("mixture standard deviations must be > 0")
        w = torch.ones(k, dtype=_F64) if weights is None else torch.as_tensor(weights, dtype=_F64)
        if w.shape != (k,) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be (K,) = ({k},), non-negative, not all zero")
        self.weights = w / w.sum()
        self.classes = None if classes is None else torch.as_tensor(classes, dtype=torch.long)

    @classmethod
    def ring(cls, k: int = 8, radius: float = 1.0, std: float = 0.1) -> "GaussianMixture":
        """``k`` equal Gaussians on a circle, the classic 2-D test (class label = component)."""
        angle = torch.arange(k, dtype=_F64) * 2 * math.pi / k
        return cls(torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], 1), std,
                   classes=torch.arange(k))

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator=None, *, component: torch.Tensor | None = None, dtype=_F64) -> torch.Tensor:
        """(n, D) draws; ``component`` (n,) fixes each draw's component."""
        if component is None:
            component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=_F64)
        return (self.means[component] + self.stds[component] * z).to(dtype)

    def _log_components(self, x, alpha, sigma):
        """log w_k + log N(x; alpha mu_k, alpha^2 s_k^2 + sigma^2): (n, K), and the variances (n, K, D)."""
        var = alpha[:, None, None] ** 2 * self.stds**2 + sigma[:, None, None] ** 2
        diff = x[:, None, :] - alpha[:, None, None] * self.means
        log_n = -0.5 * ((diff**2 / var) + torch.log(2 * math.pi * var)).sum(-1)
        return torch.log(self.weights) + log_n, var, diff

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log density (n,) of data points x (n, D), in nats."""
        return self.log_prob_t(x, 1.0, 0.0)

    def log_prob_t(self, x_t: torch.Tensor, alpha, sigma) -> torch.Tensor:
        """Exact log density (n,) of the noisy marginal of ``x_t = alpha x0 + sigma eps``."""
        x = torch.as_tensor(x_t, dtype=_F64)
        n = x.shape[0]
        alpha = torch.as_tensor(alpha, dtype=_F64).expand(n)
        sigma = torch.as_tensor(sigma, dtype=_F64).expand(n)
        rows = max(1, 2**22 // (self.means.numel()))  # bound the (rows, K, D) intermediates to ~32 MB each
        return torch.cat([torch.logsumexp(self._log_components(x[i:i + rows], alpha[i:i + rows], sigma[i:i + rows])[0], 1)
                          for i in range(0, n, rows)])

    def class_log_probs(self, x_t: torch.Tensor, alpha, sigma) -> torch.Tensor:
        """log p(class | x_t) (n, C) for classes 0..C-1: the exact noise-aware classifier."""
        if self.classes is None:
            raise ValueError("this mixture has no component classes")
        x = torch.as_tensor(x_t, dtype=_F64)
        n = x.shape[0]
        log_c, _, _ = self._log_components(x, torch.as_tensor(alpha, dtype=_F64).expand(n),
                                           torch.as_tensor(sigma, dtype=_F64).expand(n))
        num = int(self.classes.max()) + 1
        per_class = torch.stack([torch.logsumexp(log_c[:, self.classes == c], 1) for c in range(num)], 1)
        return per_class - torch.logsumexp(log_c, 1, keepdim=True)

    def denoise(self, x_t: torch.Tensor, alpha, sigma, label: torch.Tensor | None = None) -> torch.Tensor:
        """E[x0 | x_t] (n, D) for ``x_t = alpha x0 + sigma eps``; alpha, sigma: floats or (n,).
        ``label`` (n,) restricts each row to the components of that class (-1: all)."""
        x = torch.as_tensor(x_t, dtype=_F64)
        n = x.shape[0]
        alpha = torch.as_tensor(alpha, dtype=_F64).expand(n)
        sigma = torch.as_tensor(sigma, dtype=_F64).expand(n)
        log_c, var, diff = self._log_components(x, alpha, sigma)
        if label is not None:
            if self.classes is None:
                raise ValueError("this mixture has no component classes to condition on")
            label = torch.as_tensor(label, dtype=torch.long).reshape(n, 1)
            allowed = (self.classes[None, :] == label) | (label < 0)
            log_c = log_c.masked_fill(~allowed, -math.inf)
        resp = torch.softmax(log_c, 1)
        per_k = self.means + alpha[:, None, None] * self.stds**2 / var * diff
        return (resp[:, :, None] * per_k).sum(1)

    def model(self, schedule: Schedule, prediction: str = "eps", sigma_data: float = 0.5):
        """The exact network for a schedule and parameterization:
        ``model(x_in, noise_label, label=None) -> target`` as :class:`~zoo.core.Denoiser` expects."""
        if prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {prediction!r}")

        def exact(x_in: torch.Tensor, noise_label: torch.Tensor, label=None) -> torch.Tensor:
            t = schedule.t_of_noise_label(noise_label.to(_F64).cpu())
            alpha, sigma = schedule.alpha_sigma(t)
            dalpha, dsigma = schedule.derivatives(t)
            x0_coef, eps_coef, scale = coefficients(prediction, alpha, sigma, dalpha, dsigma, sigma_data)
            col = lambda v: v.reshape(-1, *([1] * (x_in.ndim - 1)))  # noqa: E731
            x = x_in.to(_F64).cpu() / col(scale)
            x0 = self.denoise(x.flatten(1), alpha, sigma, label).reshape(x.shape)
            raw = (x0 - col(x0_coef[0]) * x) / col(x0_coef[1])  # the output r with x0 = a x + b r
            return raw.to(dtype=x_in.dtype, device=x_in.device)

        return exact


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, *, projections: int = 256, generator=None) -> float:
    """Sliced 2-Wasserstein distance between point sets x (n, D) and y (m, D).

    Averages the squared 1-D W2 over random unit directions (quantiles at ``min(n, m)`` levels)
    and returns its square root."""
    x, y = torch.as_tensor(x, dtype=_F64).flatten(1), torch.as_tensor(y, dtype=_F64).flatten(1)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"point sets differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    dirs = torch.randn(x.shape[1], projections, generator=generator, dtype=_F64)
    dirs /= dirs.norm(dim=0, keepdim=True)
    px, py = (x @ dirs).sort(0).values, (y @ dirs).sort(0).values
    m = min(px.shape[0], py.shape[0])
    q = (torch.arange(m, dtype=_F64) + 0.5) / m
    qx = torch.quantile(px, q, dim=0) if px.shape[0] != m else px
    qy = torch.quantile(py, q, dim=0) if py.shape[0] != m else py
    return float(((qx - qy) ** 2).mean().sqrt())
