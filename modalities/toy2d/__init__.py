"""The 2-D modality: toy data sets with known densities, an MLP denoiser, exact evaluation and
the animation of diffusion at work.  Registered through the ``zoo.modalities`` entry point."""
from zoo.registry import release

from . import networks  # noqa: F401  (registers toy2d/mlp)
from .card import card_facts
from .data import DATASETS, dataset
from .io import write_samples
from .metrics import PROTOCOL, evaluate, sample_metrics, sample_quality

NAME = "toy2d"
SAMPLE_FORMATS = (".png", ".npy", ".csv")  # the first is the preview format (cards, zoo demo)
DEMO_N = 2000  # samples per model in zoo demo

for _name in ("checkerboard", "moons", "ring8", "swissroll", "ring8-cm"):
    release(f"toy2d/{_name}", architecture="toy2d/mlp", repo_id=f"diffusion-zoo/toy2d-{_name}")

__all__ = ["NAME", "DATASETS", "dataset", "write_samples", "evaluate", "sample_metrics", "sample_quality", "PROTOCOL",
           "SAMPLE_FORMATS", "card_facts"]
