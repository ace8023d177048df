"""2-D sample files: ``.npy`` and ``.csv`` arrays (written and read), ``.png`` scatter plots (matplotlib)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from zoo.files import atomic_write

FORMATS = (".npy", ".csv", ".png")


def _figure(size=(4, 4)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.figure(figsize=size, dpi=100)


LIMIT = 3.0  # the plots' half-width at least; wider when the points reach further (``half_width``)


def half_width(points: np.ndarray) -> float:
    """A half-width that holds the whole distribution: LIMIT, or 8% beyond the 99.9th percentile of the
    points' largest coordinate (so that a handful of strays do not shrink the picture)."""
    if len(points) == 0:
        return LIMIT
    reach = float(np.quantile(np.abs(points).max(axis=1), 0.999))
    return max(LIMIT, 1.08 * reach) if np.isfinite(reach) else LIMIT


def scatter(ax, points: np.ndarray, title: str = "", limit: float = LIMIT, labels=None) -> None:
    """Points (n, 2) on ``ax`` within [-limit, limit]^2; ``labels`` (n,): coloured by class."""
    from matplotlib import colormaps

    colours = {"color": "#1f5fa8"} if labels is None else {"c": colormaps["tab10"](np.asarray(labels) % 10)}
    ax.scatter(points[:, 0], points[:, 1], s=1.5, alpha=0.6, linewidths=0, **colours)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def write_samples(x: torch.Tensor, path, *, title: str = "", labels=None) -> Path:
    """Write samples (n, 2) to ``path``; the extension picks the format.  The ``.png`` scatter plot holds
    every point but strays (``half_width``); ``labels`` (n,) colour its points by class."""
    path = Path(path)
    x = torch.as_tensor(x).detach().cpu()
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"toy2d samples must have shape (n, 2), got {tuple(x.shape)}")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot write toy2d samples to {path.name!r}: use one of {FORMATS}")
    points = x.double().numpy()
    if suffix == ".npy":
        def save_npy(tmp):
            with open(tmp, "wb") as handle:  # a handle: np.save would append ".npy" to a name
                np.save(handle, points)
        return atomic_write(path, save_npy)
    if suffix == ".csv":
        return atomic_write(path, lambda tmp: np.savetxt(tmp, points, delimiter=",", header="x,y", comments=""))
    fig = _figure()
    shown = None if labels is None else torch.as_tensor(labels).reshape(-1).numpy()
    scatter(fig.add_axes([0.02, 0.02, 0.96, 0.9]), points, title, limit=half_width(points), labels=shown)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def read_samples(path) -> torch.Tensor:
    """Samples (n, 2) float32 back from a ``.npy`` or ``.csv`` file that ``write_samples`` wrote."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        points = np.load(path, allow_pickle=False)
    elif suffix == ".csv":
        points = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    else:
        raise ValueError(f"{path}: toy2d samples are read from .npy or .csv files")
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"{path}: expected an (n, 2) array of points, got shape {points.shape}")
    return torch.from_numpy(np.asarray(points, dtype=np.float32))

