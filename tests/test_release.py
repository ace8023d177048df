"""zoo release CANDIDATE CURRENT --if-better / --force (zoo.release)."""
import hashlib
import json
import shutil

import pytest
from safetensors.torch import load_file

from zoo import cards, cli
from zoo.names import MODEL_CARDS
from zoo.train import load_recipe, train

RECIPE = "recipes/toy2d/ring8.yaml"
SMOKE = ["preset=smoke", "optim.lr_schedule=constant", "log.every=20"]
N = ["-n", "300"]


def contents(folder):
    """Every file of a folder, by path, as its bytes' digest."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """'weak' (10 steps) and 'strong' (400 steps) smoke ring8 model folders, never modified: tests copy them."""
    root = tmp_path_factory.mktemp("release")
    train(load_recipe(RECIPE, SMOKE + ["optim.steps=10", "log.checkpoint_every=10"]), root / "weak")
    train(load_recipe(RECIPE, SMOKE + ["optim.steps=400", "log.checkpoint_every=400"]), root / "strong")
    return {name: root / name / "model" for name in ("weak", "strong")}


def copy(folder, to):
    shutil.copytree(folder, to)
    return to


def metric_lines(out):
    lines = out.splitlines()
    return {line.split()[0]: float(line.split()[-1]) for line in lines if line.startswith(("  candidate", "  current"))}


@pytest.mark.slow
def test_a_worse_candidate_leaves_current_byte_identical(models, tmp_path, capsys):
    current = copy(models["strong"], tmp_path / "current")
    before = contents(current)
    assert cli.main(["release", str(models["weak"]), str(current), "--if-better", *N]) == 0
    out = capsys.readouterr().out
    values = metric_lines(out)
    assert "sliced_w2" in out and "lower is better" in out and f"not better: {current} unchanged" in out
    assert values["candidate"] > values["current"]
    assert contents(current) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current"]  # no staging folder left behind


@pytest.mark.slow
def test_a_better_candidate_replaces_current_with_its_name_prose_and_record(models, tmp_path, capsys):
    current = copy(models["weak"], tmp_path / "current")
    config = current / "config.yaml"
    config.write_text(config.read_text().replace("name: toy2d/ring8", "name: toy2d/ring8-release"))
    for file, settings in (("reference.png", {}), ("old-output.png", {"sampler": "unipc", "steps": 8})):
        (current / "samples" / file).write_bytes(b"png")
        cards.add_sample(current, file, "the data" if not settings else "an output of the old weights", **settings)
    cards.write_card(current)
    card = current / "README.md"
    card.write_text(card.read_text().replace("## Intended use", "## Our notes\n\nKept by hand.\n\n## Intended use"))
    candidate_before = contents(models["strong"])
    assert cli.main(["release", str(models["strong"]), str(current), "--if-better", *N]) == 0
    out = capsys.readouterr().out
    values = metric_lines(out)
    assert values["candidate"] < values["current"] and f"better: {current} now holds" in out
    assert contents(models["strong"]) == candidate_before  # the candidate is only read
    new, strong = load_file(current / "model.safetensors"), load_file(models["strong"] / "model.safetensors")
    assert all((new[k] == strong[k]).all() for k in strong)
    assert "name: toy2d/ring8-release" in config.read_text()
    metrics = json.loads((current / "metrics.json").read_text())
    assert metrics["model"] == "toy2d/ring8-release" and metrics["n"] == 300
    assert metrics["sliced_w2"] == pytest.approx(values["candidate"], rel=1e-5)
    record = json.loads((current / "training" / "run.json").read_text())
    assert len(record["segments"]) == 1 and record["segments"][0]["steps"] == 400
    (entry,) = record["releases"]
    assert (entry["metric"], entry["verdict"], entry["forced"], entry["n"]) == ("sliced_w2", "better", False, 300)
    kept = {e["file"] for e in json.loads((current / "samples" / "manifest.json").read_text())["files"]}
    assert kept == {"samples.png", "reference.png"} and (current / "samples" / "reference.png").read_bytes() == b"png"
    assert not (current / "samples" / "old-output.png").exists()  # outputs of the replaced weights go with them
    text = card.read_text()
    assert "Kept by hand." in text and "- Released on " in text and "(better)" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current"]


@pytest.mark.slow
def test_force_replaces_a_worse_candidate_and_the_card_says_so(models, tmp_path, capsys):
    current = copy(models["strong"], tmp_path / "current")
    assert cli.main(["release", str(models["weak"]), str(current), "--force", *N]) == 0
    assert "not better, replaced anyway (--force" in capsys.readouterr().out
    weak, new = load_file(models["weak"] / "model.safetensors"), load_file(current / "model.safetensors")
    assert all((new[k] == weak[k]).all() for k in weak)
    caveat = cards.caveat((current / "README.md").read_text())
    assert "released with `--force` although not better than the model it replaced on sliced_w2" in caveat


@pytest.mark.parametrize("case, message", [
    ("not a folder", "CURRENT .*missing: .* is not a model folder"),
    ("another modality", "is a toy2d model, CURRENT .* a audio model"),
    ("other data", "other data: CANDIDATE .* was trained on 'ring8', CURRENT .* on 'moons'"),
    ("the same folder", "are the same folder"),
    ("no verdict flag", "exactly one of --if-better .* and --force"),
])
def test_bad_input_is_one_line_and_exit_2(models, tmp_path, capsys, case, message):
    import re

    current = {"not a folder": tmp_path / "missing", "another modality": MODEL_CARDS / "audio/diffwave",
               "other data": MODEL_CARDS / "toy2d/moons", "the same folder": models["weak"],
               "no verdict flag": models["strong"]}[case]
    before = contents(current) if current.exists() else None
    flags = [] if case == "no verdict flag" else ["--if-better"]
    assert cli.main(["release", str(models["weak"]), str(current), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
    assert (contents(current) if current.exists() else None) == before
