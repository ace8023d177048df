import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from modalities.pointcloud import data
from tests.helpers import gen

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small_shapes():
    return data.shape_set({"train": 3, "test": 2}, seed=0)


def test_unit_sphere_normalisation_centres_and_scales():
    x = torch.randn(3, 100, 3, generator=gen(0), dtype=torch.float64) * torch.tensor([5.0, 1.0, 2.0]) + 7
    y = data.normalize(x, "unit_sphere")
    torch.testing.assert_close(y.mean(1), torch.zeros(3, 3, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(y.norm(dim=-1).amax(1), torch.ones(3, dtype=torch.float64))
    # scaling and moving the input changes nothing
    torch.testing.assert_close(data.normalize(3 * x - 2, "unit_sphere"), y)


def test_bbox_normalisation_puts_the_longest_side_on_minus_one_to_one():
    x = torch.tensor([[[0.0, 0.0, 0.0], [4.0, 1.0, 2.0], [1.0, 0.5, 0.5]]], dtype=torch.float64)
    y = data.normalize(x, "bbox")
    torch.testing.assert_close(y[0, 1], torch.tensor([1.0, 0.25, 0.5], dtype=torch.float64))
    torch.testing.assert_close(y[0, 0], torch.tensor([-1.0, -0.25, -0.5], dtype=torch.float64))


@pytest.mark.parametrize("points, mode, message", [
    (torch.zeros(4, 2), "bbox", r"\(\.\.\., N, 3\)"),
    (torch.ones(1, 5, 3), "bbox", "coincide"),
    (torch.randn(5, 3), "cube", "unknown normalization 'cube'"),
])
def test_normalisation_errors(points, mode, message):
    with pytest.raises(ValueError, match=message):
        data.normalize(points, mode)


def _raw_surface(kind, seed=0):
    rng = np.random.default_rng(seed)
    mesh = data.make_shape(kind, rng)
    return mesh, trimesh.sample.sample_surface(mesh, 500, seed=1)[0]


def test_torus_points_satisfy_the_torus_equation():
    mesh, points = _raw_surface("torus")
    r_xy = np.hypot(points[:, 0], points[:, 1])
    # (rho - R)^2 + z^2 = r^2 with R, r from the mesh's extents (a faceted torus: a few per cent off)
    major_plus_minor = mesh.extents[0] / 2
    minor = mesh.extents[2] / 2
    major = major_plus_minor - minor
    residual = np.sqrt((r_xy - major) ** 2 + points[:, 2] ** 2) - minor
    assert np.abs(residual).max() < 0.03 * major_plus_minor


def test_every_class_is_a_closed_surface_with_random_proportions():
    for kind in data.SHAPE_CLASSES:
        a, b = data.make_shape(kind, np.random.default_rng(1)), data.make_shape(kind, np.random.default_rng(2))
        assert a.is_watertight and a.volume > 0, kind
        assert not np.allclose(np.sort(a.extents), np.sort(b.extents)), kind
    with pytest.raises(ValueError, match="unknown shape class 'blob'"):
        data.make_shape("blob", np.random.default_rng(0))


def test_shape_sets_are_deterministic_interleaved_and_split_by_shape(small_shapes):
    again = data.shape_set({"train": 3, "test": 2}, seed=0)
    assert np.array_equal(small_shapes["train_points"], again["train_points"])
    assert small_shapes["train_points"].shape == (24, data.STORED_POINTS, 3)
    assert small_shapes["test_points"].shape == (16, data.STORED_POINTS, 3)
    assert small_shapes["train_labels"].tolist() == [i % 8 for i in range(24)]
    # held-out shapes are other draws, not copies of training shapes
    gap = np.abs(small_shapes["train_points"][:8, :, :].mean(1) - small_shapes["test_points"][:8].mean(1))
    assert not np.array_equal(small_shapes["train_points"][:8], small_shapes["test_points"][:8]) and gap.shape == (8, 3)
    other = data.shape_set({"train": 3}, seed=1)
    assert not np.allclose(other["train_points"], small_shapes["train_points"])


def test_properties_parser_handles_escapes_comments_and_continuations():
    text = "# comment\nname#1=Caf\\u00e9\nmodel#1=/lib/a.obj\ntags#1=a, \\\n  b\n! other comment\nwidth#1 = 10.5\n"
    props = data._properties(text)
    assert props == {"name#1": "Café", "model#1": "/lib/a.obj", "tags#1": "a, b", "width#1": "10.5"}


def _obj(mesh):
    return trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_texture=False).encode()


def write_library(path: Path, count: int = 10, rotation: bool = True) -> Path:
    """A fake Sweet Home 3D library: ``count`` boxes of size 1 x 2 x 3 (OBJ units, y up) whose
    catalogue says 100 x 50 x 20 cm (width x depth x height); the first has a modelRotation."""
    lines = ["id=test", "name=Test library"]
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(1, count + 1):
            archive.writestr(f"lib/m{i}/m{i}.obj", _obj(trimesh.creation.box(extents=(1.0, 2.0, 3.0))))
            lines += [f"id#{i}=test#m{i}", f"name#{i}=Model {i}", f"category#{i}={'Kitchen' if i % 2 else 'Lights'}",
                      f"model#{i}=/lib/m{i}/m{i}.obj", f"width#{i}=100", f"depth#{i}=50", f"height#{i}=20"]
            if rotation and i == 1:  # turn the model a quarter about y: its x and z extents swap
                lines.append(f"modelRotation#{i}=0 0 1 0 1 0 -1 0 0")
        archive.writestr("PluginFurnitureCatalog.properties", "\n".join(lines) + "\n")
    return path


def test_furniture_models_are_oriented_sized_and_split_by_model(tmp_path):
    write_library(tmp_path / "a.sh3f", 10)
    with zipfile.ZipFile(tmp_path / "a.sh3f") as archive:
        entries = data._catalogue(archive)
        meshes = [data._furniture_mesh(archive, e) for e in entries[:2]]
    assert [e["category"] for e in entries[:2]] == ["Kitchen", "Lights"]
    for mesh in meshes:  # catalogue size in centimetres, y up turned to z up: (width, depth, height)
        np.testing.assert_allclose(mesh.extents, [100.0, 50.0, 20.0], rtol=1e-9)
    arrays = data.furniture_set(str(tmp_path), seed=0)
    assert arrays["train_points"].shape == (9, data.STORED_POINTS, 3) and arrays["test_points"].shape[0] == 1
    assert set(arrays["train_ids"]).isdisjoint(arrays["test_ids"])
    assert set(arrays["train_labels"].tolist()) <= {data.FURNITURE_CATEGORIES.index(c) for c in ("Kitchen", "Lights")}
    assert np.abs(np.linalg.norm(arrays["train_points"], axis=-1).max(1) - 1).max() < 1e-3


def test_missing_furniture_names_the_package(tmp_path):
    with pytest.raises(ValueError, match="apt-get install sweethome3d-furniture"):
        data.furniture_set(str(tmp_path))


@pytest.mark.skipif(not Path(data.FURNITURE_DIR).is_dir(), reason="sweethome3d-furniture is not installed")
def test_real_furniture_loads():
    arrays = data.furniture_set(limit=12)
    points = np.concatenate([arrays["train_points"], arrays["test_points"]])
    assert points.shape == (12, data.STORED_POINTS, 3) and np.isfinite(points).all()
    assert np.abs(np.linalg.norm(points, axis=-1).max(1) - 1).max() < 1e-3


def test_prepare_round_trip_and_mismatched_normalisation(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "shape_set", lambda *a, **k: _tiny_arrays())
    path = data.prepare("shapes", tmp_path / "s.npz", normalization="bbox")
    loaded = data.load_arrays("shapes", str(path), normalization="bbox")
    np.testing.assert_allclose(loaded["train_points"], _tiny_arrays()["train_points"], atol=1e-3)
    with pytest.raises(ValueError, match="prepared with normalization 'bbox', not 'unit_sphere'"):
        data.load_arrays("shapes", str(path))
    with pytest.raises(ValueError, match="holds the 'shapes' data set, not 'furniture'"):
        data.load_arrays("furniture", str(path), normalization="bbox")
    with pytest.raises(ValueError, match="no such file"):
        data.load_arrays("shapes", str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="an .npz file"):
        data.prepare("shapes", tmp_path / "s.txt")
    with pytest.raises(ValueError, match="unknown point-cloud source 'cars'"):
        data.prepare("cars", tmp_path / "c.npz")


def _tiny_arrays():
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, size=(10, 32, 3)).astype(np.float32)
    return {"train_points": points[:8], "train_labels": np.arange(8) % 8, "test_points": points[8:],
            "test_labels": np.arange(2)}


