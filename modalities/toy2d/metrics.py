"""The toy2d evaluation suite (protocol ``toy2d-eval/1``), run against the known data distribution.

- ``sliced_w2``: sliced 2-Wasserstein to fresh data (256 directions), beside the floor of fresh
  data against fresh data of the same size;
- ``near_data``: fraction of samples within 3 standard deviations of a mixture component (for
  curves: of the curve), or inside the squares (checkerboard);
- ``modes_covered`` (discrete-mode sets): modes that receive at least a quarter of their
  expected share of samples, out of all modes;
- ``log_likelihood``: mean log-likelihood of held-out data under the model (probability-flow
  ODE, exact divergence) beside the data's mean log density, i.e. minus its entropy (nats).
"""
from __future__ import annotations

import torch

from zoo import core

from .data import Checkerboard, MixtureData, Toy2D

PROTOCOL = "toy2d-eval/1"


def sample_quality(samples: torch.Tensor, data: Toy2D) -> dict:
    """Distribution metrics of samples (n, 2) that need no model."""
    samples = torch.as_tensor(samples, dtype=torch.float64)
    n = samples.shape[0]
    gen = torch.Generator().manual_seed(1234)
    fresh, other = data.sample(n, gen), data.sample(n, gen)
    out = {
        "sliced_w2": core.mixture.sliced_wasserstein(samples, fresh, projections=256, generator=torch.Generator().manual_seed(0)),
        "sliced_w2_floor": core.mixture.sliced_wasserstein(other, fresh, projections=256,
                                                           generator=torch.Generator().manual_seed(0)),
    }
    if isinstance(data, Checkerboard):
        out["near_data"] = float(data.on_support(samples).double().mean())
    elif isinstance(data, MixtureData):
        out["near_data"] = float((data.distance_to_modes(samples) <= 3 * data.std).double().mean())
        if data.discrete_modes:
            k = data.mixture.means.shape[0]
            counts = torch.bincount(data.nearest_mode(samples)[data.distance_to_modes(samples) <= 3 * data.std],
                                    minlength=k)
            out["modes_covered"] = int((counts >= 0.25 * n / k).sum())
            out["modes"] = k
    return out


def evaluate(model, data: Toy2D, *, n: int = 4000, steps: int = 20, sampler: str | None = None, timesteps=None,
             likelihood_n: int = 500, seed: int = 0) -> dict:
    """Sample ``n`` points with ``steps`` steps and score them; report the protocol beside them."""
    gen = torch.Generator().manual_seed(seed)
    x, info = model.sample(n, steps=steps, sampler=sampler, timesteps=timesteps, generator=gen, return_info=True)
    out = {"protocol": PROTOCOL, "n": n, "steps": steps, "nfe": info.nfe, "sampler": info.sampler, "seed": seed,
           **sample_quality(x, data)}
    held_out = data.sample(likelihood_n, torch.Generator().manual_seed(seed + 1)).float()
    den = model.denoiser()
    with torch.no_grad():
        ll = core.log_likelihood(den, held_out.to(next(model.parameters()).device), method="exact")
    out["log_likelihood"] = float(ll.mean())
    out["data_log_density"] = float(data.log_prob(held_out.double()).mean())
    entropy, se = data.entropy()
    out["data_entropy"], out["data_entropy_se"] = entropy, se
    return out
