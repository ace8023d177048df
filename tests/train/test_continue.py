"""zoo train --continue: one history over many runs (zoo.train.loop, zoo.runs)."""
import csv
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from zoo import cli
from zoo.train import load_recipe, train
from zoo.train.checkpoint import checkpoint_step
from zoo.train.loop import STATE

RECIPE = "recipes/toy2d/ring8.yaml"
# a constant learning rate: a run of 120 steps and two runs of 60 see the same rates after the warm-up
SMOKE = ["preset=smoke", "optim.lr_schedule=constant", "log.every=20", "log.checkpoint_every=30"]


def record(folder):
    return json.loads((folder / "model" / "training" / "run.json").read_text())


def weights(folder, name="model/model.safetensors"):
    return load_file(folder / name)


def largest_difference(a, b):
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def runs_of_ring8(tmp_path_factory):
    """Run 'first' (60 steps), 'second' continuing it from its state (60 more), 'warm' continuing a copy
    of it without the state, and 'whole' (120 steps in one run)."""
    root = tmp_path_factory.mktemp("continue")
    train(load_recipe(RECIPE, SMOKE + ["optim.steps=60"]), root / "first")
    train(load_recipe(RECIPE, SMOKE + ["optim.steps=60"]), root / "second", continue_from=str(root / "first" / "model"))
    stateless = root / "stateless"
    import shutil

    shutil.copytree(root / "first" / "model", stateless)
    (stateless / STATE).unlink()
    train(load_recipe(RECIPE, SMOKE + ["optim.steps=60", "optim.warm_start_steps=10", "log.every=1"]), root / "warm",
          continue_from=str(stateless))
    train(load_recipe(RECIPE, SMOKE + ["optim.steps=120"]), root / "whole")
    return root


def test_continuing_adds_exactly_one_segment_and_the_totals_add_up(runs_of_ring8):
    first, second = record(runs_of_ring8 / "first"), record(runs_of_ring8 / "second")
    assert len(first["segments"]) == 1 and len(second["segments"]) == 2
    assert second["segments"][0] == first["segments"][0]
    new = second["segments"][1]
    assert (new["first_step"], new["last_step"], new["steps"], new["start"]) == (60, 120, 60, "state")
    assert new["continued"] == str(runs_of_ring8 / "first" / "model")
    assert new["device"].startswith("CPU, ") and new["processes"] == 1 and new["precision"] == "fp32"
    assert set(new) >= {"date", "commit", "seconds", "torch", "final_loss"}
    seconds = round(sum(s["seconds"] for s in second["segments"]), 1)
    assert second["totals"] == {"segments": 2, "steps": 120, "seconds": seconds, "by_device": {"CPU": seconds}}
    with open(runs_of_ring8 / "second" / "model" / "training" / "log.csv") as handle:
        assert [int(r["step"]) for r in csv.DictReader(handle)] == [20, 40, 60, 80, 100, 120]  # one history
    assert checkpoint_step(runs_of_ring8 / "second" / "model" / STATE) == 120
    card = (runs_of_ring8 / "second" / "model" / "README.md").read_text()
    assert "in 2 segments, 120 steps" in card and "| 2 | CPU, " in card and "| 60-120 |" in card


def test_the_training_state_continues_the_run_the_weights_came_from(runs_of_ring8):
    whole = weights(runs_of_ring8 / "whole")
    from_state = largest_difference(weights(runs_of_ring8 / "second"), whole)
    warm = largest_difference(weights(runs_of_ring8 / "warm"), whole)
    assert from_state < 1e-3, from_state  # only the bf16 optimizer moments of the state differ
    assert warm > 10 * from_state, (warm, from_state)  # a fresh optimizer is another trajectory
    state = weights(runs_of_ring8 / "second", f"model/{STATE}")
    assert {v.dtype for k, v in state.items() if k.startswith("optim.") and not k.endswith(".step")} == {torch.bfloat16}
    assert not any(k.startswith("ema.") for k in state)  # the EMA is the folder's model.safetensors


