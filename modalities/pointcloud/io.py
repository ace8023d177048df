"""Reading and writing point clouds (trimesh, matplotlib, numpy).

Clouds are float tensors ``(n, N, 3)``: n clouds of N points each, in model units (samples are
normalised to lie within [-1, 1]^3). A single cloud ``(N, 3)`` is accepted wherever a batch is, as n = 1.
The third coordinate is "up" (``UP_AXIS = 2``, z up, as trimesh's primitives and the zoo's data sets):
the preview stands clouds on it and colours points by it.

``write_samples(x, path)`` picks the format from the suffix of ``path`` (case-insensitive), see ``FORMATS``:

- ``.png``  a preview grid of 3-D scatter plots (matplotlib, Agg), one cell per cloud, points coloured by
  height; the title is the figure's suptitle and the PNG's ``Title`` text chunk. The preview format.
- ``.ply``  one binary PLY point cloud per cloud (with RGBA vertex colours by height).
- ``.obj``  one OBJ per cloud, vertices only (``v x y z``, 8 decimals: trimesh's default precision).
- ``.glb``  one glTF binary file: a scene of the n clouds side by side on a grid (see ``write_samples``).
- ``.npy``  the raw float32 array ``(n, N, 3)``.

For ``.ply`` and ``.obj`` a single cloud is written to ``path`` itself and n > 1 clouds to
``stem_000.ply``, ``stem_001.ply``, ... next to it (``written_paths`` lists them). Every file is written
through ``zoo.files.atomic_write``: a killed process leaves the old file or the new one, never half of one.

``read_points`` reads one cloud ``(N, 3)`` back from anything trimesh loads (a mesh gives its vertices),
``.npy``, ``.xyz`` or ``.csv``; ``read_samples`` reads back every cloud one written file holds, ``(n, N, 3)``
(all of a ``.npy`` or ``.glb``, one of a ``.ply`` or ``.obj``); ``write`` and ``read_samples`` are the
modality's sample formats (``modalities.pointcloud.MODALITY.formats``); ``sample_mesh`` draws points on a mesh's surface; ``to_mesh`` and
``write_mesh`` make and save an optional surface from one cloud (a post-process: the model generates
points, not surfaces).
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import torch

from zoo.files import atomic_write

__all__ = ["FORMATS", "MESH_FORMATS", "PER_CLOUD_FORMATS", "UP_AXIS", "write_samples", "write", "written_paths",
           "read_points", "read_samples", "sample_mesh", "to_mesh", "write_mesh"]

FORMATS = (".png", ".ply", ".obj", ".glb", ".npy")  # the first is the preview format (model cards)
MESH_FORMATS = (".ply", ".obj", ".stl", ".glb")  # what ``write_mesh`` writes
PER_CLOUD_FORMATS = (".ply", ".obj")  # written one file per cloud when there are several (``written_paths``)
TEXT_FORMATS = (".xyz", ".csv")  # read by ``read_points`` itself: 3 columns of numbers
UP_AXIS = 2  # z is up: the preview's vertical axis and the "height" that colours points
CLASS_COLUMNS = (8, 10)  # grid row lengths tried in turn when one divides n: the 8 shape classes (balanced labels
# put class k in column k), then rows of ten
CELL_INCHES = 1.5  # size of one preview cell
DPI = 100  # preview resolution: a cell is CELL_INCHES * DPI = 150 pixels square
TITLE_INCHES = 0.4  # room for the suptitle above the grid, when there is a title
TITLE_POINTS = (11, 10, 9, 8)  # suptitle font sizes tried in turn until the title, wrapped at spaces, fits the width
POINT_SIZE = 0.5  # preview marker area (points^2)
VIEW = (20.0, -60.0)  # preview camera (elevation, azimuth) in degrees
ZOOM = 1.0  # 3-D axes scale: 1 fits the whole bounding cube (a full cube cloud) in its cell
COLORMAP = "viridis"  # colour by height
GLB_GAP = 0.25  # free space between neighbouring GLB clouds, as a fraction of a cloud's extent
NAME_DIGITS = 3  # stem_000.ply: at least this many digits in multi-file names


# ----------------------------------------------------------------------------------------------- writing

def _clouds(x) -> torch.Tensor:
    """Validate clouds and return them as a CPU float32 tensor (n, N, 3)."""
    x = torch.as_tensor(x).detach().cpu()
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"point clouds must have shape (n, N, 3) or (N, 3), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("no point clouds to write (n = 0)")
    if x.shape[1] == 0:
        raise ValueError(f"point clouds have no points: shape {tuple(x.shape)}")
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"point clouds must be real numbers, got dtype {x.dtype}")
    x = x.float()
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).any(-1).any(-1).sum())
        raise ValueError(f"point clouds contain NaN or infinite values ({bad} of {x.shape[0]} clouds)")
    return x


def _labels(labels, n: int) -> list[int] | None:
    if labels is None:
        return None
    labels = [int(label) for label in torch.as_tensor(labels).reshape(-1).tolist()]
    if len(labels) != n:
        raise ValueError(f"got {len(labels)} labels for {n} point clouds")
    if any(label < 0 for label in labels):
        raise ValueError(f"labels must be non-negative class indices, got {min(labels)}")
    return labels


def _class_name(label: int, class_names) -> str:
    if class_names is None:
        return str(label)
    if label >= len(class_names):
        raise ValueError(f"label {label} is out of range for {len(class_names)} class names")
    return str(class_names[label])


def written_paths(path, n: int) -> list[Path]:
    """The files ``write_samples(x, path)`` writes for n clouds: ``[path]`` for ``.png``, ``.glb``, ``.npy``
    and for a single ``.ply``/``.obj`` cloud; ``stem_000.ply``, ``stem_001.ply``, ... (next to ``path``,
    at least 3 digits, more when n > 1000) for n > 1 ``.ply``/``.obj`` clouds."""
    path = Path(path)
    if n < 1:
        raise ValueError(f"need at least one point cloud, got n = {n}")
    if n == 1 or path.suffix.lower() not in PER_CLOUD_FORMATS:
        return [path]
    digits = max(NAME_DIGITS, len(str(n - 1)))
    return [path.with_name(f"{path.stem}_{i:0{digits}d}{path.suffix}") for i in range(n)]


def write_samples(x: torch.Tensor, path, *, title: str = "", labels=None, class_names=None) -> Path:
    """Write point clouds ``x`` (n, N, 3) (or one cloud (N, 3)) to ``path``, in the format of its suffix
    (case-insensitive, one of ``FORMATS``), creating parent folders. Returns the path written:

    - ``.png``: a preview grid, one 3-D scatter per cloud (8 columns when n is a multiple of 8, 10 when of 10, else
      about square), equal aspect, axes off, a fixed view (``VIEW``), points coloured by height
      (``UP_AXIS``, ``COLORMAP``); each cell is titled ``class_names[labels[i]]`` (or the label number)
      when ``labels`` (n,) are given; ``title`` is the suptitle and the PNG's ``Title`` text. Returns ``path``.
    - ``.ply`` / ``.obj``: one file per cloud (see ``written_paths``). Returns ``path`` when n = 1 and the
      first file, ``stem_000.ply``, when n > 1; ``written_paths(path, n)`` lists them all.
    - ``.glb``: one scene of n point-cloud nodes named ``cloud_000`` (``cloud_000_<class>`` with labels),
      laid out row by row like the PNG grid: columns along +x, rows along -y, every cloud centred in its
      cell by its node transform (the geometry keeps the cloud's own coordinates), cells spaced by the
      largest cloud extent plus ``GLB_GAP`` so no two clouds overlap. Per-point RGBA colours: by height,
      or by class (tab10/tab20) when ``labels`` are given. Returns ``path``.
    - ``.npy``: the float32 array (n, N, 3). Returns ``path``.

    Raises ValueError for another suffix, a shape that is not (n, N, 3) / (N, 3), n = 0, N = 0, or
    NaN/infinite values."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot write point clouds to {path.name!r} (suffix {suffix or 'none'!r}): "
                         f"use one of {FORMATS}")
    x = _clouds(x)
    labels = _labels(labels, x.shape[0])
    if labels is not None:  # fail before writing anything
        for label in labels:
            _class_name(label, class_names)
    if suffix == ".npy":
        array = x.numpy()

        def save_npy(tmp):
            with open(tmp, "wb") as handle:
                np.save(handle, array)
        return atomic_write(path, save_npy)
    if suffix == ".png":
        return _write_png(x.numpy(), path, title, labels, class_names)
    if suffix == ".glb":
        return _write_glb(x.numpy(), path, title, labels, class_names)
    return _write_files(x.numpy(), path, suffix)


