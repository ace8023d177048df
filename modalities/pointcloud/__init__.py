"""The point-cloud modality: a Point-E-style transformer over points with classifier-free
guidance and shape completion; procedural trimesh shapes and real Sweet Home 3D furniture;
exact MMD/COV/1-NNA-CD and a likelihood in nats per point; PLY/OBJ/GLB files.

Declared once as ``MODALITY`` (``zoo.modality.Modality``, named by the ``zoo.modalities`` entry
point).  Its models are ``PointCloudModel``: clouds (n, N, 3) in their data's normalised frame,
``sample(n, cond="torus", guidance=w, points=512)``, ``complete(partial)``.  What users import:
``from modalities.pointcloud import crop, io``.
"""
from zoo.modality import LINK, PICTURE, Defaults, Metric, Modality, Release, SampleFormat

from . import io, networks  # noqa: F401  (networks registers pointcloud/transformer)
from .card import card
from .cli import CLI
from .data import NORMALIZATIONS, SHAPE_CLASSES, SOURCES, dataset, normalize, prepare, smoke_datasets
from .evaluation import PROTOCOL, evaluate, likelihood, preview, sample_metrics
from .io import read_points, read_samples, to_mesh, write_samples
from .model import PointCloudModel, crop

# Sizes of `zoo sample` and `zoo demo`, measured on the 2-core CPU of the development machine (`/usr/bin/time -v
# zoo sample ... -n 1 --steps S`; CPU seconds, as other jobs shared the cores): importing and loading take about
# 12 CPU-s; a 2048-point step costs about 3 CPU-s guided (pointcloud/shapes, a doubled batch) and 1.9 unguided
# (pointcloud/furniture), about 1.6 and 1 s on two idle cores.  So one cloud: at the cards' 32 steps shapes
# took 107 CPU-s (about a minute of wall time: too close), at 16 steps 58 CPU-s (shapes, --class torus) and
# 39 CPU-s (furniture), about 35 and 25 s on two cores; peak memory 0.85 GB (the old -n 1000 was killed for memory:
# attention holds (n, heads, N, N)).  16 steps of dpmpp_2m give clean clouds.  The demo: one cloud at 4
# steps, 12.7 CPU-s shapes and 7.5 furniture (about 7 and 4 s on two cores; rough, as the preview says).
DEFAULTS = Defaults(n=1, steps=16, demo_n=1, demo_steps=4)

MODALITY = Modality(
    name="pointcloud",
    model_class=PointCloudModel,
    dataset=dataset,
    sources=SOURCES,
    prepare=prepare,
    formats=(
        SampleFormat(".png", io.write, embed=PICTURE),  # the preview: a grid of 3-D scatter plots
        SampleFormat(".ply", io.write, read_samples, LINK, per_sample=True),
        SampleFormat(".obj", io.write, read_samples, LINK, per_sample=True),
        SampleFormat(".glb", io.write, read_samples, LINK),  # one scene, the clouds side by side
        SampleFormat(".npy", io.write, read_samples, LINK),
    ),
    preview=preview,
    defaults=DEFAULTS,
    evaluate=evaluate,
    sample_metrics=sample_metrics,
    smoke_datasets=smoke_datasets,
    nfe_metrics=(Metric("1nna_cd", "1-NNA-CD", True), Metric("mmd_cd", "MMD-CD", True)),
    primary=Metric("1nna_cd", "1-NNA-CD", True),
    likelihood="nll_nats_per_point",
    card=card,
    cli=CLI,
    releases=tuple(Release(f"pointcloud/{name}", architecture="pointcloud/transformer",
                           repo_id=f"diffusion-zoo/pointcloud-{name}") for name in ("shapes", "furniture")),
)

__all__ = ["MODALITY", "PointCloudModel", "crop", "io", "NORMALIZATIONS", "SHAPE_CLASSES", "dataset", "normalize",
           "prepare", "evaluate", "likelihood", "preview", "PROTOCOL", "read_points", "read_samples", "to_mesh",
           "write_samples"]
