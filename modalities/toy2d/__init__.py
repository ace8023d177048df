"""The 2-D modality: toy data sets with known densities, an MLP denoiser, exact evaluation and
the animation of diffusion at work.  Registered through the ``zoo.modalities`` entry point."""
from . import networks  # noqa: F401  (registers toy2d/mlp)
from .data import DATASETS, dataset
from .io import write_samples
from .metrics import PROTOCOL, evaluate, sample_quality

NAME = "toy2d"
SAMPLE_FORMATS = (".png", ".npy", ".csv")

__all__ = ["NAME", "DATASETS", "dataset", "write_samples", "evaluate", "sample_quality", "PROTOCOL", "SAMPLE_FORMATS"]
