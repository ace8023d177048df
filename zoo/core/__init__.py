"""The shared diffusion core: schedules, parameterizations, priors, objectives, timesteps,
samplers, guidance and likelihood.  Depends on torch only and knows no modality.

>>> import zoo.core as core
>>> sched = core.schedules.DDPM(beta_schedule="linear", num_steps=1000)
>>> den = core.Denoiser(model, sched, prediction="eps")
>>> x0 = core.sample(den, x_T, sampler="dpmpp_2m", steps=10)
"""
from . import consistency, flows, guidance, integrate, likelihood, mixture, objectives, priors, samplers, schedules, timesteps
from .likelihood import bits_per_dim, elbo, log_likelihood
from .parameterization import PREDICTIONS, Denoiser, DenoiserWrapper, Prediction
from .samplers import SampleInfo, sample

__all__ = [
    "schedules", "priors", "objectives", "timesteps", "samplers", "guidance", "likelihood", "mixture", "integrate", "flows",
    "consistency",
    "Denoiser", "DenoiserWrapper", "Prediction", "PREDICTIONS", "sample", "SampleInfo",
    "log_likelihood", "elbo", "bits_per_dim",
]
