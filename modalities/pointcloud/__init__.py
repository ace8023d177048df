"""The point-cloud modality: a Point-E-style transformer over points with classifier-free
guidance and shape completion; procedural trimesh shapes and real Sweet Home 3D furniture;
exact MMD/COV/1-NNA-CD and a likelihood in nats per point; PLY/OBJ/GLB files.

Declared once as ``MODALITY`` (``zoo.modality.Modality``, named by the ``zoo.modalities`` entry
point).  Its models are ``PointCloudModel``: clouds (n, N, 3) in their data's normalised frame,
``sample(n, cond="torus", guidance=w, points=512)``, ``complete(partial)``.  What users import:
``from modalities.pointcloud import crop, io``.
"""
from zoo.modality import Defaults, Metric, Modality, Release, SampleFormat, PICTURE, LINK

from . import io, networks  # noqa: F401  (networks registers pointcloud/transformer)
from .card import card
from .cli import CLI
from .data import NORMALIZATIONS, SHAPE_CLASSES, SOURCES, dataset, normalize, prepare
from .evaluation import PROTOCOL, evaluate, likelihood, preview, sample_metrics
from .io import read_points, read_samples, to_mesh, write_samples
from .model import PointCloudModel, crop

# Sizes of `zoo sample` and `zoo demo`, measured on this 2-core CPU (both threads, torch 2.x):
# MEASURED_BELOW
DEFAULTS = Defaults(n=1, steps=None, demo_n=2, demo_steps=4)

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
    nfe_metrics=(Metric("1nna_cd", "1-NNA-CD", True), Metric("mmd_cd", "MMD-CD", True)),
    primary=Metric("1nna_cd", "1-NNA-CD", True),
    card=card,
    cli=CLI,
    releases=tuple(Release(f"pointcloud/{name}", architecture="pointcloud/transformer",
                           repo_id=f"diffusion-zoo/pointcloud-{name}") for name in ("shapes", "furniture")),
)

__all__ = ["MODALITY", "PointCloudModel", "crop", "io", "NORMALIZATIONS", "SHAPE_CLASSES", "dataset", "normalize",
           "prepare", "evaluate", "likelihood", "preview", "PROTOCOL", "read_points", "read_samples", "to_mesh",
           "write_samples"]
