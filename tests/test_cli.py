import json
import subprocess
import sys

import pytest

from zoo import cli, core


def run(*args):
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_the_commands():
    out = run("--help")
    assert out.returncode == 0 and "samplers" in out.stdout


def test_samplers_lists_every_registered_sampler(capsys):
    assert cli.main(["samplers"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == core.samplers.names()


def test_samplers_check_reports_errors_that_fall_with_steps(capsys):
    errors = {}
    for steps in (5, 20):
        assert cli.main(["samplers", "--check", "--steps", str(steps), "-n", "200"]) == 0
        rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
        errors[steps] = {r[0]: float(r[2]) for r in rows}
    assert set(errors[5]) == set(core.samplers.names())
    for name in ("ddim", "dpmpp_2m", "unipc", "heun"):
        assert errors[20][name] < errors[5][name]


def test_bad_input_is_a_message_not_a_traceback():
    out = run("samplers", "--check", "--timesteps", "cosine")
    assert out.returncode == 2 and "unknown timestep placement 'cosine'" in out.stderr
    assert "Traceback" not in out.stderr


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("diffusion-zoo ")


def test_train_sample_animate_eval_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "recipes/toy2d/ring8.yaml", "--out", str(out), "preset=smoke", "optim.steps=20",
                     "log.checkpoint_every=20"]) == 0
    model = str(out / "model")
    assert cli.main(["sample", model, "-n", "64", "--steps", "4", "-o", str(tmp_path / "s.npy")]) == 0
    import numpy as np
    assert np.load(tmp_path / "s.npy").shape == (64, 2)
    assert cli.main(["animate", model, "--out", str(tmp_path / "a.gif"), "-n", "100", "--steps", "3"]) == 0
    assert (tmp_path / "a.gif").is_file() and (tmp_path / "a.png").is_file()
    capsys.readouterr()
    assert cli.main(["eval", model, "-n", "200", "--steps", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"] == "toy2d-eval/1" and report["modes"] == 8 and "log_likelihood" in report


@pytest.mark.parametrize("args, message", [
    (["train", "recipes/toy2d/ring8.yaml", "optim.lrr=1"], "lrr"),
    (["train", "recipes/toy2d/nope.yaml"], "does not exist"),
    (["sample", "toy2d/unicorn", "-o", "x.png"], "unknown model 'toy2d/unicorn'"),
    (["sample", "toy2d/ring8", "-o", "x.wav"], "writes"),
])
def test_user_mistakes_are_one_line_errors(args, message):
    out = run(*args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
