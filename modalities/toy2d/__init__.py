"""The 2-D modality: toy data sets with known densities, an MLP denoiser, exact evaluation and
the animation of diffusion at work.  Declared to the zoo as ``MODALITY`` (the ``zoo.modalities``
entry point)."""
from zoo.modality import PICTURE, Command, CliHooks, Defaults, Metric, Modality, Release, SampleFormat

from . import animate, networks  # noqa: F401  (networks registers toy2d/mlp)
from .card import SOURCES, card
from .data import DATASETS, dataset
from .io import read_samples, write_samples
from .metrics import PROTOCOL, evaluate, sample_metrics, sample_quality


def _write(x, path, *, model=None, title: str = "", mask=None, labels=None) -> list:
    return [write_samples(x, path, title=title, labels=labels if str(path).lower().endswith(".png") else None)]


MODALITY = Modality(
    name="toy2d",
    dataset=dataset,
    sources=SOURCES,
    formats=(SampleFormat(".png", _write, embed=PICTURE), SampleFormat(".npy", _write, read_samples),
             SampleFormat(".csv", _write, read_samples, precision=1e-7)),
    evaluate=evaluate,
    sample_metrics=sample_metrics,
    smoke_datasets=lambda folder: {name: dataset(name) for name in DATASETS},  # synthetic: nothing to build
    nfe_metrics=(Metric("sliced_w2", "sliced W2", True), Metric("sample_log_density", "log p_data(samples)", False)),
    primary=Metric("sliced_w2", "sliced Wasserstein-2 to fresh data", True),
    likelihood="log_likelihood",
    card=card,
    # 1000 points at 20 steps of the MLP take well under a second on 2 CPU cores
    defaults=Defaults(n=1000, demo_n=2000),
    cli=CliHooks(commands=(Command("animate", "animate a 2-D model's forward and reverse process (GIF and PNG strip)",
                                   animate.add_arguments, animate.run),)),
    releases=tuple(Release(f"toy2d/{name}", architecture="toy2d/mlp", repo_id=f"diffusion-zoo/toy2d-{name}")
                   for name in ("checkerboard", "moons", "ring8", "swissroll", "ring8-cm")),
)

__all__ = ["MODALITY", "DATASETS", "dataset", "write_samples", "read_samples", "evaluate", "sample_metrics",
           "sample_quality", "PROTOCOL", "card"]