def write(x: torch.Tensor, path, *, model=None, title: str = "", mask=None, labels=None) -> list[Path]:
    """The modality's sample writer (``SampleFormat.write``): ``write_samples(x, path, title=title)``,
    returning every file written (``written_paths``: one, or one per cloud for several ``.ply``/``.obj``
    clouds).  ``labels`` (n,), the clouds' classes: the PNG titles each cell and the GLB names each node
    by its class (``model.class_names``).  ``mask``: point clouds have a fixed number of points, so a
    mask is accepted only when it marks every point real (n, N) all ones."""
    x = _clouds(x)
    if mask is not None:
        mask = torch.as_tensor(mask)
        if tuple(mask.shape) != tuple(x.shape[:2]) or not bool((mask != 0).all()):
            raise ValueError(f"point clouds have a fixed number of points: a mask must be all ones of shape "
                             f"{tuple(x.shape[:2])}, got one of shape {tuple(mask.shape)} with padding")
    shown = labels is not None and Path(path).suffix.lower() in (".png", ".glb")
    names = list(model.class_names) if shown and model is not None and model.class_names else None
    write_samples(x, path, title=title, labels=labels if shown else None, class_names=names)
    return written_paths(path, x.shape[0])


def _write_bytes(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        data = data.encode("utf-8")

    def write(tmp):
        with open(tmp, "wb") as handle:
            handle.write(data)
    return atomic_write(path, write)


def _height_colours(points: np.ndarray) -> np.ndarray:
    """RGBA uint8 (N, 4): the colormap over each point's height, scaled to the cloud's own height range."""
    from matplotlib import colormaps

    height = points[:, UP_AXIS].astype(np.float64)
    span = height.max() - height.min()
    t = (height - height.min()) / span if span > 0 else np.full_like(height, 0.5)
    return (colormaps[COLORMAP](t) * 255).round().astype(np.uint8)


def _class_colour(label: int, classes: int) -> np.ndarray:
    from matplotlib import colormaps

    if classes <= 10:
        rgba = colormaps["tab10"](label % 10)
    elif classes <= 20:
        rgba = colormaps["tab20"](label % 20)
    else:  # many classes: evenly spaced hues
        rgba = colormaps["hsv"]((label % classes) / classes)
    return (np.asarray(rgba) * 255).round().astype(np.uint8)


def _write_files(x: np.ndarray, path: Path, suffix: str) -> Path:
    import trimesh

    paths = written_paths(path, x.shape[0])
    for points, file in zip(x, paths):
        if suffix == ".ply":
            data = trimesh.PointCloud(points, colors=_height_colours(points)).export(file_type="ply",
                                                                                      encoding="binary")
        else:  # vertices only
            data = trimesh.PointCloud(points).export(file_type="obj", include_color=False)
        _write_bytes(file, data)
    return paths[0]


def _columns(n: int) -> int:
    """Clouds per grid row: the first of CLASS_COLUMNS that divides n, else about square."""
    return next((c for c in CLASS_COLUMNS if n % c == 0), math.ceil(math.sqrt(n)))


def _write_glb(x: np.ndarray, path: Path, title: str, labels, class_names) -> Path:
    import trimesh

    n = x.shape[0]
    columns = _columns(n)
    low, high = x.min(axis=1), x.max(axis=1)  # (n, 3) bounding boxes
    centres = (low + high) / 2
    spacing = float((high - low).max()) * (1 + GLB_GAP) or 1.0
    classes = 0 if labels is None else len(class_names) if class_names is not None else max(labels) + 1
    scene = trimesh.Scene()
    for i, points in enumerate(x):
        if labels is None:
            name, colours = f"cloud_{i:03d}", _height_colours(points)
        else:
            name = f"cloud_{i:03d}_{_class_name(labels[i], class_names)}"
            colours = np.tile(_class_colour(labels[i], classes), (len(points), 1))
        transform = np.eye(4)
        transform[:3, 3] = np.array([(i % columns) * spacing, -(i // columns) * spacing, 0.0]) - centres[i]
        scene.add_geometry(trimesh.PointCloud(points, colors=colours), node_name=name, geom_name=name,
                           transform=transform)
    if title:
        scene.metadata["title"] = title  # glTF asset extras
    return _write_bytes(path, scene.export(file_type="glb"))


def _title_lines(title: str, width_inches: float) -> tuple[list[str], float]:
    """The title wrapped at spaces onto lines that fit ``width_inches``, and its font size: the largest of
    ``TITLE_POINTS`` that fits (the smallest, however long a word is)."""
    from matplotlib.textpath import TextPath

    width = 0.94 * width_inches * 72  # in points, a little margin
    for size in TITLE_POINTS:
        lines: list[str] = []
        for word in title.split(" "):
            joined = f"{lines[-1]} {word}" if lines else word
            if lines and TextPath((0, 0), joined, size=size).get_extents().width <= width:
                lines[-1] = joined
            else:
                lines.append(word)
        if all(TextPath((0, 0), line, size=size).get_extents().width <= width for line in lines):
            break
    return lines, size


def _write_png(x: np.ndarray, path: Path, title: str, labels, class_names) -> Path:
    from matplotlib.figure import Figure
    from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the "3d" projection)

    n = x.shape[0]
    columns = _columns(n)
    rows = math.ceil(n / columns)
    lines, size = _title_lines(title, columns * CELL_INCHES) if title else ([], 0)
    top = TITLE_INCHES + (len(lines) - 1) * 1.25 * size / 72 if title else 0.0
    figure = Figure(figsize=(columns * CELL_INCHES, rows * CELL_INCHES + top), dpi=DPI)  # no pyplot, no display
    figure.subplots_adjust(left=0, right=1, bottom=0, top=1 - top / (rows * CELL_INCHES + top), wspace=0, hspace=0)
    ground = [a for a in range(3) if a != UP_AXIS]  # plot (horizontal, depth, up) as matplotlib's (x, y, z)
    for i, points in enumerate(x):
        axes = figure.add_subplot(rows, columns, i + 1, projection="3d")
        # (x, y, z) for z up; (x, -z, y) for y up: a rotation, not a mirror
        flip = -1.0 if UP_AXIS == 1 else 1.0
        across, depth, up = points[:, ground[0]], flip * points[:, ground[1]], points[:, UP_AXIS]
        axes.scatter(across, depth, up, s=POINT_SIZE, c=up, cmap=COLORMAP, depthshade=False, linewidths=0,
                     rasterized=True)
        centre = (points.min(0) + points.max(0)) / 2
        half = float((points.max(0) - points.min(0)).max()) / 2 or 1.0
        axes.set_xlim(centre[ground[0]] - half, centre[ground[0]] + half)
        axes.set_ylim(-centre[ground[1]] - half, -centre[ground[1]] + half)
        axes.set_zlim(centre[UP_AXIS] - half, centre[UP_AXIS] + half)
        axes.set_box_aspect((1, 1, 1), zoom=ZOOM)
        axes.view_init(elev=VIEW[0], azim=VIEW[1])
        axes.set_axis_off()
        if labels is not None:
            axes.text2D(0.5, 1.0, _class_name(labels[i], class_names), transform=axes.transAxes, ha="center",
                        va="top", fontsize=8)
    if title:
        figure.suptitle("\n".join(lines), fontsize=size, y=1 - 0.5 * top / (rows * CELL_INCHES + top), va="center")
    metadata = {"Title": title} if title else {}
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=DPI, metadata=metadata))


# ----------------------------------------------------------------------------------------------- reading

def _existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"point-cloud file {str(path)!r} does not exist")
    return path


