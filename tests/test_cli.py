import subprocess
import sys

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
