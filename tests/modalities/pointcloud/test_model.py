import pytest
import torch

from modalities.pointcloud import PointCloudModel, crop
from modalities.pointcloud.data import SHAPE_CLASSES
from tests.helpers import gen
from zoo import hub

pytestmark = pytest.mark.usefixtures("one_thread")

NET = {"hidden": 16, "depth": 1, "heads": 2, "num_classes": 8}


def config(**changes):
    cfg = {"name": "pointcloud/test", "modality": "pointcloud", "architecture": "pointcloud/transformer", "network": NET,
           "schedule": {"name": "EDM"}, "prediction": "edm", "sigma_data": 0.43, "sample_shape": [32, 3],
           "sampling": {"sampler": "dpmpp_2m", "steps": 3, "timesteps": "karras", "guidance": 2.0},
           "data": {"name": "shapes", "points": 32, "normalization": "unit_sphere"},
           "class_names": list(SHAPE_CLASSES), "null_cond": {"label": 8}}
    return {**cfg, **changes}


@pytest.fixture(scope="module")
def model():
    m = PointCloudModel.from_config(config())
    with torch.no_grad():
        for p in m.network.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=gen(p.numel())))
    return m


def test_samples_are_clouds_and_names_equal_indices(model):
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    x = model.sample(3, cond="torus", generator=g())
    assert x.shape == (3, 32, 3) and torch.isfinite(x).all()
    torch.testing.assert_close(model.sample(3, cond=4, generator=g()), x)
    torch.testing.assert_close(model.sample(3, cond=torch.tensor([4, 4, 4]), generator=g()), x)
    torch.testing.assert_close(model.sample(3, cond=["torus"] * 3, generator=g()), x)
    assert model.sample(2, cond="box", points=10, generator=g()).shape == (2, 10, 3)


def test_default_guidance_is_the_configs(model):
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    torch.testing.assert_close(model.sample(2, cond="cone", generator=g()),
                               model.sample(2, cond="cone", guidance=2.0, generator=g()))
    assert not torch.allclose(model.sample(2, cond="cone", generator=g()),
                              model.sample(2, cond="cone", guidance=0.0, generator=g()))


@pytest.mark.parametrize("cond, message", [
    ("blob", "unknown class 'blob'.*box, cylinder"),
    (torch.tensor([0.5, 1.0]), "must be integers"),
    (torch.tensor([0, 8]), r"0\.\.7, got 0\.\.8"),
    ({"shape": torch.zeros(2)}, r"keys \['shape'\]"),
])
def test_bad_classes_are_named(model, cond, message):
    with pytest.raises(ValueError, match=message):
        model.sample(2, cond=cond)


def test_completion_keeps_the_partial_exactly_and_generates_the_rest(model):
    truth = torch.randn(2, 32, 3, generator=gen(3)).clamp(-1, 1)
    partial = crop(truth, keep=20)
    done = model.complete(partial, cond="box", generator=gen(4))
    assert done.shape == (2, 32, 3)
    torch.testing.assert_close(done[:, :20], partial, rtol=0, atol=1e-6)
    assert not torch.allclose(done[:, 20:], torch.zeros(2, 12, 3))
    assert model.complete(partial[0], cond="box", points=40, generator=gen(4)).shape == (1, 40, 3)
    with pytest.raises(ValueError, match=r"1 <= M < 32"):
        model.complete(truth, cond="box")
    with pytest.raises(ValueError, match="NaN"):
        model.complete(torch.full((1, 4, 3), float("nan")), cond="box")


def test_crop_keeps_the_points_farthest_along_the_direction():
    cloud = torch.tensor([[[float(i), 0.0, -float(i)] for i in range(6)]])
    assert crop(cloud, keep=2)[0, :, 0].tolist() == [5.0, 4.0]
    assert sorted(crop(cloud, direction=(0, 0, 1), keep=3)[0, :, 0].tolist()) == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="keep must lie in 1..6"):
        crop(cloud, keep=7)
    with pytest.raises(ValueError, match="non-zero 3-vector"):
        crop(cloud, direction=(0, 0, 0))


def test_save_and_load_give_the_same_samples(model, tmp_path):
    hub.save(model, tmp_path / "m")
    loaded = hub.load_folder(tmp_path / "m")
    assert loaded.class_names == SHAPE_CLASSES and loaded.points == 32
    torch.testing.assert_close(loaded.sample(2, cond="capsule", generator=gen(5)),
                               model.sample(2, cond="capsule", generator=gen(5)))


def test_balanced_labels_put_class_k_in_column_k(model):
    assert model.balanced_labels(10).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]


def test_an_unconditional_model_refuses_classes():
    cfg = config(network={**NET, "num_classes": 0})
    del cfg["null_cond"], cfg["class_names"]
    m = PointCloudModel.from_config(cfg)
    with pytest.raises(ValueError, match="unconditional"):
        m.sample(2, cond="torus")
    assert m.sample(2, generator=gen(0)).shape == (2, 32, 3) and m.balanced_labels(4) is None
