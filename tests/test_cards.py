import json
import shutil

import pytest

from zoo import cards, hub
from zoo.files import read_yaml
from zoo.folder import count_parameters

TOY2D = ["toy2d/checkerboard", "toy2d/moons", "toy2d/ring8", "toy2d/swissroll"]
AUDIO = ["audio/diffwave", "audio/diffwave-digits"]
IMAGE = ["image/fashion", "image/fashion-dit", "image/fashion-ldm", "image/mnist"]
POINTCLOUD = ["pointcloud/furniture", "pointcloud/shapes"]
PROTEIN = ["protein/backbone"]
SECTIONS = ["summary", "intended_use", "usage", "samples", "data", "training", "sampling", "metrics", "limitations"]


@pytest.mark.parametrize("name", TOY2D + AUDIO + IMAGE + POINTCLOUD + PROTEIN)
def test_released_cards_are_up_to_date_and_complete(name):
    folder = hub.MODEL_CARDS / name
    card = (folder / "README.md").read_text()
    assert cards.render(folder, existing=card) == card, "regenerate with: zoo card " + str(folder)
    for section in SECTIONS:
        assert f"<!-- zoo:{section} -->" in card, section
    meta = cards.front_matter(card)
    assert meta["library_name"] == "zoo" and meta["license"] == "apache-2.0"
    metrics = json.loads((folder / "metrics.json").read_text())
    results = {m["type"]: m for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert results and all(r["config"] == metrics["protocol"] for r in results.values())
    assert all(r["value"] == metrics[k] for k, r in results.items())
    for entry in json.loads((folder / "samples" / "manifest.json").read_text())["files"]:
        assert (folder / "samples" / entry["file"]).is_file() and f"samples/{entry['file']}" in card
    assert "model_name:" not in card


@pytest.mark.parametrize("name", IMAGE)
def test_image_cards_say_they_are_cpu_trained_and_name_the_local_fd(name):
    card = (hub.MODEL_CARDS / name / "README.md").read_text()
    assert "CPU-trained, not the final checkpoint" in card
    assert "FD (local classifier)" in card and "FID" not in card.replace("not FID", "").replace("published FIDs", "")


@pytest.mark.parametrize("name", AUDIO)
def test_audio_cards_say_they_are_cpu_trained(name):
    card = (hub.MODEL_CARDS / name / "README.md").read_text()
    assert "CPU-trained, not the final checkpoint" in card
    assert ("real_time_factor" in card) == (name == "audio/diffwave")  # the vocoder's speed is measured
    seconds = json.loads((hub.MODEL_CARDS / name / "metrics.json").read_text()).get("eval_seconds")
    assert "| `eval_seconds` |" not in card  # how long the evaluation ran says how it was run, not how good
    assert seconds is None or f"the evaluation took {seconds / 60:.1f} min" in card


@pytest.mark.parametrize("name", POINTCLOUD)
def test_pointcloud_cards_say_where_and_how_long_they_trained_and_give_the_protocol(name):
    folder = hub.MODEL_CARDS / name
    card = (folder / "README.md").read_text()
    (run,) = json.loads((folder / "training" / "run.json").read_text())["segments"]
    assert run["device"] == "NVIDIA H100 80GB HBM3" and "time limit" in run["stopped"]
    assert "CPU-trained" not in card and f"Hardware and time: trained {run['seconds'] / 60:.1f} min on {run['device']} in one segment" in card
    assert "--device cuda" in card  # the reproduce command of a GPU measurement
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["points"] == 2048 and metrics["normalization"] == "unit_sphere"
    assert "2048 points, normalisation `unit_sphere`" in card and "approximate" in card


@pytest.mark.parametrize("name", TOY2D)
def test_toy2d_cards_give_the_numbers_of_their_runs(name):
    folder = hub.MODEL_CARDS / name
    card = (folder / "README.md").read_text()
    assert "toy2d" in cards.front_matter(card)["tags"]
    assert f'zoo.load("{name}")' in card and f"zoo eval {name} -n 4000 --steps 20 --seed 0" in card
    (run,) = json.loads((folder / "training" / "run.json").read_text())["segments"]
    assert f"| 1 | {run['device']} | 1 | fp32 | 0-20,000 | {run['seconds'] / 60:.1f} |" in card
    recipe = read_yaml(folder / "training" / "recipe.yaml")
    assert f"zoo train recipes/toy2d/{recipe['name']}.yaml" in card


def test_regenerating_keeps_hand_written_prose(tmp_path):
    folder = tmp_path / "ring8"
    shutil.copytree(hub.MODEL_CARDS / "toy2d/ring8", folder)
    card = (folder / "README.md").read_text()
    edited = card.replace("## Intended use", "## Our story\n\nKept by hand.\n\n## Intended use")
    edited = edited.replace("library_name: zoo", "library_name: zoo\nbase_model: someone/else")
    edited = edited.replace("- synthetic-data", "- synthetic-data\n- my-tag")
    (folder / "README.md").write_text(edited)
    (folder / "metrics.json").write_text(json.dumps({**json.loads((folder / "metrics.json").read_text()),
                                                     "near_data": 0.123}))
    cards.write_card(folder)
    again = (folder / "README.md").read_text()
    assert "## Our story\n\nKept by hand." in again and "| `near_data` | 0.123 |" in again
    meta = cards.front_matter(again)
    assert meta["base_model"] == "someone/else" and "my-tag" in meta["tags"] and "diffusion-zoo" in meta["tags"]
    assert f'zoo.load("local-dir:{folder}")' in again  # a copy is not the released model


def test_a_card_without_markers_keeps_its_text_and_gains_the_sections(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(hub.MODEL_CARDS / "toy2d/moons", folder)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# My moons\n\nA model I wrote about myself.\n")
    cards.write_card(folder)
    card = (folder / "README.md").read_text()
    assert card.index("A model I wrote about myself.") < card.index("<!-- zoo:summary -->")
    assert card.count("# My moons") == 1 and "# toy2d/moons" not in card
    meta = cards.front_matter(card)
    assert meta["license"] == "mit" and meta["library_name"] == "zoo"  # the owner's licence stays


def test_summary_and_front_matter_of_odd_cards():
    assert cards.front_matter("no front matter") == {}
    assert cards.front_matter("---\n: : bad yaml [\n---\ntext") == {}
    assert cards.summary("---\na: 1\n---\n# Title\n\nFirst words.\n\nMore.") == "First words."
    assert cards.summary("") == ""


def test_a_card_shows_each_sample_file_as_its_format_declares_and_each_source_with_its_licence(tmp_path):
    folder = tmp_path / "ring8"
    shutil.copytree(hub.MODEL_CARDS / "toy2d/ring8", folder)
    cards.add_sample(folder, "points.csv", "the same points as numbers")
    card = cards.render(folder)
    assert '<img src="samples/samples.png" alt="1000 samples' in card  # .png: a picture
    assert '<a href="samples/points.csv">the same points as numbers</a>' in card  # .csv: a link
    assert cards.embed("toy2d", "x&y.png", 'a "b"') == '<img src="x&amp;y.png" alt="a &quot;b&quot;">'
    assert "`ring8`: 8 Gaussians (std 0.1) evenly spaced on a circle of radius 2.  Licence of the data: apache-2.0" in card


def test_manifest_entries_replace_older_ones(tmp_path):
    cards.add_sample(tmp_path, "a.png", "first", steps=4)
    cards.add_sample(tmp_path, "b.npy", "other")
    cards.add_sample(tmp_path, "a.png", "second", steps=8, seed=None)
    files = json.loads((tmp_path / "samples" / "manifest.json").read_text())["files"]
    assert files == [{"file": "a.png", "what": "second", "steps": 8}, {"file": "b.npy", "what": "other"}]


def test_parameters_are_counted_from_the_header(tmp_path):
    model = hub.load("toy2d/ring8", local_files_only=True)
    assert count_parameters(hub.MODEL_CARDS / "toy2d/ring8/model.safetensors") == sum(
        p.numel() for p in model.network.parameters())
    (tmp_path / "x.safetensors").write_bytes(b"nope")
    with pytest.raises(ValueError, match="x.safetensors: not a readable safetensors file"):
        count_parameters(tmp_path / "x.safetensors")


def test_protein_card_says_cpu_trained_names_its_data_and_compares_with_real_chains():
    folder = hub.MODEL_CARDS / "protein/backbone"
    card = (folder / "README.md").read_text()
    assert "CPU-trained, not the final checkpoint" in card and json.loads(
        (folder / "training" / "run.json").read_text())["segments"][0]["device"].startswith("CPU, ")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["protocol"] == "protein-backbone-eval/1" and "not computed" in metrics["designability"]
    assert set(metrics["real_chains"]) >= {"bonds_within", "clash_rate", "rama_disallowed", "sse_helix"}
    assert "| real_chains |" in card and "849 chains" in card and "--contig" in card
    assert f"zoo eval protein/backbone -n {metrics['n']} --steps {metrics['steps']}" in card
