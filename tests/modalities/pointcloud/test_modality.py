"""The declared point-cloud modality (``modalities.pointcloud.MODALITY``): its formats on a released
model's samples, its CLI flag, its card facts and what the released models' metrics.json hold."""
import argparse
import json

import pytest
import torch

from modalities.pointcloud import MODALITY, PointCloudModel, dataset
from modalities.pointcloud.evaluation import LIKELIHOOD_N, LIKELIHOOD_PROBES, LIKELIHOOD_TOLERANCE
from tests.helpers import gen
from zoo import hub
from zoo.modality import PICTURE, Dataset, Modality

pytestmark = pytest.mark.usefixtures("one_thread")

RELEASED = [r.name for r in MODALITY.releases]


@pytest.fixture(scope="module")
def shapes():
    return hub.load_folder(hub.MODEL_CARDS / "pointcloud" / "shapes")


@pytest.fixture(scope="module")
def clouds(shapes):
    """Two samples of the released class-conditional model: 64 points at 2 steps (the network takes any N)."""
    return shapes.sample(2, cond="torus", steps=2, points=64, generator=gen(0))


def test_the_modality_declares_its_releases_and_model_class():
    assert isinstance(MODALITY, Modality) and MODALITY.name == "pointcloud"
    assert RELEASED == ["pointcloud/shapes", "pointcloud/furniture"]
    assert {r.architecture for r in MODALITY.releases} == {"pointcloud/transformer"}
    assert MODALITY.model_class is PointCloudModel
    assert [f.suffix for f in MODALITY.formats] == [".png", ".ply", ".obj", ".glb", ".npy"]
    assert MODALITY.preview_format.embed == PICTURE and MODALITY.preview_format.read is None
    assert [f.suffix for f in MODALITY.formats if f.per_sample] == [".ply", ".obj"]
    assert [s.name for s in MODALITY.sources] == ["shapes", "furniture"]
    assert MODALITY.source("furniture").install == "apt-get install sweethome3d-furniture"


def test_a_released_model_loads_as_its_modality_class(shapes):
    assert isinstance(shapes, PointCloudModel) and shapes.points == 2048 and shapes.class_names[4] == "torus"


@pytest.mark.parametrize("suffix", [".png", ".ply", ".obj", ".glb", ".npy"])
def test_every_format_writes_the_files_it_names_and_reads_the_samples_back(suffix, shapes, clouds, tmp_path):
    entry = MODALITY.format(suffix)
    written = entry.write(clouds, tmp_path / f"torus{suffix}", model=shapes, title="pointcloud/shapes: torus")
    assert all(p.is_file() for p in written) and sorted(tmp_path.iterdir()) == sorted(written)
    if entry.per_sample:
        assert [p.name for p in written] == [f"torus_000{suffix}", f"torus_001{suffix}"]
    else:
        assert written == [tmp_path / f"torus{suffix}"]
    if entry.read is None:  # the preview is a picture
        return
    back = torch.cat([entry.read(p) for p in written])
    assert back.shape == clouds.shape and back.dtype == torch.float32
    torch.testing.assert_close(back, clouds, rtol=0, atol=1e-7 if suffix == ".obj" else 0)  # OBJ: 8 decimals


def test_one_cloud_is_written_to_the_path_itself(shapes, clouds, tmp_path):
    assert MODALITY.format(".ply").write(clouds[:1], tmp_path / "t.ply", model=shapes) == [tmp_path / "t.ply"]


def test_a_mask_must_mark_every_point(shapes, clouds, tmp_path):
    entry = MODALITY.format(".npy")
    assert entry.write(clouds, tmp_path / "a.npy", model=shapes, mask=torch.ones(2, 64)) == [tmp_path / "a.npy"]
    padded = torch.ones(2, 64)
    padded[1, 60:] = 0
    with pytest.raises(ValueError, match="fixed number of points"):
        entry.write(clouds, tmp_path / "b.npy", model=shapes, mask=padded)


def test_the_points_flag_becomes_a_sample_option(shapes):
    parser = argparse.ArgumentParser()
    MODALITY.cli.sample_arguments(parser.add_argument_group("pointcloud"))
    assert MODALITY.cli.sample_options(shapes, parser.parse_args([])) == {}
    options = MODALITY.cli.sample_options(shapes, parser.parse_args(["--points", "16"]))
    assert options == {"points": 16}
    assert shapes.sample(1, cond="torus", steps=1, generator=gen(0), **options).shape == (1, 16, 3)
    with pytest.raises(ValueError, match="--points must be a positive integer, got 0"):
        MODALITY.cli.sample_options(shapes, parser.parse_args(["--points", "0"]))


def test_the_preview_keeps_the_models_steps_and_puts_class_k_in_column_k(shapes):
    x, how = MODALITY.preview(shapes, 1, seed=0, steps=1)
    assert x.shape == (1, 2048, 3) and how["steps"] == 1 and how["seed"] == 0
    # the caption names the classes drawn, no more: one cloud is of the first class
    assert how["guidance"] == 2.0 and how["what"] == "1 sample of class box, guidance 2.0"


def test_the_data_sets_are_zoo_datasets():
    data = MODALITY.dataset("shapes", points=16, conditional=True, train_per_class=1, test_per_class=1)
    assert isinstance(data, Dataset) and data.sample_shape == (16, 3)
    batch = data.batch(3, gen(0))
    assert batch["x"].shape == (3, 16, 3) and batch["cond"]["label"].shape == (3,)
    assert batch["null_cond"] == {"label": 8} and data.model_config()["null_cond"] == {"label": 8}
    assert dataset(**data.config()).config() == data.config()


@pytest.mark.parametrize("name", RELEASED)
def test_card_facts_name_each_source_with_its_licence_and_a_runnable_example(name):
    config = hub.read_config(hub.MODEL_CARDS / name)
    facts = MODALITY.card(config)
    assert [s.name for s in facts.sources] == [config["data"]["name"]] and all(s.licence for s in facts.sources)
    assert "pip install" not in facts.example and "model.sample(" in facts.example
    assert all(key in facts.metrics for key in facts.indexed_metrics)
    assert facts.metrics["1nna_cd"].higher_is_better is False and facts.metrics["cov_cd"].higher_is_better is True
    assert "DESIGN.md" not in str(facts) and "DATA.md" not in str(facts)


@pytest.mark.parametrize("name", RELEASED)
def test_the_released_metrics_hold_the_primary_metric_the_likelihood_and_one_device_format(name):
    metrics = json.loads((hub.MODEL_CARDS / name / "metrics.json").read_text())
    assert isinstance(metrics[MODALITY.primary.key], float)
    assert metrics["device"] == "NVIDIA H100 80GB HBM3" and "threads" not in metrics
    assert metrics["likelihood_device"].startswith("CPU, ")
    assert (metrics["likelihood_n"], metrics["likelihood_points"], metrics["likelihood_probes"]) == \
        (LIKELIHOOD_N, 2048, LIKELIHOOD_PROBES)
    assert metrics["likelihood_rtol"] == metrics["likelihood_atol"] == LIKELIHOOD_TOLERANCE
    assert -10 < metrics["nll_nats_per_point"] < 10
    facts = MODALITY.card(hub.read_config(hub.MODEL_CARDS / name))
    line = "".join(phrase.format(**metrics) for key, phrase in facts.protocol_settings.items() if key in metrics)
    assert line.startswith(" of 2048 points, normalisation `unit_sphere` (likelihood: the first 2 held-out clouds")
