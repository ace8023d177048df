"""Likelihood: exact log-likelihood through the probability-flow ODE, and the discrete DDPM ELBO.

The ODE is integrated in ``theta = atan2(sigma, alpha)`` on ``z = x / sqrt(alpha^2 + sigma^2)``
(see ``samplers/ode.py``), from data (theta ~ 0, z = x0) to the noisiest level theta_1, where
``z ~ N(0, sin(theta_1)^2 I)`` under the prior.  Along it ``d log p(z) / d theta = -div v``, so
``log p(x0) = log prior(z_1) + int_0^theta_1 div v dtheta`` (Chen et al. 2018; Song et al. 2021).
The divergence is exact (one backward pass per dimension) in low dimension and a Hutchinson
estimate with Rademacher probes otherwise.  All results are nats per example (B,).
"""
from __future__ import annotations

import math

import torch

from .integrate import dopri5
from .samplers.ode import ode_velocity, theta_of_t
from .schedules import DDPM

__all__ = ["log_likelihood", "elbo", "bits_per_dim"]


def _divergence(denoiser, z, theta, probes):
    """(dz/dtheta, div) with the divergence taken in the prior's subspace: sum_i u_i . J u_i."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        v, _ = ode_velocity(denoiser, z, theta)
        div = torch.zeros(z.shape[0], dtype=torch.float64, device=z.device)
        for k, u in enumerate(probes):
            (jvp,) = torch.autograd.grad(v, z, grad_outputs=u, retain_graph=k < len(probes) - 1)
            div = div + (jvp * u).flatten(1).sum(1).to(torch.float64)
    return v.detach(), div


def _probes(denoiser, x0, method, num_probes, generator):
    prior = denoiser.prior
    dims = x0[0].numel()
    if method == "auto":
        method = "exact" if dims <= 32 else "hutchinson"
    if method == "exact":  # projected basis vectors: sum_i P e_i (P e_i)^T = P
        eye = torch.eye(dims, dtype=x0.dtype, device=x0.device)
        return [prior.project(eye[i].expand(x0.shape[0], dims).reshape(x0.shape)) for i in range(dims)], dims
    if method == "hutchinson":
        probes = []
        for _ in range(num_probes):
            r = torch.randint(0, 2, x0.shape, generator=generator, dtype=x0.dtype).to(x0.device) * 2 - 1
            probes.append(prior.project(r) / math.sqrt(num_probes))
        return probes, dims
    raise ValueError(f"unknown divergence method {method!r}; choose 'auto', 'exact' or 'hutchinson'")


def log_likelihood(denoiser, x0: torch.Tensor, *, method: str = "auto", num_probes: int = 1,
                   rtol: float = 1e-5, atol: float = 1e-5, t_max: float | None = None, sigma_min: float = 1e-5,
                   generator: torch.Generator | None = None, return_info: bool = False, callback=None):
    """log p(x0) in nats per example, shape (B,), by the probability-flow ODE.

    x0: (B, ...) data.  method: "exact" divergence, "hutchinson" (``num_probes`` Rademacher
    probes, held fixed along the path) or "auto" (exact up to 32 dimensions).
    callback: ``callback(fraction)`` after each accepted solver step, the fraction of the path
    integrated (0 to 1), e.g. for a progress bar.
    """
    if not isinstance(x0, torch.Tensor) or x0.ndim < 2 or not x0.is_floating_point():
        raise ValueError(f"x0 must be a floating-point tensor of shape (B, ...), got {tuple(getattr(x0, 'shape', ()))}")
    if not torch.isfinite(x0).all():
        raise ValueError("x0 contains NaN or inf")
    sched = denoiser.schedule
    theta1 = theta_of_t(sched, sched.t_max if t_max is None else t_max)
    probes, _ = _probes(denoiser, x0, method, num_probes, generator)
    calls = [0]

    def f(theta, ys):
        calls[0] += 1
        v, div = _divergence(denoiser, ys[0], theta, probes)
        return [v, div]

    zero = torch.zeros(x0.shape[0], dtype=torch.float64, device=x0.device)
    z1, delta = dopri5(f, [x0, zero], math.atan(sigma_min), theta1, rtol=rtol, atol=atol,
                       callback=callback)
    logp = denoiser.prior.log_prob(z1, math.sin(theta1)) + delta
    if return_info:
        return logp, {"nfe": calls[0], "theta_max": theta1, "z_T": z1}
    return logp


def bits_per_dim(nats: torch.Tensor, num_dims: int | torch.Tensor, *, offset: float = 0.0) -> torch.Tensor:
    """Negative log-likelihood in bits per dimension: ``-(nats) / (D ln 2) + offset``
    (e.g. offset 7 = log2(256 / 2) for 8-bit images scaled to [-1, 1], bin width 2/256, or 8 for [0, 1])."""
    return -torch.as_tensor(nats, dtype=torch.float64) / (torch.as_tensor(num_dims, dtype=torch.float64) * math.log(2)) + offset


def elbo(denoiser, x0: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """The discrete variational bound of a DDPM table (Ho et al. 2020), nats per example (B,).

    ``log p(x0) >= -KL(q(x_T|x0) || N(0, I)) - sum_i KL(q(x_{i-1}|x_i, x0) || p(x_{i-1}|x_i))
    + log N(x0; x0_hat(x_1), beta_1)`` with the reverse variances fixed to the posterior ones and
    one draw of x_i per step.  Costs ``num_steps`` evaluations per example.
    """
    sched = denoiser.schedule
    if not isinstance(sched, DDPM):
        raise ValueError(f"the discrete ELBO needs a DDPM table; {type(sched).__name__} is continuous "
                         f"(use log_likelihood)")
    prior = denoiser.prior
    dims = prior.num_dims(x0)
    a2 = sched.alphas_cumprod.tolist()  # alpha^2 at table steps 0..T-1
    T = sched.num_steps
    x0d = x0.to(torch.float64)
    sq = lambda v: v.to(torch.float64).flatten(1).pow(2).sum(1)  # noqa: E731
    # prior term: KL(N(sqrt(a) x0, 1 - a) || N(0, 1)) summed over dimensions
    aT = a2[-1]
    total = -0.5 * (dims * ((1 - aT) - 1 - math.log(1 - aT)) + aT * sq(x0d))
    with torch.no_grad():
        for i in range(T):
            a_i = a2[i]
            a_prev = a2[i - 1] if i > 0 else 1.0
            x_i = math.sqrt(a_i) * x0 + math.sqrt(1 - a_i) * prior.noise(x0, generator)
            x0_hat = denoiser(x_i, (i + 1) / T).x0
            beta = 1 - a_i / a_prev
            if i == 0:  # decoder: N(x0; x0_hat, beta_1)
                total = total - 0.5 * sq(x0 - x0_hat) / beta - 0.5 * dims * math.log(2 * math.pi * beta)
            else:  # both posteriors share their variance; the means differ by c0 (x0 - x0_hat)
                var = (1 - a_prev) / (1 - a_i) * beta
                c0 = math.sqrt(a_prev) * beta / (1 - a_i)
                total = total - 0.5 * c0 * c0 * sq(x0 - x0_hat) / var
    return total
