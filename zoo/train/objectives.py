"""Training objectives: one per task, chosen once before the loop, as EDM's loop calls its ``loss_fn``.

An objective is called ``objective(step, x, t, noise, cond, mask) -> (B,)`` per-example loss with
the step's slice of the global batch: x (B, *S) clean data, t (B,) times, noise (B, *noise_shape)
drawn on the mask, cond the network's keyword arguments (each (B, ...), ``mask`` included), mask
(B, N) or None.  ``noise_shape``: one example's noise shape when it differs from the data's
(None: the data's).  ``extra_state``: modules a checkpoint must keep for an exact resume.
``after_step(net)`` runs after every optimiser step.

Tasks:
- ``diffusion``: the core's denoising objective (``zoo.core.objectives.loss``) with the recipe's
  ``objective`` section (target, weighting, norm, min-SNR gamma);
- ``autoencoder``: the network's own loss, ``forward(x, noise) -> (B,)``; an autoencoder network
  declares ``latent_shape`` (one latent's shape), the shape of its noise;
- ``consistency``: consistency distillation or training (``zoo.train.consistency``).
"""
from __future__ import annotations


from .. import core
from .consistency import ConsistencyObjective
from .objective import Objective

__all__ = ["Objective", "DiffusionObjective", "AutoencoderObjective", "ConsistencyObjective", "make_objective",
           "TASKS"]


class DiffusionObjective(Objective):
    """The core's denoising loss; ``objective``: the recipe's ``objective`` section; ``prior(cond, mask)``: the
    model's prior for a batch (``ZooModel.prior``)."""

    def __init__(self, denoiser: core.Denoiser, objective, prior):
        self.denoiser, self.objective, self.prior = denoiser, objective, prior

    def __call__(self, step, x, t, noise, cond, mask):
        obj = self.objective
        denoiser = self.denoiser.with_prior(self.prior(cond, mask))
        x0_loss = None
        if obj.stft_weight > 0:
            ffts = tuple(obj.stft_ffts)
            x0_loss = lambda estimate, x0: obj.stft_weight * core.objectives.stft_loss(estimate, x0, ffts)  # noqa: E731
        return core.objectives.loss(denoiser, x, t=t, noise=noise, cond=cond, target=obj.target, mask=mask,
                                    weighting=obj.weighting, norm=obj.norm, min_snr_gamma=obj.min_snr_gamma,
                                    x0_loss=x0_loss)


class AutoencoderObjective(Objective):
    """The network's own per-example loss ``forward(x, noise)``, noise (B, *latent_shape)."""

    def __init__(self, forward, latent_shape: tuple):
        self.forward, self.noise_shape = forward, tuple(latent_shape)

    def __call__(self, step, x, t, noise, cond, mask):
        return self.forward(x, noise)


TASKS = ("diffusion", "autoencoder", "consistency")


def make_objective(recipe, model, forward, net, device) -> Objective:
    """The objective of ``recipe.task`` for ``model`` whose network ``net`` trains as ``forward``
    (``net`` wrapped for DDP or compilation)."""
    if recipe.task == "autoencoder":
        return AutoencoderObjective(forward, net.latent_shape)
    if recipe.task == "consistency":
        return ConsistencyObjective(recipe.consistency, recipe.diffusion, model, forward, net, device,
                                    total_steps=recipe.optim.steps, seed=recipe.seed)
    denoiser = core.Denoiser(forward, model.schedule, recipe.diffusion.prediction,
                             sigma_data=recipe.diffusion.sigma_data)
    return DiffusionObjective(denoiser, recipe.objective, model.prior)
