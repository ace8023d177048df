"""The training step of ``task: consistency`` recipes (``zoo.core.consistency`` does the maths).

Consistency distillation (CD) loads the recipe's ``consistency.teacher``, draws one interval of
the grid per step (uniform or log-normal in the noise level) and solves the teacher's ODE over it
with ``consistency.solver``, guided by ``consistency.guidance`` if set; consistency training (CT)
draws one interval per example on a grid that grows along ``curriculum``.  The target network is
an EMA of the student (``target_decay``) or, at 0, the student itself without gradient.
"""
from __future__ import annotations

import copy

import torch

from .. import core
from ..loading import load
from .objective import Objective

__all__ = ["ConsistencyObjective", "consistency_config"]


def consistency_config(c) -> dict:
    """What a consistency model's config records (``ZooModel.denoiser`` wraps its denoiser with it);
    ``c``: the recipe's ``consistency`` section."""
    return {"mode": c.mode, "scale": c.scale, "points": c.points if c.mode == "distillation" else c.s1 + 1,
            **({"teacher": c.teacher, "solver": c.solver, "solver_steps": c.solver_steps, "guidance": c.guidance}
               if c.mode == "distillation" else {})}


class ConsistencyObjective(Objective):
    """``objective(step, x, t, noise, cond, mask) -> per-example loss (B,)`` (``t`` unused: the grid
    chooses the levels); ``after_step`` updates the target network.  ``c``, ``diffusion``: the
    recipe's ``consistency`` and ``diffusion`` sections; ``forward``: the (possibly wrapped) student
    network; ``net``: its module; ``total_steps``: the run's steps (CT's curriculum); ``seed``: the run's."""

    noise_shape = None

    def __init__(self, c, diffusion, model, forward, net, device, *, total_steps: int, seed: int):
        self.config = c
        self.schedule, self.total_steps, self.seed = model.schedule, total_steps, seed
        self.teacher = None
        if c.mode == "distillation":
            self.teacher = load(c.teacher, device=device).eval().requires_grad_(False)
            if self.teacher.schedule != model.schedule:
                raise ValueError(f"consistency.teacher {c.teacher!r} has schedule {self.teacher.schedule!r}; the student "
                                 f"has {model.schedule!r}: distillation needs the same one")
            if c.guidance is not None and not self.teacher.num_classes:
                raise ValueError(f"consistency.guidance: the teacher {c.teacher!r} is unconditional")
        self.target_net = copy.deepcopy(net).requires_grad_(False) if c.target_decay > 0 else None
        options = dict(prediction=diffusion.prediction, sigma_data=diffusion.sigma_data)
        self.student = core.consistency.Consistency(core.Denoiser(forward, model.schedule, **options),
                                                    sigma_data=diffusion.sigma_data, scale=c.scale)
        self.target = core.consistency.Consistency(core.Denoiser(self.target_net or net, model.schedule, **options),
                                                   sigma_data=diffusion.sigma_data, scale=c.scale)

    @property
    def extra_state(self) -> dict:
        """Modules a checkpoint must keep for an exact resume."""
        return {"target": self.target_net} if self.target_net is not None else {}

    def grid(self, step: int) -> torch.Tensor:
        c = self.config
        points = c.points if c.mode == "distillation" else core.consistency.curriculum(step, self.total_steps, c.s0, c.s1)
        return core.consistency.grid(self.schedule, points, c.placement)

    def _intervals(self, ts: torch.Tensor, count: int, generator) -> torch.Tensor:
        c = self.config
        if c.intervals == "lognormal":
            p = core.consistency.interval_probabilities(self.schedule, ts, c.p_mean, c.p_std)
            return torch.multinomial(p, count, replacement=True, generator=generator)
        return torch.randint(0, len(ts) - 1, (count,), generator=generator)

    def __call__(self, step: int, x, t, noise, cond: dict, mask=None) -> torch.Tensor:
        c = self.config
        ts = self.grid(step)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step + 500_009)  # not the batch's stream
        options = dict(kind=c.distance, huber_c=c.huber_c, weighting=c.weighting, cond=cond)
        if self.teacher is None:  # CT: one interval per example
            n = self._intervals(ts, x.shape[0], generator)
            return core.consistency.loss(self.student, self.target, x, noise, ts[n], ts[n + 1], **options)
        n = int(self._intervals(ts, 1, generator))
        teacher, teacher_cond = self.teacher.denoiser(), None
        if c.guidance is not None and c.guidance != 1.0:
            uncond = {k: torch.full_like(v, self.teacher.config["null_cond"][k]) for k, v in cond.items()}
            teacher, teacher_cond = core.guidance.ClassifierFree(teacher, c.guidance, cond, uncond), {}
        return core.consistency.loss(self.student, self.target, x, noise, float(ts[n]), float(ts[n + 1]),
                                     teacher=teacher, teacher_cond=teacher_cond, solver=c.solver,
                                     solver_steps=c.solver_steps, **options)

    @torch.no_grad()
    def after_step(self, net: torch.nn.Module) -> None:
        if self.target_net is not None:
            for target, param in zip(self.target_net.parameters(), net.parameters()):
                target.lerp_(param.detach(), 1.0 - self.config.target_decay)
