"""The toy2d evaluation suite (protocol ``toy2d-eval/1``), run against the known data distribution.

- ``sliced_w2``: sliced 2-Wasserstein to fresh data (256 directions), beside the floor of fresh
  data against fresh data of the same size;
- ``near_data``: fraction of samples within 3 standard deviations of a mixture component (for
  curves: of the curve), or inside the squares (checkerboard);
- ``modes_covered`` (discrete-mode sets): modes that receive at least a quarter of their
  expected share of samples, out of all modes;
- ``sample_log_density`` (``sample_metrics``, for quality-versus-steps sweeps): the mean log
  density of the samples under the true distribution, beside the data's own (minus its entropy);
- ``log_likelihood``: mean log-likelihood of held-out data under the model (probability-flow
  ODE, exact divergence) beside the data's mean log density, i.e. minus its entropy (nats).
"""
from __future__ import annotations


import torch

from zoo import core
from zoo.evaluation import draw, ode_progress

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


def sample_metrics(model, data: Toy2D, *, n: int = 4000, steps: int | None = None, sampler: str | None = None,
                   timesteps=None, seed: int = 0) -> dict:
    """Sample ``n`` points with ``steps`` steps and score them (no likelihood): the metrics that
    depend on the sampler, with ``sample_log_density`` (mean log density of the samples under the
    true distribution) and the wall time per sample."""
    x, how = draw(model, n, batch=n, seed=seed, steps=steps, sampler=sampler, timesteps=timesteps)
    return {"protocol": PROTOCOL, "n": n, "steps": how["steps"], "nfe": how["nfe"], "sampler": how["sampler"], "seed": seed,
            **sample_quality(x, data), "sample_log_density": float(data.log_prob(x.double()).mean()),
            "seconds_per_sample": how["seconds"] / n}


def evaluate(model, data: Toy2D, *, n: int | None = None, steps: int | None = None, sampler: str | None = None,
             timesteps=None, guidance: float | None = None, likelihood_n: int = 500, seed: int = 0) -> dict:
    """Sample ``n`` points (default 4000) with ``steps`` steps (default: the model's) and score them; report the
    protocol beside them.  A consistency model has no probability-flow ODE, so no ``log_likelihood``."""
    if guidance is not None:
        raise ValueError("the toy2d evaluation takes no guidance scale: toy2d models are unconditional")
    out = sample_metrics(model, data, n=4000 if n is None else n, steps=steps, sampler=sampler, timesteps=timesteps,
                         seed=seed)
    del out["sample_log_density"], out["seconds_per_sample"]
    held_out = data.sample(likelihood_n, torch.Generator().manual_seed(seed + 1)).float()
    if model.is_consistency:
        out["log_likelihood"] = "not computed: a consistency model defines no probability-flow ODE"
    else:
        with torch.no_grad(), ode_progress(f"{model.name}: likelihood of {likelihood_n} held-out points") as advance:
            ll = core.log_likelihood(model.denoiser(), held_out.to(next(model.parameters()).device), method="exact",
                                     callback=advance)
        out["log_likelihood"] = float(ll.mean())
    out["data_log_density"] = float(data.log_prob(held_out.double()).mean())
    entropy, se = data.entropy()
    out["data_entropy"], out["data_entropy_se"] = entropy, se
    return out