def test_without_a_state_the_run_warms_up_a_fresh_optimizer_from_the_recorded_step(runs_of_ring8):
    segment = record(runs_of_ring8 / "warm")["segments"][1]
    assert (segment["start"], segment["first_step"], segment["last_step"]) == ("warm", 60, 120)
    with open(runs_of_ring8 / "warm" / "log.csv") as handle:
        rows = {int(r["step"]): float(r["lr"]) for r in csv.DictReader(handle)}
    lr = load_recipe(RECIPE, SMOKE).optim.lr
    assert rows[61] == pytest.approx(lr / 10) and rows[65] == pytest.approx(lr / 2) and rows[70] == pytest.approx(lr)


def test_another_network_or_resume_with_continue_is_refused(runs_of_ring8):
    model = str(runs_of_ring8 / "first" / "model")
    with pytest.raises(ValueError, match=r"differs in network: \{'hidden': 64, 'depth': 2\} there, .*'hidden': 256"):
        train(load_recipe(RECIPE, ["optim.steps=1"]), runs_of_ring8 / "big", continue_from=model)
    with pytest.raises(ValueError, match="differs in .*prediction: 'eps' there, 'v' in this recipe"):
        train(load_recipe(RECIPE, SMOKE + ["diffusion.prediction=v"]), runs_of_ring8 / "v", continue_from=model)
    with pytest.raises(ValueError, match="pass it without --continue"):
        train(load_recipe(RECIPE, SMOKE), runs_of_ring8 / "second", resume=True, continue_from=model)
    with pytest.raises(ValueError, match="a continued run needs a folder of its own"):
        train(load_recipe(RECIPE, SMOKE), runs_of_ring8 / "first", continue_from=model)
    with pytest.raises(ValueError, match="no-such-folder"):
        train(load_recipe(RECIPE, SMOKE), runs_of_ring8 / "none", continue_from=str(runs_of_ring8 / "no-such-folder"))
    assert not (runs_of_ring8 / "big").exists() and not (runs_of_ring8 / "v").exists()


def test_the_cli_continues_into_a_fresh_folder_by_default(runs_of_ring8, monkeypatch, capsys):
    monkeypatch.chdir(runs_of_ring8)
    model = "second/model"
    args = ["train", os.path.join(os.path.dirname(__file__), "..", "..", RECIPE), *SMOKE, "optim.steps=20"]
    assert cli.main([*args, "--continue", model]) == 0
    assert cli.main([*args, "--continue", "runs/toy2d/ring8-cont1/model"]) == 0
    out = capsys.readouterr().out
    assert "runs/toy2d/ring8-cont1/model" in out and "runs/toy2d/ring8-cont2/model" in out
    assert [s["last_step"] for s in record(runs_of_ring8 / "runs/toy2d/ring8-cont2")["segments"]] == [60, 120, 140, 160]
    assert cli.main([*args, "--continue", model, "--resume", "--out", "x"]) == 2
    assert "pass it without --continue" in capsys.readouterr().err


KILLED = """
import os, signal, sys
from zoo.train import load_recipe, train
recipe = load_recipe(sys.argv[1], sys.argv[4:])
def hook(step, info):
    if step == 105:
        os.kill(os.getpid(), signal.SIGKILL)
train(recipe, sys.argv[2], continue_from=sys.argv[3], on_step=hook)
"""


@pytest.mark.slow
def test_a_killed_continued_run_resumes_bit_exactly(runs_of_ring8):
    killed = runs_of_ring8 / "killed"
    overrides = [*SMOKE, "optim.steps=60"]
    proc = subprocess.run([sys.executable, "-c", KILLED, RECIPE, str(killed), str(runs_of_ring8 / "first" / "model"),
                           *overrides], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    assert checkpoint_step(killed / "checkpoint.safetensors") == 90
    train(load_recipe(RECIPE, overrides), killed, resume=True)
    for name in ("model/model.safetensors", f"model/{STATE}", "checkpoint.safetensors"):
        assert largest_difference(weights(killed, name), weights(runs_of_ring8 / "second", name)) == 0, name
    assert record(killed)["segments"][1]["first_step"] == 60 and len(record(killed)["segments"]) == 2
    with open(killed / "log.csv") as handle:
        assert [int(r["step"]) for r in csv.DictReader(handle)] == [20, 40, 60, 80, 100, 120]
