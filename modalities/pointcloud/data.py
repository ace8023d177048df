"""Point-cloud data: procedural shape classes made with trimesh, and the real furniture models of
Debian's ``sweethome3d-furniture``; both surface-sampled, centred and scaled.

Every cloud is stored with ``STORED_POINTS`` area-weighted surface samples (z up) and normalised
once over all of them by the data set's ``normalization``:

- ``unit_sphere``: subtract the centroid (mean of the points), scale so the farthest point has
  norm 1;
- ``bbox``: subtract the centre of the axis-aligned bounding box, scale so its longest side is 2
  (the cloud fits [-1, 1]^3).

A training example is ``points`` (default 2048) of the stored points drawn at random without
replacement, a fresh draw each time (the surface is resampled, not the shape); a held-out
reference cloud is the first ``points`` stored points, fixed.  The split is by model: no shape is
on both sides.

- ``shapes``: 8 classes (``SHAPE_CLASSES``) with random proportions and a random turn about the
  vertical axis; the parameters of shape i of a split come from ``SeedSequence([seed, split, i])``,
  so a data set is the same on every machine and the held-out shapes are other shapes.
- ``furniture``: the 820 OBJ models of Sweet Home 3D's five furniture libraries (zip files
  ``*.sh3f``), each with its catalogue's ``modelRotation`` and stretched to its catalogue width,
  height and depth as Sweet Home 3D shows it, turned from y-up to z-up; category labels from
  ``PluginFurnitureCatalog.properties``; every tenth model after a seeded shuffle is held out.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
import trimesh

from zoo.files import atomic_write

__all__ = ["NORMALIZATIONS", "SHAPE_CLASSES", "FURNITURE_DIR", "SOURCES", "normalize", "make_shape", "shape_set",
           "furniture_set", "load_arrays", "prepare", "PointCloudData", "dataset"]

NORMALIZATIONS = ("unit_sphere", "bbox")
SHAPE_CLASSES = ("box", "cylinder", "cone", "capsule", "torus", "ellipsoid", "annulus", "pyramid")
STORED_POINTS = 4096
FURNITURE_DIR = "/usr/share/sweethome3d/furniture"
FURNITURE_CATEGORIES = ("Bathroom", "Bedroom", "Characters", "Doors and windows", "Exterior", "Kitchen", "Lights",
                        "Living room", "Miscellaneous", "Office", "Staircases", "Vehicles")
SOURCES = {
    "shapes": "procedural trimesh shapes (box, cylinder, cone, capsule, torus, ellipsoid, annulus, pyramid)",
    "furniture": f"Debian sweethome3d-furniture ({FURNITURE_DIR}/*.sh3f): apt-get install sweethome3d-furniture",
}
_SPLITS = {"train": 0, "test": 1}
_Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def normalize(points: torch.Tensor, mode: str) -> torch.Tensor:
    """Centre and scale clouds (..., N, 3) by ``mode`` (see the module docstring); same shape."""
    if mode not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {mode!r}; choose one of {NORMALIZATIONS}")
    points = torch.as_tensor(points)
    if points.ndim < 2 or points.shape[-1] != 3 or points.shape[-2] < 1:
        raise ValueError(f"clouds must have shape (..., N, 3) with N >= 1, got {tuple(points.shape)}")
    x = points.to(torch.float64)
    if mode == "unit_sphere":
        x = x - x.mean(-2, keepdim=True)
        scale = x.norm(dim=-1).amax(-1)
    else:
        low, high = x.amin(-2, keepdim=True), x.amax(-2, keepdim=True)
        x = x - (low + high) / 2
        scale = (high - low).amax(-1).squeeze(-1) / 2
    if bool((scale <= 0).any()):
        raise ValueError("cannot normalise a cloud whose points all coincide")
    return (x / scale[..., None, None]).to(points.dtype if points.is_floating_point() else torch.float32)


def _turn_about_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    turn = np.eye(4)
    turn[:2, :2] = [[c, -s], [s, c]]
    return turn


def make_shape(kind: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """A mesh of class ``kind`` (one of SHAPE_CLASSES) with proportions drawn from ``rng``."""
    u = rng.uniform
    if kind == "box":
        mesh = trimesh.creation.box(extents=u(0.3, 1.0, size=3))
    elif kind == "cylinder":
        mesh = trimesh.creation.cylinder(radius=u(0.15, 0.5), height=u(0.3, 1.0), sections=48)
    elif kind == "cone":
        mesh = trimesh.creation.cone(radius=u(0.2, 0.5), height=u(0.4, 1.0), sections=48)
    elif kind == "capsule":
        mesh = trimesh.creation.capsule(height=u(0.2, 0.8), radius=u(0.1, 0.3), count=[24, 24])
    elif kind == "torus":
        major = u(0.3, 0.5)
        mesh = trimesh.creation.torus(major, major * u(0.15, 0.5), major_sections=48, minor_sections=24)
    elif kind == "ellipsoid":
        mesh = trimesh.creation.icosphere(subdivisions=3)
        mesh.apply_scale(u(0.2, 0.5, size=3))
    elif kind == "annulus":
        outer = u(0.3, 0.5)
        mesh = trimesh.creation.annulus(r_min=outer * u(0.4, 0.8), r_max=outer, height=u(0.05, 0.3), sections=48)
    elif kind == "pyramid":
        mesh = trimesh.creation.cone(radius=u(0.3, 0.6), height=u(0.3, 0.9), sections=4)
    else:
        raise ValueError(f"unknown shape class {kind!r}; choose one of {SHAPE_CLASSES}")
    return mesh.apply_transform(_turn_about_z(u(0, 2 * np.pi)))


def _surface(mesh: trimesh.Trimesh, rng: np.random.Generator) -> np.ndarray:
    points, _ = trimesh.sample.sample_surface(mesh, STORED_POINTS, seed=rng)
    return np.asarray(points, dtype=np.float64)


def _stored(points: torch.Tensor, normalization: str) -> np.ndarray:
    """Normalised points at the stored precision: float16 values (3e-4 resolution at unit scale) as
    float32, so a prepared .npz (float16) and the data made from the source are the same numbers."""
    return normalize(points, normalization).numpy().astype(np.float16).astype(np.float32)


def shape_set(per_class: dict[str, int], *, seed: int = 0, normalization: str = "unit_sphere") -> dict:
    """Procedural shapes: ``per_class = {"train": k, "test": m}`` shapes of every class per split.

    Returns ``{"train_points": (8k, STORED_POINTS, 3) float32, "train_labels": (8k,) int64, ...}``,
    classes interleaved (shape i has class i mod 8)."""
    arrays = {}
    for split, count in per_class.items():
        clouds, labels = [], []
        for i in range(count * len(SHAPE_CLASSES)):
            rng = np.random.default_rng(np.random.SeedSequence([seed, _SPLITS[split], i]))
            label = i % len(SHAPE_CLASSES)
            clouds.append(_surface(make_shape(SHAPE_CLASSES[label], rng), rng))
            labels.append(label)
        points = torch.from_numpy(np.stack(clouds)) if clouds else torch.zeros(0, STORED_POINTS, 3, dtype=torch.float64)
        arrays[f"{split}_points"] = _stored(points, normalization)
        arrays[f"{split}_labels"] = np.asarray(labels, dtype=np.int64)
    return arrays


def _properties(text: str) -> dict[str, str]:
    """A Java .properties file as a dict (``key=value`` lines, ``#`` comments, backslash continuations
    and ``\\uXXXX`` escapes)."""
    out, pending = {}, ""
    for raw in text.splitlines():
        line = pending + raw.lstrip()
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1]
            continue
        pending = ""
        if not line or line[0] in "#!" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key.strip()] = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), value.strip())
    return out


def _catalogue(archive: zipfile.ZipFile) -> list[dict]:
    """The models of one .sh3f archive: [{id, name, category, model, width, depth, height, rotation}]."""
    props = _properties(archive.read("PluginFurnitureCatalog.properties").decode("latin-1"))
    models = []
    for key in sorted((k for k in props if k.startswith("model#")), key=lambda k: int(k.split("#")[1])):
        i = key.split("#")[1]
        rotation = props.get(f"modelRotation#{i}")
        models.append({"id": props[f"id#{i}"], "name": props.get(f"name#{i}", ""), "category": props[f"category#{i}"],
                       "model": props[key].lstrip("/"), "width": float(props[f"width#{i}"]),
                       "depth": float(props[f"depth#{i}"]), "height": float(props[f"height#{i}"]),
                       "rotation": None if rotation is None else np.array(rotation.split(), dtype=float).reshape(3, 3)})
    return models


def _furniture_mesh(archive: zipfile.ZipFile, entry: dict) -> trimesh.Trimesh:
    """One catalogue model as Sweet Home 3D shows it, in centimetres, z up."""
    mesh = trimesh.load(io.BytesIO(archive.read(entry["model"])), file_type="obj", force="mesh", skip_materials=True)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    if entry["rotation"] is not None:
        vertices = vertices @ entry["rotation"].T
    extent = np.ptp(vertices, axis=0)
    target = np.array([entry["width"], entry["height"], entry["depth"]])  # Sweet Home 3D's x, y (up), z
    vertices = vertices * np.where(extent > 0, target / np.where(extent > 0, extent, 1), 1)
    return trimesh.Trimesh(vertices @ _Y_UP_TO_Z_UP.T, mesh.faces, process=False)


def furniture_set(directory: str = FURNITURE_DIR, *, seed: int = 0, normalization: str = "unit_sphere",
                  limit: int | None = None) -> dict:
    """The furniture models of every ``*.sh3f`` in ``directory``, surface-sampled and normalised.

    Returns ``{"train_points", "train_labels", "train_ids", "test_points", ...}`` (points float32
    (M, STORED_POINTS, 3), labels int64 indices into FURNITURE_CATEGORIES, ids strings); every tenth
    model of a shuffle seeded by ``seed`` is held out.  ``limit``: read only the first models (tests)."""
    files = sorted(Path(directory).glob("*.sh3f"))
    if not files:
        raise ValueError(f"no Sweet Home 3D furniture libraries (*.sh3f) in {directory}: "
                         f"apt-get install sweethome3d-furniture (see DATA.md)")
    clouds, labels, ids = [], [], []
    for file in files:
        with zipfile.ZipFile(file) as archive:
            for entry in _catalogue(archive):
                if limit is not None and len(ids) >= limit:
                    break
                rng = np.random.default_rng(np.random.SeedSequence([seed, len(ids)]))
                clouds.append(_surface(_furniture_mesh(archive, entry), rng))
                labels.append(FURNITURE_CATEGORIES.index(entry["category"]) if entry["category"] in FURNITURE_CATEGORIES
                              else -1)
                ids.append(entry["id"])
    order = np.random.default_rng(seed).permutation(len(ids))
    held_out = np.zeros(len(ids), dtype=bool)
    held_out[order[::10]] = True
    points = _stored(torch.from_numpy(np.stack(clouds)), normalization)
    arrays = {}
    for split, mask in (("train", ~held_out), ("test", held_out)):
        arrays[f"{split}_points"] = points[mask]
        arrays[f"{split}_labels"] = np.asarray(labels, dtype=np.int64)[mask]
        arrays[f"{split}_ids"] = np.asarray(ids)[mask]
    return arrays


def load_arrays(name: str, path: str | None = None, *, normalization: str = "unit_sphere", train_per_class: int = 600,
                test_per_class: int = 50, seed: int = 0) -> dict:
    """The arrays of data set ``name``: read from a prepared ``path`` (.npz from ``prepare``) or made
    from the installed source."""
    if name not in SOURCES:
        raise ValueError(f"unknown point-cloud data set {name!r}; choose one of {list(SOURCES)}")
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ValueError(f"data path {path}: no such file (make it with `zoo data prepare pointcloud --source {name}`)")
        with np.load(file, allow_pickle=False) as stored:
            arrays = {k: stored[k] for k in stored.files}
        if str(arrays.get("source", name)) != name:
            raise ValueError(f"{path} holds the {str(arrays['source'])!r} data set, not {name!r}")
        if str(arrays.get("normalization", normalization)) != normalization:
            raise ValueError(f"{path} was prepared with normalization {str(arrays['normalization'])!r}, "
                             f"not {normalization!r}")
        return arrays
    if name == "shapes":
        return shape_set({"train": train_per_class, "test": test_per_class}, seed=seed, normalization=normalization)
    return furniture_set(seed=seed, normalization=normalization)


def prepare(source: str, out, *, normalization: str = "unit_sphere", train_per_class=600, test_per_class=50,
            seed=0, directory: str = FURNITURE_DIR) -> Path:
    """Write data set ``source`` to an .npz (``zoo data prepare pointcloud --source furniture --out f.npz``);
    the coordinates, float16 values already, are stored as float16."""
    if source == "furniture":
        arrays = furniture_set(directory, seed=int(seed), normalization=normalization)
    elif source == "shapes":
        arrays = shape_set({"train": int(train_per_class), "test": int(test_per_class)}, seed=int(seed),
                           normalization=normalization)
    else:
        raise ValueError(f"unknown point-cloud source {source!r}; choose one of {list(SOURCES)}")
    arrays = {k: v.astype(np.float16) if k.endswith("_points") else v for k, v in arrays.items()}
    arrays["normalization"], arrays["source"] = np.asarray(normalization), np.asarray(source)
    out = Path(out)
    if out.suffix != ".npz":
        raise ValueError(f"--out {out}: prepared point-cloud data is an .npz file")
    return atomic_write(out, lambda tmp: np.savez_compressed(open(tmp, "wb"), **arrays))


class PointCloudData:
    """A point-cloud data set for training and evaluation.

    clouds[split]: (M, STORED_POINTS, 3) float32 normalised stored points; labels[split]: (M,) int64;
    batch(n, generator) -> {"x": (n, points, 3), "cond": {"label": (n,)}, "null_cond": ...} (the
    condition only when ``conditional``)."""

    def __init__(self, name: str, path: str | None = None, points: int = 2048, normalization: str = "unit_sphere",
                 conditional: bool = False, train_per_class: int = 600, test_per_class: int = 50, seed: int = 0):
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {normalization!r}; choose one of {NORMALIZATIONS}")
        self.name, self.path, self.points, self.normalization = name, path, int(points), normalization
        self.conditional, self.seed = bool(conditional), int(seed)
        self.sizes = {"train_per_class": int(train_per_class), "test_per_class": int(test_per_class)}
        arrays = load_arrays(name, path, normalization=normalization, seed=seed, **self.sizes)
        self.clouds = {s: torch.from_numpy(arrays[f"{s}_points"].astype(np.float32)) for s in _SPLITS}
        self.labels = {s: torch.from_numpy(arrays[f"{s}_labels"]) for s in _SPLITS}
        self.class_names = SHAPE_CLASSES if name == "shapes" else FURNITURE_CATEGORIES
        stored = self.clouds["train"].shape[1]
        if not 1 <= self.points <= stored:
            raise ValueError(f"points={points}: {name} stores {stored} points per cloud, so 1..{stored} can be drawn")
        if not len(self.clouds["train"]) or not len(self.clouds["test"]):
            raise ValueError(f"{name}: the train and test splits must both hold clouds")
        if self.conditional and bool((self.labels["train"] < 0).any()):
            raise ValueError(f"{name}: some training clouds have no class, so it cannot be class-conditional")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def sample_shape(self) -> tuple[int, int]:
        return (self.points, 3)

    def reference(self, split: str = "test") -> torch.Tensor:
        """The fixed clouds of a split: the first ``points`` stored points of each, (M, points, 3)."""
        return self.clouds[split][:, :self.points]

    def batch(self, n: int, generator: torch.Generator) -> dict:
        index = torch.randint(0, len(self.labels["train"]), (n,), generator=generator)
        stored = self.clouds["train"].shape[1]
        pick = torch.rand(n, stored, generator=generator).argsort(1)[:, :self.points]
        x = torch.gather(self.clouds["train"][index], 1, pick[..., None].expand(-1, -1, 3))
        if not self.conditional:
            return {"x": x}
        return {"x": x, "cond": {"label": self.labels["train"][index]}, "null_cond": {"label": self.num_classes}}

    def config(self) -> dict:
        out = {"name": self.name, "path": self.path, "points": self.points, "normalization": self.normalization,
               "conditional": self.conditional, "seed": self.seed}
        return {**out, **self.sizes} if self.name == "shapes" else out

    def model_config(self) -> dict:
        if not self.conditional:
            return {}
        return {"class_names": list(self.class_names), "null_cond": {"label": self.num_classes}}


def dataset(name: str, **params) -> PointCloudData:
    """A point-cloud data set by name (``shapes`` or ``furniture``); ``params``: path, points,
    normalization, conditional, train_per_class, test_per_class, seed."""
    if name not in SOURCES:
        raise ValueError(f"unknown point-cloud data set {name!r}; choose one of {list(SOURCES)}")
    return PointCloudData(name, **params)