def _checked(points: np.ndarray, path: Path) -> torch.Tensor:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"{path}: expected 3-D points (N, 3), got shape {points.shape}")
    if len(points) == 0:
        raise ValueError(f"{path}: contains no points")
    if not np.isfinite(points).all():
        raise ValueError(f"{path}: contains NaN or infinite coordinates")
    return torch.from_numpy(points.astype(np.float32))


def _read_text(path: Path) -> np.ndarray:
    """Rows of 3 numbers: whitespace-separated (.xyz) or comma-separated (.csv, one header row allowed);
    blank lines and lines starting with '#' are skipped."""
    csv = path.suffix.lower() == ".csv"
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file of points") from None
    rows = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split(",")] if csv else line.split()
        try:
            values = [float(field) for field in fields]
        except ValueError:
            if csv and not rows:  # a header such as x,y,z
                if len(fields) == 3:
                    continue
                raise ValueError(f"{path}, line {number}: expected 3 columns (x, y, z), got {len(fields)}") from None
            raise ValueError(f"{path}, line {number}: not numbers: {line[:80]!r}") from None
        if len(values) != 3:
            raise ValueError(f"{path}, line {number}: expected 3 columns (x, y, z), got {len(values)}")
        rows.append(values)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:  # not an .npy file, an object array, ...
        raise ValueError(f"{path}: cannot read as a .npy array: {error}") from None
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[-1] == 3:
        raise ValueError(f"{path}: holds {array.shape[0]} point clouds {array.shape}; read_points reads one "
                         f"(load the batch with numpy.load)")
    if array.ndim != 2 or array.shape[-1] != 3:
        raise ValueError(f"{path}: expected an array (N, 3) or (1, N, 3), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"{path}: expected real numbers, got dtype {array.dtype}")
    return array


def _load(path: Path, **kwargs):
    import trimesh

    try:
        return trimesh.load(str(path), **kwargs)
    except Exception as error:  # trimesh raises many kinds for unsupported or corrupt files
        raise ValueError(f"{path}: cannot read with trimesh ({type(error).__name__}: {error}); "
                         f"readable: {sorted(trimesh.available_formats())} and .npy, .xyz, .csv") from None


def _vertices(geometry, path: Path) -> np.ndarray:
    """All vertices of a geometry or scene (N, 3); a scene's nodes in name order, with their transforms."""
    import trimesh

    if isinstance(geometry, trimesh.Scene):
        parts = []
        for node in sorted(geometry.graph.nodes_geometry):
            transform, name = geometry.graph[node]
            vertices = np.asarray(getattr(geometry.geometry[name], "vertices", np.zeros((0, 3))), dtype=np.float64)
            if vertices.ndim != 2 or vertices.shape[1] != 3:
                raise ValueError(f"{path}: geometry {name!r} is not 3-D (vertices {vertices.shape})")
            parts.append(trimesh.transform_points(vertices, transform) if len(vertices) else vertices)
        return np.concatenate(parts) if parts else np.zeros((0, 3))
    vertices = getattr(geometry, "vertices", None)
    if vertices is None:
        raise ValueError(f"{path}: holds a {type(geometry).__name__}, not points or a mesh")
    return np.asarray(vertices, dtype=np.float64)


def read_points(path) -> torch.Tensor:
    """One point cloud (N, 3) float32 from a file:

    - anything trimesh loads (.ply, .obj, .off, .stl, .glb, ...): the vertices of a point cloud or a mesh
      (a mesh's vertices, not samples of its surface: see ``sample_mesh``); a scene's geometries are
      concatenated, node by node in name order, with their node transforms applied;
    - ``.npy``: an array (N, 3) or (1, N, 3) (as written by ``write_samples`` for one cloud);
    - ``.xyz``: whitespace-separated rows ``x y z``; ``.csv``: comma-separated rows, one header row allowed.

    Raises ValueError naming the file when it is missing, unreadable, empty, or not 3 columns."""
    path = _existing(path)
    suffix = path.suffix.lower()
    if suffix in TEXT_FORMATS:
        return _checked(_read_text(path), path)
    if suffix == ".npy":
        return _checked(_read_npy(path), path)
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file, contains no points")
    return _checked(_vertices(_load(path), path), path)


def _read_glb_clouds(path: Path) -> torch.Tensor:
    """The clouds of a ``.glb`` written by ``write_samples`` (n, N, 3): each node's geometry in its own
    coordinates (the node transforms only lay the clouds out side by side), nodes in name order."""
    import trimesh

    scene = _load(path)
    if not isinstance(scene, trimesh.Scene):
        return _checked(_vertices(scene, path), path)[None]
    clouds = []
    for node in sorted(scene.graph.nodes_geometry):
        _, name = scene.graph[node]
        clouds.append(_checked(getattr(scene.geometry[name], "vertices", np.zeros((0, 3))), path))
    if not clouds:
        raise ValueError(f"{path}: contains no points")
    if len({len(c) for c in clouds}) != 1:
        raise ValueError(f"{path}: its clouds have different numbers of points {sorted({len(c) for c in clouds})}; "
                         "read them one by one with trimesh")
    return torch.stack(clouds)


def read_samples(path) -> torch.Tensor:
    """Every cloud a file written by ``write_samples`` holds, (n, N, 3) float32: all clouds of a ``.npy``
    (an array (n, N, 3) or (N, 3)) or a ``.glb`` scene (each node in its own coordinates, in name
    order), and the one cloud of a ``.ply`` or ``.obj`` (or any file ``read_points`` reads) as n = 1.
    A ``.png`` preview is a picture, not points: ValueError."""
    path = _existing(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        raise ValueError(f"{path}: a .png preview is a picture of clouds; its points cannot be read back")
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except Exception as error:
            raise ValueError(f"{path}: cannot read as a .npy array: {error}") from None
        array = array[None] if array.ndim == 2 else array
        if array.ndim != 3 or array.shape[-1] != 3 or not np.issubdtype(array.dtype, np.number) or not len(array):
            raise ValueError(f"{path}: expected point clouds (n, N, 3) or (N, 3), got shape {array.shape} "
                             f"of {array.dtype}")
        return torch.stack([_checked(cloud, path) for cloud in array])
    if suffix == ".glb":
        return _read_glb_clouds(path)
    return read_points(path)[None]


def _mesh(path_or_mesh):
    """A single trimesh.Trimesh from a file, a Trimesh or a Scene (geometries merged)."""
    import trimesh

    if isinstance(path_or_mesh, (str, Path)):
        path = _existing(path_or_mesh)
        mesh = _load(path, force="mesh")
        where = str(path)
    else:
        mesh, where = path_or_mesh, type(path_or_mesh).__name__
        if isinstance(mesh, trimesh.Scene):
            mesh = mesh.to_mesh() if hasattr(mesh, "to_mesh") else mesh.dump(concatenate=True)
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{where}: not a mesh with faces (a point cloud has no surface to sample)")
    return mesh


def sample_mesh(path_or_mesh, n: int, *, seed: int = 0) -> torch.Tensor:
    """n points (n, 3) float32 drawn uniformly on the surface of a mesh (a file, a ``trimesh.Trimesh`` or a
    ``trimesh.Scene``, whose geometries are merged): triangles chosen in proportion to their area, then a
    uniform point in each. Deterministic for a given ``seed``."""
    import trimesh

    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"number of points must be a positive integer, got {n!r}")
    mesh = _mesh(path_or_mesh)
    if not mesh.area > 0:
        raise ValueError("mesh has zero surface area: nothing to sample")
    points, _ = trimesh.sample.sample_surface(mesh, int(n), seed=seed)
    return torch.from_numpy(np.asarray(points, dtype=np.float32))


# ----------------------------------------------------------------------------------------------- meshes

def to_mesh(points, method: str = "hull", *, pitch: float | None = None):
    """An optional surface (``trimesh.Trimesh``) made from one cloud ``points`` (N, 3) (or (1, N, 3)).

    A post-process for viewing or printing: the model generates points, not surfaces, and this mesh is
    only a guess at one. ``mesh.metadata["post_process"]`` says what was done.

    - ``"hull"``: the convex hull of the points (needs scipy: ``pip install scipy``); watertight, but fills
      in every concavity.
    - ``"voxels"``: the occupied cells of a grid of size ``pitch`` (default: the bounding-box diagonal / 32)
      as cubes, neighbouring cubes sharing faces; every point lies inside a cube."""
    import trimesh

    x = _clouds(points)
    if x.shape[0] != 1:
        raise ValueError(f"to_mesh takes one cloud (N, 3), got {x.shape[0]} clouds")
    array = x[0].numpy().astype(np.float64)
    if method == "hull":
        if importlib.util.find_spec("scipy") is None:
            raise ImportError("to_mesh(method='hull') needs scipy for the convex hull: pip install scipy")
        if len(array) < 4:
            raise ValueError(f"a convex hull needs at least 4 points, got {len(array)}")
        spread = np.linalg.svd(array - array.mean(0), compute_uv=False)
        if not spread[2] > 1e-9 * spread[0]:  # qhull would return a hull of zero volume, or fail
            raise ValueError(f"the {len(array)} points are flat (on a plane, line or point): no convex hull")
        try:
            mesh = trimesh.convex.convex_hull(array)
        except Exception as error:  # scipy's QhullError: degenerate clouds
            raise ValueError(f"cannot take the convex hull of these {len(array)} points: {error}") from None
        mesh.metadata["post_process"] = (f"convex hull of {len(array)} generated points (trimesh/scipy qhull); "
                                         f"the model generates points, not surfaces")
        return mesh
    if method == "voxels":
        low, high = array.min(0), array.max(0)
        diagonal = float(np.linalg.norm(high - low))
        if pitch is None:
            pitch = diagonal / 32 if diagonal > 0 else 1.0
        if not (isinstance(pitch, (int, float)) and math.isfinite(pitch) and pitch > 0):
            raise ValueError(f"voxel pitch must be a positive number, got {pitch!r}")
        index = np.floor((array - low) / pitch).astype(np.int64)
        index = np.unique(index, axis=0)
        transform = np.diag([pitch, pitch, pitch, 1.0])
        transform[:3, 3] = low + pitch / 2  # voxel (i, j, k) is centred at low + (index + 1/2) * pitch
        from trimesh.voxel import VoxelGrid
        from trimesh.voxel.encoding import SparseBinaryEncoding

        grid = VoxelGrid(SparseBinaryEncoding(index, shape=tuple(index.max(0) + 1)), transform=transform)
        mesh = grid.as_boxes()
        mesh.metadata["post_process"] = (f"{len(index)} occupied voxels of size {pitch:.4g} around {len(array)} "
                                         f"generated points, as cubes; the model generates points, not surfaces")
        return mesh
    raise ValueError(f"unknown meshing method {method!r}: use 'hull' or 'voxels'")


def write_mesh(mesh, path) -> Path:
    """Export a ``trimesh.Trimesh`` (or Scene) to ``path`` (.ply binary, .obj, .stl binary or .glb, by
    suffix, case-insensitive), atomically, creating parent folders. Returns ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_FORMATS:
        raise ValueError(f"cannot write a mesh to {path.name!r} (suffix {suffix or 'none'!r}): "
                         f"use one of {MESH_FORMATS}")
    if suffix == ".obj":
        data = mesh.export(file_type="obj", include_texture=False)  # no side files (.mtl, textures)
    else:
        data = mesh.export(file_type=suffix[1:])
    return _write_bytes(path, data)
