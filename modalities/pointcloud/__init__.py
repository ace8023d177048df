"""The point-cloud modality: a Point-E-style transformer over points with classifier-free
guidance and shape completion; procedural trimesh shapes and real Sweet Home 3D furniture;
exact MMD/COV/1-NNA-CD; PLY/OBJ/GLB files.

Registered through the ``zoo.modalities`` entry point; ``Model`` (PointCloudModel) samples clouds
(n, N, 3) in its data's normalised frame: ``sample(n, cond="torus", guidance=w)``,
``complete(partial)``.
"""
from zoo.registry import release

from . import networks  # noqa: F401  (registers pointcloud/transformer)
from .card import card_facts
from .data import NORMALIZATIONS, SHAPE_CLASSES, SOURCES, dataset, normalize, prepare
from .evaluation import PROTOCOL, evaluate, preview
from .io import read_points, to_mesh, write_samples
from .model import PointCloudModel as Model
from .model import crop

NAME = "pointcloud"
SAMPLE_FORMATS = (".png", ".ply", ".obj", ".glb", ".npy")  # the first is the preview format (cards, zoo demo)
DEMO_N = 2  # clouds per model in zoo demo: a 2048-point cloud takes about 1 s per guided step on a 2-core CPU

for _name in ("shapes", "furniture"):
    release(f"pointcloud/{_name}", architecture="pointcloud/transformer", repo_id=f"diffusion-zoo/pointcloud-{_name}")

__all__ = ["NAME", "SAMPLE_FORMATS", "DEMO_N", "Model", "NORMALIZATIONS", "SHAPE_CLASSES", "SOURCES", "dataset",
           "normalize", "prepare", "evaluate", "preview", "PROTOCOL", "card_facts", "read_points", "to_mesh",
           "write_samples", "crop"]
