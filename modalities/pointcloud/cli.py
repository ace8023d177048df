"""The point-cloud flags of ``zoo sample``: ``--points N`` draws clouds of another number of points.

The point transformer is a set model (no positional encoding), so it takes any number of points;
fewer points cost less (attention is quadratic in N): ``--points 512`` is a quick draft on a CPU.
"""
from __future__ import annotations

import argparse

from zoo.modality import CliHooks

__all__ = ["CLI", "sample_arguments", "sample_options"]


def sample_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--points", type=int, default=None,
                       help="points per cloud (default: the number the model was trained on)")


def sample_options(model, args: argparse.Namespace) -> dict:
    """``{"points": N}`` for ``model.sample`` when ``--points`` is given."""
    points = args.points
    if points is None:
        return {}
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise ValueError(f"--points must be a positive integer, got {points!r}")
    return {"points": points}


CLI = CliHooks(sample_arguments=sample_arguments, sample_options=sample_options)
