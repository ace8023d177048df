"""The image modality's declaration (``modalities.image.MODALITY``) with its released models."""
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import zoo
from modalities.image import MODALITY, ImageData, ImageModel, io
from zoo import cli, registry
from zoo.modality import PICTURE, CardFacts

pytestmark = pytest.mark.usefixtures("one_thread")

CARDS = Path(__file__).resolve().parents[3] / "model_cards" / "image"
RELEASED = {"image/fashion": "image/unet", "image/fashion-dit": "image/dit", "image/fashion-ldm": "image/latent",
            "image/mnist": "image/unet", "image/fashion-cm": "image/unet", "image/fashion-flow": "image/unet"}


@pytest.fixture(scope="module")
def cm():
    """The quickest released model: 2 network evaluations per sample."""
    return zoo.load("image/fashion-cm", local_files_only=True)


def test_the_modality_is_registered_and_declares_its_releases():
    assert registry.modality("image") is MODALITY and MODALITY.model_class is ImageModel
    assert {r.name: r.architecture for r in MODALITY.releases} == RELEASED
    assert all(r.repo_id == f"diffusion-zoo/{r.name.replace('/', '-')}" for r in MODALITY.releases)
    assert [f.suffix for f in MODALITY.formats] == [".png", ".npy"] and MODALITY.preview_format.embed == PICTURE
    assert {s.name for s in MODALITY.sources} == {"fashion", "mnist", "digits"}
    assert all(s.licence and s.install for s in MODALITY.sources)
    assert MODALITY.defaults.n == 50 and MODALITY.defaults.demo_n == 10  # measured: see modalities/image/__init__.py
    assert [m.key for m in MODALITY.nfe_metrics] == ["fd_local", "class_accuracy"]
    assert MODALITY.primary.key == "fd_local" and MODALITY.primary.better(0.5, 0.6)


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_each_released_metrics_file_has_the_primary_metric_a_likelihood_or_why_not_and_one_device(name):
    metrics = json.loads((CARDS / name.split("/")[1] / "metrics.json").read_text())
    assert isinstance(metrics[MODALITY.primary.key], float)
    assert metrics["device"] in ("CPU, 1 thread", "CPU, 2 threads") and "threads" not in metrics
    bpd = metrics["bits_per_dim"]
    if name in ("image/fashion-cm", "image/fashion-ldm"):
        assert bpd.startswith("not computed: ") and "nll_rtol" not in metrics
    else:  # the protocol of the likelihood, as image-eval/1 measured it
        assert 1.0 < bpd < 4.0 and metrics["nll_n"] == 64
        assert (metrics["nll_rtol"], metrics["nll_atol"], metrics["nll_probes"]) == (1e-4, 1e-4, 1)


def test_a_released_model_previews_class_k_in_column_k_and_its_formats_round_trip(cm, tmp_path):
    x, how = MODALITY.preview(cm, 10, seed=0, steps=1)
    assert x.shape == (10, 1, 32, 32) and how["steps"] == 1 and how["nfe"] == 1 and "class k in column k" in how["what"]
    [png] = MODALITY.format(".png").write(x, tmp_path / "g.png", model=cm, title="ten classes")
    with Image.open(png) as image:
        assert image.size == (10 * 66 + 2, 66 + 2) and image.text["Title"] == "ten classes"  # one row, ten columns
    npy = MODALITY.format(".npy")
    [path] = npy.write(x, tmp_path / "g.npy", model=cm)
    assert torch.equal(npy.read(path), x) and npy.precision == 0.0
    # the grid's cells are the samples' bytes
    grid = io.read_png(png)
    for k in (0, 9):
        left = 2 + k * 66
        torch.testing.assert_close(grid[:, 2:2 + 64:2, left:left + 64:2], io.to_model(io.to_bytes(x[k])))


def test_preview_at_the_models_own_steps_is_what_it_samples(cm):
    x, how = MODALITY.preview(cm, 3, seed=4)
    labels = torch.arange(3)
    assert how["steps"] == 2 and how["sampler"] == "consistency"
    assert torch.equal(x, cm.sample(3, cond=labels, generator=torch.Generator().manual_seed(4)))


def test_the_card_facts_name_each_source_with_its_licence_and_a_runnable_example(cm):
    for folder in sorted(CARDS.iterdir()):
        config = zoo.hub.read_config(folder)
        facts = MODALITY.card(config)
        assert isinstance(facts, CardFacts) and [s.name for s in facts.sources] == [config["data"]["name"]]
        assert all(k in facts.metrics for k in facts.indexed_metrics if k != "psnr")
        compile(facts.example, "example", "exec")
        commands = (facts.command or "zoo sample {name} -o samples{suffix}").format(name=config["name"], suffix=".png")
        for command in commands.splitlines():
            assert command.startswith(f"zoo sample {config['name']} ") and "{" not in command
        assert "DESIGN" not in facts.example + facts.data_note and "pip install diffusion-zoo" not in facts.example
    facts = MODALITY.card(cm.config)
    scope = {"torch": torch, "zoo": zoo, "model": cm}
    exec(facts.example, scope)  # runs as written after import torch, zoo and model = zoo.load(NAME)
    assert scope["x"].shape == (16, 1, 32, 32)
    assert "Classes: 0 T-shirt/top" in facts.data_note and "32 x 32" in facts.data_note
    metrics = json.loads((CARDS / "fashion" / "metrics.json").read_text())
    phrase = "".join(p.format(**metrics) for p in facts.protocol_settings.values())
    assert "the first 64 test images, probability-flow ODE by dopri5 at rtol 0.0001 and atol 0.0001, 1 Hutchinson" in phrase


def test_zoo_sample_takes_a_class_by_name_and_names_the_classes_when_it_is_wrong(tmp_path, capsys):
    out = tmp_path / "trousers.png"
    code = cli.main(["sample", "image/fashion-cm", "--local-files-only", "-n", "3", "--steps", "1", "--class", "Trouser",
                     "-o", str(out)])
    assert code == 0 and out.is_file() and "wrote 3 samples of image/fashion-cm" in capsys.readouterr().out
    code = cli.main(["sample", "image/fashion-cm", "--local-files-only", "-n", "2", "--class", "Shoe",
                     "-o", str(tmp_path / "x.png")])
    assert code == 2 and "its classes: T-shirt/top, Trouser" in capsys.readouterr().err
    code = cli.main(["sample", "image/fashion-cm", "--local-files-only", "-n", "2", "-o", str(tmp_path / "x.jpg")])
    assert code == 2 and "['.png', '.npy']" in capsys.readouterr().err
    assert MODALITY.cli.sample_options(None, None) == {}  # no flags of its own: --class and --guidance are the zoo's


def test_smoke_datasets_are_small_rebuildable_image_data(tmp_path):
    datasets = MODALITY.smoke_datasets(tmp_path)
    assert "digits" in datasets  # scikit-learn is a dependency of the tests
    for name, data in datasets.items():
        assert isinstance(data, ImageData) and Path(data.path).parent == tmp_path
        assert len(data.images["train"]) <= 1000 and len(data.images["test"]) <= 1000
        assert MODALITY.dataset(**data.config()).config() == data.config()
        batch = data.batch(3, torch.Generator().manual_seed(0))
        assert set(batch) == {"x", "cond", "null_cond"} and batch["x"].shape == (3, *data.sample_shape)
        assert batch["null_cond"] == {"label": 10} and data.model_config() == {"null_cond": {"label": 10}}
