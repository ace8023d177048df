"""Point-cloud files: PNG previews, PLY/OBJ/GLB/NPY round trips, reading, surface sampling, meshing."""
import os
import time

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from modalities.pointcloud import io

pytestmark = pytest.mark.usefixtures("one_thread")

CELL = round(io.CELL_INCHES * io.DPI)  # preview cell size in pixels
TITLE = round(io.TITLE_INCHES * io.DPI)


def clouds(n=3, points=100, seed=0):
    """n clouds (n, points, 3) in [-1, 1]^3."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, points, 3, generator=generator) * 2 - 1


def temp_files(folder):
    return [name for root, _, names in os.walk(folder) for name in names if name.endswith(".tmp")]


# ----------------------------------------------------------------------------------------------- round trips

def test_formats_start_with_the_preview():
    assert io.FORMATS == (".png", ".ply", ".obj", ".glb", ".npy")


def test_ply_round_trip_is_exact_in_float32(tmp_path):
    x = clouds(1)[0]
    assert io.write_samples(x, tmp_path / "cloud.ply") == tmp_path / "cloud.ply"
    back = io.read_points(tmp_path / "cloud.ply")
    assert back.dtype == torch.float32 and back.shape == (100, 3)
    assert torch.equal(back, x)
    assert trimesh.load(tmp_path / "cloud.ply").colors.shape == (100, 4)  # coloured by height


def test_suffix_is_case_insensitive(tmp_path):
    x = clouds(1)
    io.write_samples(x, tmp_path / "CLOUD.PLY")
    assert torch.equal(io.read_points(tmp_path / "CLOUD.PLY"), x[0])


def test_obj_round_trip_to_printed_precision(tmp_path):
    x = clouds(1)
    path = io.write_samples(x, tmp_path / "cloud.obj")
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert len(lines) == 100  # vertices only
    assert all(line.startswith("v ") and len(line.split()) == 4 for line in lines)
    assert all(len(value.split(".")[1]) == 8 for value in lines[0].split()[1:])  # trimesh prints 8 decimals
    torch.testing.assert_close(io.read_points(path), x[0], rtol=0, atol=1e-7)


def test_npy_round_trip(tmp_path):
    x = clouds(4).double()
    path = io.write_samples(x, tmp_path / "deep" / "er" / "clouds.npy")  # parent folders are created
    array = np.load(path)
    assert array.dtype == np.float32 and array.shape == (4, 100, 3)
    assert np.array_equal(array, x.float().numpy())
    single = io.write_samples(x[0], tmp_path / "one.npy")
    assert np.load(single).shape == (1, 100, 3)  # a single cloud is a batch of one
    assert torch.equal(io.read_points(single), x[0].float())
    with pytest.raises(ValueError, match="holds 4 point clouds"):
        io.read_points(path)


def test_several_clouds_get_numbered_files(tmp_path):
    x = clouds(3)
    for suffix in (".ply", ".obj"):
        path = tmp_path / f"samples{suffix}"
        first = io.write_samples(x, path)
        paths = io.written_paths(path, 3)
        assert paths == [tmp_path / f"samples_{i:03d}{suffix}" for i in range(3)]
        assert first == paths[0]
        assert not path.exists()
        for i, file in enumerate(paths):
            torch.testing.assert_close(io.read_points(file), x[i], rtol=0, atol=1e-7)
    assert io.written_paths(tmp_path / "a.ply", 1) == [tmp_path / "a.ply"]
    assert io.written_paths(tmp_path / "a.glb", 5) == [tmp_path / "a.glb"]
    assert io.written_paths(tmp_path / "a.ply", 1001)[-1].name == "a_1000.ply"


def test_read_samples_gives_back_every_cloud_a_file_holds(tmp_path):
    x = clouds(3, points=40)
    for suffix in (".npy", ".glb"):  # one file, every cloud (a GLB's in their own coordinates, not as placed)
        assert torch.equal(io.read_samples(io.write_samples(x, tmp_path / f"all{suffix}")), x)
    assert torch.equal(io.read_samples(io.write_samples(x[0], tmp_path / "one.npy")), x[:1])
    for suffix in (".ply", ".obj"):  # one file per cloud, each read as a batch of one
        back = torch.cat([io.read_samples(p) for p in io.write(x, tmp_path / f"s{suffix}")])
        torch.testing.assert_close(back, x, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="a picture of clouds"):
        io.read_samples(io.write_samples(x, tmp_path / "p.png"))
    np.save(tmp_path / "bad.npy", np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match=r"expected point clouds \(n, N, 3\) or \(N, 3\), got shape \(2, 5, 2\)"):
        io.read_samples(tmp_path / "bad.npy")


def test_write_returns_every_file_and_refuses_padding(tmp_path):
    x = clouds(2, points=10)
    assert io.write(x, tmp_path / "a.ply") == [tmp_path / "a_000.ply", tmp_path / "a_001.ply"]
    assert io.write(x, tmp_path / "a.glb", title="t", mask=torch.ones(2, 10)) == [tmp_path / "a.glb"]
    with pytest.raises(ValueError, match="fixed number of points"):
        io.write(x, tmp_path / "b.npy", mask=torch.ones(2, 9))


# ----------------------------------------------------------------------------------------------- GLB

def test_glb_scene_has_one_coloured_cloud_per_sample_side_by_side(tmp_path):
    x = clouds(5, points=64)
    path = io.write_samples(x, tmp_path / "clouds.glb", title="five")
    scene = trimesh.load(path)
    assert isinstance(scene, trimesh.Scene)
    nodes = sorted(scene.graph.nodes_geometry)
    assert nodes == [f"cloud_{i:03d}" for i in range(5)]
    placed = []
    for i, node in enumerate(nodes):
        transform, name = scene.graph[node]
        cloud = scene.geometry[name]
        assert isinstance(cloud, trimesh.PointCloud) and cloud.vertices.shape == (64, 3)
        np.testing.assert_array_equal(cloud.vertices, x[i].numpy())  # geometry keeps the cloud's coordinates
        assert cloud.colors.shape == (64, 4) and len(np.unique(cloud.colors, axis=0)) > 1  # a height ramp
        placed.append(trimesh.transform_points(cloud.vertices, transform))
    boxes = [(p.min(0), p.max(0)) for p in placed]
    for i in range(5):
        for j in range(i):
            assert np.any((boxes[i][0] > boxes[j][1]) | (boxes[j][0] > boxes[i][1])), "clouds overlap"
    assert io.read_points(path).shape == (5 * 64, 3)  # a scene's clouds, concatenated as placed
    torch.testing.assert_close(io.read_points(path)[:64], torch.from_numpy(placed[0]).float())


def test_glb_colours_by_class_with_labels(tmp_path):
    x = clouds(4, points=32)
    path = io.write_samples(x, tmp_path / "c.glb", labels=torch.tensor([0, 1, 0, 2]), class_names=["a", "b", "c"])
    scene = trimesh.load(path)
    assert sorted(scene.graph.nodes_geometry) == ["cloud_000_a", "cloud_001_b", "cloud_002_a", "cloud_003_c"]
    colour = {}
    for node in scene.graph.nodes_geometry:
        colours = scene.geometry[scene.graph[node][1]].colors
        assert len(np.unique(colours, axis=0)) == 1  # one colour per cloud
        colour.setdefault(node[-1], set()).add(tuple(colours[0]))
    assert all(len(c) == 1 for c in colour.values()) and len(set.union(*colour.values())) == 3


# ----------------------------------------------------------------------------------------------- PNG

def test_png_grid_layout_and_title(tmp_path):
    path = io.write_samples(clouds(10, points=200), tmp_path / "row.png", title="ten clouds")
    with Image.open(path) as image:
        assert image.size == (10 * CELL, CELL + TITLE)
        assert image.text["Title"] == "ten clouds"
    with Image.open(io.write_samples(clouds(20, points=200), tmp_path / "rows.png")) as image:
        assert image.size == (10 * CELL, 2 * CELL)  # 10 columns: size grows with rows
        assert "Title" not in image.text
    with Image.open(io.write_samples(clouds(16, points=50), tmp_path / "classes.png")) as image:
        assert image.size == (8 * CELL, 2 * CELL)  # 8 columns: class k of the 8 shape classes in column k
    path = io.write_samples(clouds(4, points=300), tmp_path / "square.png", labels=[0, 1, 2, 3],
                            class_names=["w", "x", "y", "z"])
    with Image.open(path) as image:
        assert image.size == (2 * CELL, 2 * CELL)  # about square
        pixels = np.asarray(image.convert("RGB")).astype(int)
    for row in range(2):
        for column in range(2):
            cell = pixels[row * CELL:(row + 1) * CELL, column * CELL:(column + 1) * CELL]
            coloured = np.ptp(cell, axis=-1) > 40  # colormap points, not white background or black text
            assert coloured.sum() > 50, f"cell {row, column} is empty"


def test_png_of_fifty_clouds_is_fast(tmp_path):
    start = time.perf_counter()
    path = io.write_samples(clouds(50, points=2048), tmp_path / "fifty.png", title="fifty")
    assert time.perf_counter() - start < 15  # about 1 s on one core
    with Image.open(path) as image:
        assert image.size == (10 * CELL, 5 * CELL + TITLE)


# ----------------------------------------------------------------------------------------------- reading

def test_read_xyz_and_csv(tmp_path):
    (tmp_path / "a.xyz").write_text("# comment\n0 0 0\n1.5 -2 3e-1\n\n  4\t5 6  \n")
    expected = torch.tensor([[0, 0, 0], [1.5, -2, 0.3], [4, 5, 6]], dtype=torch.float32)
    assert torch.equal(io.read_points(tmp_path / "a.xyz"), expected)
    (tmp_path / "a.csv").write_text("x,y,z\n0,0,0\n1.5, -2, 3e-1\n4,5,6\n")
    assert torch.equal(io.read_points(tmp_path / "a.csv"), expected)
    (tmp_path / "b.csv").write_text("0,0,0\n1,2,3\n")  # no header
    assert io.read_points(tmp_path / "b.csv").shape == (2, 3)


def test_read_a_mesh_gives_its_vertices(tmp_path):
    box = trimesh.creation.box((2, 2, 2))
    io.write_mesh(box, tmp_path / "box.ply")
    box.export(tmp_path / "box.off")
    for name in ("box.ply", "box.off"):
        points = io.read_points(tmp_path / name)
        assert points.shape == (8, 3) and torch.equal(points.abs(), torch.ones(8, 3))  # the corners, not samples


@pytest.mark.parametrize("name, content, message", [
    ("two.xyz", "1 2\n3 4\n", "3 columns"),
    ("four.csv", "1,2,3,4\n", "3 columns"),
    ("words.xyz", "1 2 3\na b c\n", "line 2"),
    ("empty.xyz", "", "no points"),
    ("empty.csv", "x,y,z\n", "no points"),
    ("empty.ply", "", "no points"),
    ("garbage.ply", "this is not a ply file\n", "cannot read"),
    ("flat.npy", None, r"\(N, 3\)"),
])
def test_read_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        np.save(path, np.zeros((5, 2)))
    else:
        path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        io.read_points(path)
    assert name in str(error.value)


def test_read_missing_file_names_it(tmp_path):
    with pytest.raises(ValueError, match="nowhere.ply.*does not exist"):
        io.read_points(tmp_path / "nowhere.ply")


# ----------------------------------------------------------------------------------------------- write errors

@pytest.mark.parametrize("x, message", [
    (torch.zeros(10, 2), r"\(n, N, 3\)"),
    (torch.zeros(2, 3, 10, 3), r"\(n, N, 3\)"),
    (torch.zeros(0, 10, 3), "n = 0"),
    (torch.zeros(2, 0, 3), "no points"),
    (torch.tensor([[0.0, float("nan"), 0.0]]), "NaN"),
    (torch.tensor([[0.0, float("inf"), 0.0]]), "NaN or infinite"),
])
def test_write_rejects_bad_clouds(tmp_path, x, message):
    for suffix in (".npy", ".png"):
        with pytest.raises(ValueError, match=message):
            io.write_samples(x, tmp_path / f"bad{suffix}")
    assert list(tmp_path.iterdir()) == []


def test_write_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"'\.pcd'.*\.png.*\.npy"):
        io.write_samples(clouds(1), tmp_path / "cloud.pcd")
    with pytest.raises(ValueError, match="'none'"):
        io.write_samples(clouds(1), tmp_path / "cloud")
    with pytest.raises(ValueError, match="2 labels for 3"):
        io.write_samples(clouds(3), tmp_path / "x.png", labels=[0, 1])
    with pytest.raises(ValueError, match="label 5 is out of range"):
        io.write_samples(clouds(1), tmp_path / "x.glb", labels=[5], class_names=["a"])
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------- atomicity

def test_writes_leave_no_temporary_files(tmp_path):
    x = clouds(2, points=50)
    for suffix in io.FORMATS:
        io.write_samples(x, tmp_path / f"s{suffix}")
    io.write_mesh(io.to_mesh(x[0]), tmp_path / "hull.stl")
    assert temp_files(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["s.png", "s_000.ply", "s_001.ply", "s_000.obj", "s_001.obj", "s.glb", "s.npy", "hull.stl"])


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = io.write_samples(clouds(1, seed=1), tmp_path / "c.ply")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("killed mid-export")
    monkeypatch.setattr(io, "_write_bytes", lambda target, data: io.atomic_write(target, broken))
    with pytest.raises(RuntimeError, match="killed"):
        io.write_samples(clouds(1, seed=2), path)
    assert path.read_bytes() == before and temp_files(tmp_path) == []


# ----------------------------------------------------------------------------------------------- meshes

def corners():
    return torch.tensor([[a, b, c] for a in (-1.0, 1.0) for b in (-1.0, 1.0) for c in (-1.0, 1.0)])


def test_hull_of_a_cube(tmp_path):
    mesh = io.to_mesh(corners(), "hull")
    assert isinstance(mesh, trimesh.Trimesh) and mesh.is_watertight
    assert mesh.volume == pytest.approx(8.0)
    assert "convex hull" in mesh.metadata["post_process"]
    path = io.write_mesh(mesh, tmp_path / "hull.STL")
    assert trimesh.load(path).volume == pytest.approx(8.0)
    with pytest.raises(ValueError, match="at least 4"):
        io.to_mesh(corners()[:3])
    with pytest.raises(ValueError, match="flat"):
        io.to_mesh(torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]]))


def test_hull_without_scipy_says_how_to_install_it(monkeypatch):
    find_spec = io.importlib.util.find_spec
    monkeypatch.setattr(io.importlib.util, "find_spec",
                        lambda name, *args: None if name == "scipy" else find_spec(name, *args))
    with pytest.raises(ImportError, match="pip install scipy"):
        io.to_mesh(corners())


def test_voxels_cover_the_cloud(tmp_path):
    x = clouds(1, points=500)[0]
    mesh = io.to_mesh(x, "voxels")
    assert isinstance(mesh, trimesh.Trimesh) and len(mesh.faces) > 0
    low, high = mesh.bounds
    assert np.all(low <= x.numpy().min(0)) and np.all(high >= x.numpy().max(0))
    pitch = float(torch.linalg.norm(x.amax(0) - x.amin(0))) / 32
    assert np.all(high - low <= x.numpy().max(0) - x.numpy().min(0) + pitch + 1e-6)
    assert "voxels" in mesh.metadata["post_process"]
    coarse = io.to_mesh(x, "voxels", pitch=1.0)
    assert np.all(coarse.bounds[0] <= x.numpy().min(0)) and len(coarse.faces) < len(mesh.faces)
    for suffix in io.MESH_FORMATS:
        assert trimesh.load(io.write_mesh(coarse, tmp_path / f"v{suffix}"), force="mesh").bounds == pytest.approx(
            coarse.bounds)
    with pytest.raises(ValueError, match="pitch"):
        io.to_mesh(x, "voxels", pitch=0)
    with pytest.raises(ValueError, match="unknown meshing method"):
        io.to_mesh(x, "poisson")
    with pytest.raises(ValueError, match="one cloud"):
        io.to_mesh(clouds(2))
    with pytest.raises(ValueError, match=r"\.fbx"):
        io.write_mesh(coarse, tmp_path / "v.fbx")


def test_sample_mesh_on_a_sphere(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=4)
    points = io.sample_mesh(sphere, 500, seed=3)
    assert points.shape == (500, 3) and points.dtype == torch.float32
    norms = torch.linalg.norm(points, dim=1)
    assert norms.max() <= 1 + 1e-5 and norms.min() >= 0.99  # on the faceted sphere
    assert points.mean(0).abs().max() < 0.1  # spread over the whole surface
    assert torch.equal(points, io.sample_mesh(sphere, 500, seed=3))
    assert not torch.equal(points, io.sample_mesh(sphere, 500, seed=4))
    path = io.write_mesh(sphere, tmp_path / "sphere.glb")  # a file: loaded as a scene, merged
    assert torch.allclose(io.sample_mesh(path, 500, seed=3), points, atol=1e-6)
    scene = trimesh.Scene([sphere, trimesh.creation.box().apply_translation([5, 0, 0])])
    assert (io.sample_mesh(scene, 2000)[:, 0] > 4).any()
    with pytest.raises(ValueError, match="positive integer"):
        io.sample_mesh(sphere, 0)
    io.write_samples(clouds(1), tmp_path / "points.ply")
    with pytest.raises(ValueError, match="no surface"):
        io.sample_mesh(tmp_path / "points.ply", 10)


def test_a_long_title_wraps_to_fit_one_cell(tmp_path):
    title = "pointcloud/furniture: dpmpp_2m, 32 steps"
    with Image.open(io.write_samples(clouds(1, points=200), tmp_path / "one.png", title=title)) as image:
        assert image.width == CELL and image.height > CELL + TITLE and image.text["Title"] == title
        pixels = np.asarray(image.convert("L"))
    band = pixels[:image.height - CELL]  # the title above the cell
    assert (band < 128).sum() > 100 and (band[:, :2] > 250).all() and (band[:, -2:] > 250).all()  # inked, not clipped
    lines, size = io._title_lines(title, 10 * io.CELL_INCHES)
    assert lines == [title] and size == io.TITLE_POINTS[0]  # a wide grid keeps one line at full size


def test_the_sample_writer_names_each_cell_by_its_class(tmp_path):
    class Shapes:
        class_names = ("box", "torus")

    [path] = io.write(clouds(2, points=200), tmp_path / "two.png", model=Shapes(), labels=[0, 1])
    [plain] = io.write(clouds(2, points=200), tmp_path / "plain.png", model=Shapes())
    with Image.open(path) as labelled, Image.open(plain) as unlabelled:
        ink = [(np.asarray(im.convert("L"))[:20] < 100).sum() for im in (labelled, unlabelled)]
    assert ink[0] > ink[1] + 20  # the class names on top of the cells
