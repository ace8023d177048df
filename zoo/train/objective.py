"""The interface of a training task's objective (the tasks are in ``zoo.train.objectives``)."""
from __future__ import annotations

import torch

__all__ = ["Objective"]


class Objective:
    """``objective(step, x, t, noise, cond, mask) -> (B,)`` per-example loss of step ``step``'s slice
    of the global batch: x (B, *S) clean data, t (B,) times, noise (B, *noise_shape) drawn on the
    mask, cond the network's keyword arguments (each (B, ...), ``mask`` included), mask (B, N) or
    None.  ``noise_shape``: one example's noise shape when it differs from the data's (None: the
    data's).  ``extra_state``: modules a checkpoint keeps for an exact resume.  ``after_step(net)``
    runs after every optimiser step."""

    noise_shape: tuple | None = None

    @property
    def extra_state(self) -> dict:
        return {}

    def __call__(self, step: int, x, t, noise, cond: dict, mask) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, net: torch.nn.Module) -> None:
        return None
