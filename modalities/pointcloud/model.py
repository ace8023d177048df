"""PointCloudModel: the ZooModel of the point-cloud modality.

``sample(n, cond=labels, guidance=w)`` returns clouds (n, N, 3) in the model's normalised frame
(``config["data"]["normalization"]``); labels are class indices or names (``"torus"``).
``complete(partial)`` generates the rest of a shape around a partial cloud held fixed, through the
core's inpainting guidance (``core.guidance.Inpaint``).
"""
from __future__ import annotations

import torch

from zoo.model import ZooModel

__all__ = ["PointCloudModel", "crop"]


def crop(clouds: torch.Tensor, direction=(1.0, 0.0, 0.0), keep: int | None = None) -> torch.Tensor:
    """A partial view of clouds (B, N, 3): the ``keep`` points (default N // 2) farthest along
    ``direction`` (a half-space cut through the median: with (1, 0, 0), the half with the largest x).
    Returns (B, keep, 3)."""
    clouds = torch.as_tensor(clouds)
    if clouds.ndim != 3 or clouds.shape[2] != 3:
        raise ValueError(f"crop expects clouds of shape (B, N, 3), got {tuple(clouds.shape)}")
    keep = clouds.shape[1] // 2 if keep is None else int(keep)
    if not 1 <= keep <= clouds.shape[1]:
        raise ValueError(f"keep must lie in 1..{clouds.shape[1]}, got {keep}")
    direction = torch.as_tensor(direction, dtype=clouds.dtype, device=clouds.device)
    if direction.shape != (3,) or not bool(direction.norm() > 0):
        raise ValueError(f"direction must be a non-zero 3-vector, got {direction.tolist()}")
    index = (clouds @ direction).topk(keep, dim=1).indices
    return torch.gather(clouds, 1, index[..., None].expand(-1, -1, 3))


class PointCloudModel(ZooModel):
    @property
    def points(self) -> int:
        """Points per generated cloud (N of sample_shape (N, 3))."""
        return int(self.sample_shape[0])

    @property
    def normalization(self) -> str:
        return self.config["data"]["normalization"]

    @torch.no_grad()
    def sample(self, n: int = 16, *, cond=None, guidance: float | None = None, points: int | None = None,
               generator: torch.Generator | None = None, **options):
        """n clouds (n, points, 3) (default points: the trained N); ``cond``: class labels (n,), one
        int or a class name; ``guidance``: classifier-free guidance scale (default: the model's);
        ``options`` as for ``ZooModel.sample`` (steps, sampler, return_info, ...)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        labels = self.labels(cond, n)
        if points is not None and (not isinstance(points, int) or points < 1):
            raise ValueError(f"points must be a positive integer, got {points!r}")
        if options.get("x_T") is None:
            options["x_T"] = self.noise(n, generator, shape=(points or self.points, 3))
        if labels is not None:
            labels = {"label": labels.to(options["x_T"].device)}
        return super().sample(n, cond=labels, guidance=guidance, generator=generator, **options)

    @torch.no_grad()
    def complete(self, partial: torch.Tensor, *, points: int | None = None, cond=None, guidance: float | None = None,
                 generator: torch.Generator | None = None, **options):
        """Complete partial clouds (B, M, 3) (or one (M, 3)), given in the model's normalised frame:
        returns (B, points, 3) whose first M points are ``partial`` exactly and whose other
        points - M are generated around them (default points: the trained N)."""
        partial = torch.as_tensor(partial)
        partial = partial[None] if partial.ndim == 2 else partial
        total = points or self.points
        if partial.ndim != 3 or partial.shape[2] != 3 or not 1 <= partial.shape[1] < total:
            raise ValueError(f"partial clouds must have shape (B, M, 3) with 1 <= M < {total} points, "
                             f"got {tuple(partial.shape)}")
        if not bool(torch.isfinite(partial).all()):
            raise ValueError("partial clouds hold NaN or infinite coordinates")
        b, m = partial.shape[:2]
        x_T = self.noise(b, generator, shape=(total, 3))
        known = torch.zeros_like(x_T)
        known[:, :m] = partial.to(known)
        mask = torch.zeros(b, total, 1, dtype=x_T.dtype, device=x_T.device)
        mask[:, :m] = 1
        return self.sample(b, cond=cond, guidance=guidance, points=total, generator=generator, x_T=x_T,
                           inpaint=(known, mask), **options)