def test_batches_draw_fresh_subsets_of_the_stored_points(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "shape_set", lambda *a, **k: _tiny_arrays())
    ds = data.dataset("shapes", points=16, conditional=True)
    batch = ds.batch(5, gen(0))
    assert batch["x"].shape == (5, 16, 3) and batch["cond"]["label"].shape == (5,)
    assert batch["null_cond"] == {"label": 8}
    stored = ds.clouds["train"]
    for x, label in zip(batch["x"], batch["cond"]["label"]):
        rows = [i for i in range(len(stored)) if int(ds.labels["train"][i]) == int(label)]
        source = stored[rows[0]]
        assert all(any(torch.equal(p, q) for q in source) for p in x)  # every point is one of its cloud's points
        assert len({tuple(p.tolist()) for p in x}) == 16  # drawn without replacement
    torch.testing.assert_close(ds.batch(5, gen(0))["x"], batch["x"])
    assert ds.reference().shape == (2, 16, 3) and torch.equal(ds.reference(), ds.clouds["test"][:, :16])
    assert ds.model_config() == {"class_names": list(data.SHAPE_CLASSES), "null_cond": {"label": 8}}
    assert "x" in data.dataset("shapes", points=16).batch(2, gen(0))
    with pytest.raises(ValueError, match="1..32 can be drawn"):
        data.dataset("shapes", points=64)
    with pytest.raises(ValueError, match="unknown point-cloud data set 'chairs'"):
        data.dataset("chairs")
    with pytest.raises(ValueError, match="unknown normalization"):
        data.dataset("shapes", normalization="sphere")
