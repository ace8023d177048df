import json
import logging
import shutil
import subprocess
import sys

import pytest
import torch

import zoo
from zoo import cli, core

pytestmark = pytest.mark.usefixtures("one_thread")  # smoke-sized models and an exact 2-D mixture


def zoo_cli(capsys, *args):
    """``zoo ARGS`` in this process (no interpreter or torch start-up): (exit code, stdout, stderr).  An
    exception that escaped ``main`` would fail the test, as a traceback would have in a fresh process.  As in a
    fresh process, ``main`` sets up its own log handler on this test's stderr (not one left by an earlier call)."""
    logger = logging.getLogger("zoo")
    before = logger.handlers[:]
    for handler in before:
        logger.removeHandler(handler)
    capsys.readouterr()
    try:
        code = cli.main(list(args))
    except SystemExit as exit:  # argparse: --help, --version and usage errors
        code = exit.code
    finally:
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
        for handler in before:
            logger.addHandler(handler)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_lists_the_commands(capsys):
    code, out, _ = zoo_cli(capsys, "--help")
    assert code == 0 and "samplers" in out and "animate" in out  # the zoo's commands and the modalities'


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


def test_bad_input_is_a_message_not_a_traceback(capsys):
    code, _, err = zoo_cli(capsys, "samplers", "--check", "--timesteps", "cosine")
    assert code == 2 and "unknown timestep placement 'cosine'" in err
    assert "Traceback" not in err


def test_version():
    """In a fresh process, as a user starts it; ``zoo --version`` imports neither torch nor any modality."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "zoo.cli", "--version"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("diffusion-zoo ")
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "zoo" in imported and not {"torch", "modalities", "matplotlib"} & imported


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
    assert cli.main(["eval", model, "-n", "200", "--steps", "4", "--save"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"] == "toy2d-eval/1" and report["modes"] == 8 and "log_likelihood" in report
    assert json.loads((out / "model" / "metrics.json").read_text()) == report
    card = (out / "model" / "README.md").read_text()
    assert f"| `near_data` | {report['near_data']:.4g} |" in card
    assert f"zoo eval local-dir:{model} -n 200 --steps 4 --seed 0" in card
    run_record = json.loads((out / "model" / "training" / "run.json").read_text())
    (segment,) = run_record["segments"]
    assert segment["steps"] == segment["last_step"] == 20 and segment["processes"] == 1 and segment["seconds"] > 0
    assert run_record["totals"] == {"segments": 1, "steps": 20, "seconds": segment["seconds"],
                                    "by_device": {"CPU": segment["seconds"]}}
    assert (out / "model" / "training" / "log.csv").read_text() == (out / "log.csv").read_text()
    assert "20 steps" in card and "CPU" in card


def test_list_info_card_publish_and_sample_from_the_hub(tmp_path, hub, capsys):
    assert cli.main(["list", "--pretrained"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == zoo.list_models(pretrained=True)
    assert cli.main(["info", "toy2d/moons", "--local-files-only"]) == 0
    about = json.loads(capsys.readouterr().out)
    assert about["source"] == "embedded" and about["parameters"] > 0 and about["metrics"]["protocol"] == "toy2d-eval/1"
    assert about["summary"].startswith("`toy2d/moons` is a toy2d diffusion model")
    folder = tmp_path / "moons"
    shutil.copytree(zoo.hub.MODEL_CARDS / "toy2d/moons", folder)
    (folder / "README.md").unlink()
    assert cli.main(["card", str(folder)]) == 0 and "<!-- zoo:metrics -->" in (folder / "README.md").read_text()
    assert cli.main(["publish", str(folder), "--repo-id", "me/moons", "--dry-run", "--endpoint", hub.url]) == 0
    assert "would publish to me/moons@main" in capsys.readouterr().out and hub.requests == []
    assert cli.main(["publish", str(folder), "--repo-id", "me/moons", "--endpoint", hub.url]) == 0
    assert "published" in capsys.readouterr().out
    out = tmp_path / "s.npy"
    assert cli.main(["sample", "hf-hub:me/moons", "--endpoint", hub.url, "--cache-dir", str(tmp_path / "c"),
                     "-n", "10", "--steps", "3", "-o", str(out)]) == 0
    import numpy as np
    expected = zoo.load("toy2d/moons", local_files_only=True).sample(10, steps=3, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(np.load(out), expected.numpy())


@pytest.mark.slow
def test_demo_samples_every_released_model(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--local-files-only"]) == 0
    page = (tmp_path / "index.html").read_text()
    for name in zoo.list_models(pretrained=True):
        suffix = zoo.registry.modality(name.split("/")[0]).preview_format.suffix
        assert f"<h2>{name}</h2>" in page and f'src="{name}{suffix}"' in page
        assert (tmp_path / f"{name}{suffix}").read_bytes()[:4] == (b"\x89PNG" if suffix == ".png" else b"RIFF")
        assert zoo.info(name, local_files_only=True).summary.split("`")[1] in page


@pytest.mark.parametrize("args, message", [
    (["train", "recipes/toy2d/ring8.yaml", "optim.lrr=1"], "lrr"),
    (["train", "recipes/toy2d/nope.yaml"], "does not exist"),
    (["sample", "toy2d/unicorn", "-o", "x.png"], "unknown model 'toy2d/unicorn'"),
    (["sample", "toy2d/ring8", "-o", "x.wav"], "toy2d samples are written as"),
    (["info", "hf-hub:nobody"], "hf-hub:<org>/<repo>"),
    (["publish", "recipes", "--repo-id", "me/x", "--dry-run"], "no config.yaml"),
    (["publish", "model_cards/toy2d/ring8", "--repo-id", "bad", "--dry-run"], "repo_id must be"),
    (["card", "nowhere"], "nowhere"),
])
def test_user_mistakes_are_one_line_errors(capsys, args, message):
    code, _, err = zoo_cli(capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_audio_from_the_command_line(tmp_path, capsys):
    from modalities.audio import io as audio_io
    from tests.helpers import write_tiny_clips

    clips = write_tiny_clips(tmp_path / "clips.npz")
    run_dir = tmp_path / "run"
    assert cli.main(["train", "recipes/audio/diffwave.yaml", "preset=smoke", f"data.params.path={clips}",
                     "--out", str(run_dir)]) == 0
    model = str(run_dir / "model")
    wav = tmp_path / "in.wav"
    audio_io.write_audio(wav, 0.3 * torch.sin(torch.arange(16000) * 0.05), 16000)
    assert cli.main(["sample", model, "--from-wav", str(wav), "-o", str(tmp_path / "out.flac"), "--steps", "2",
                     "--sampler", "ddim", "--timesteps", "logsnr"]) == 0
    out, rate = audio_io.read_audio(tmp_path / "out.flac")
    assert rate == 22050 and out.shape == (22050,)
    loaded = zoo.load(model)
    mel = loaded.frontend(out[:2560])
    np_path = tmp_path / "mel.npy"
    import numpy as np
    np.save(np_path, mel.numpy())
    assert cli.main(["sample", model, "--mel", str(np_path), "-o", str(tmp_path / "m.wav")]) == 0
    assert audio_io.read_audio(tmp_path / "m.wav")[0].shape == (2560,)
    capsys.readouterr()
    assert cli.main(["eval", model, "-n", "1", "--save"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"] == "audio-vocoder-eval/1" and report["n"] == 1 and report["mrstft"] > 0
    assert report["griffin_lim_64"]["mrstft"] > 0 and report["real_time_factor"] > 0
    assert "| `mrstft` |" in (run_dir / "model" / "README.md").read_text()
    for args, message in ((["sample", model, "-o", str(tmp_path / "x.wav")], "give it --from-wav"),
                          (["sample", "toy2d/ring8", "--from-wav", str(wav), "-o", str(tmp_path / "x.png")],
                           "--from-wav: audio option(s); toy2d/ring8 is a toy2d model")):
        assert cli.main(args) == 2
        assert message in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="apt-get install espeak-ng")
def test_data_prepare_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "digits.npz"
    assert cli.main(["data", "prepare", "audio", "--source", "digits", "--out", str(out), "n=12"]) == 0
    from modalities.audio.data import AudioClips
    assert len(AudioClips(out, "train")) + len(AudioClips(out, "heldout")) == 12
    assert cli.main(["data", "prepare", "audio", "--source", "nope", "--out", str(out)]) == 2
    assert "nope" in capsys.readouterr().err


def test_sample_a_class_with_guidance_to_a_png_grid(tmp_path, capsys):
    from PIL import Image

    from zoo.train import load_recipe, train

    train(load_recipe("recipes/image/mnist.yaml", ["preset=smoke"]), tmp_path / "run")
    folder = str(tmp_path / "run" / "model")
    out = tmp_path / "grid.png"
    assert cli.main(["sample", folder, "--class", "3", "-n", "16", "--guidance", "2", "--steps", "2",
                     "-o", str(out)]) == 0
    assert "16 samples" in capsys.readouterr().out and Image.open(out).size[0] > 4 * 64
    assert cli.main(["sample", folder, "--class", "12", "-n", "2", "-o", str(out)]) == 2
    assert "class labels must lie in 0..9, got 12..12" in capsys.readouterr().err
    assert cli.main(["sample", "toy2d/ring8", "--class", "1", "-n", "2", "-o", str(tmp_path / "p.png")]) == 2
    assert "--class needs a class-conditional model" in capsys.readouterr().err


def test_sample_a_point_cloud_class_by_name_to_ply_and_prepare_furniture(tmp_path, capsys):
    import trimesh

    from tests.modalities.pointcloud.test_data import write_library
    from zoo.train import load_recipe, train

    train(load_recipe("recipes/pointcloud/shapes.yaml", ["preset=smoke"]), tmp_path / "run")
    folder = str(tmp_path / "run" / "model")
    assert cli.main(["sample", folder, "--class", "torus", "-n", "1", "--steps", "2", "-o", str(tmp_path / "t.ply")]) == 0
    assert len(trimesh.load(tmp_path / "t.ply").vertices) == 64  # the smoke preset's N
    assert cli.main(["sample", folder, "--class", "teapot", "-o", str(tmp_path / "t.ply")]) == 2
    assert "unknown class 'teapot'" in capsys.readouterr().err
    assert cli.main(["sample", folder, "-o", str(tmp_path / "t.wav")]) == 2
    assert ".ply" in capsys.readouterr().err
    write_library(tmp_path / "lib.sh3f", 10)
    out = tmp_path / "furniture.npz"
    assert cli.main(["data", "prepare", "pointcloud", "--source", "furniture", "--out", str(out),
                     f"directory={tmp_path}"]) == 0
    from modalities.pointcloud.data import load_arrays
    assert len(load_arrays("furniture", str(out))["train_points"]) == 9


def test_protein_backbones_and_motif_scaffolds_from_the_command_line(tmp_path, capsys):
    from modalities.protein import io as pio
    from modalities.protein.geometry import ideal_helix
    from zoo.train import load_recipe, train

    train(load_recipe("recipes/protein/backbone.yaml", ["preset=smoke"]), tmp_path / "run")
    folder = str(tmp_path / "run" / "model")
    out = tmp_path / "out"
    assert cli.main(["sample", folder, "--length", "30", "-n", "2", "--steps", "2", "-o", f"{out}/"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["backbone_000.pdb", "backbone_001.pdb"]
    assert len(pio.chains_from_structure(pio.read_structure(out / written[1]))[0]) == 30
    pio.write_backbone(tmp_path / "motif.pdb", ideal_helix(20))
    assert cli.main(["sample", folder, "--motif", str(tmp_path / "motif.pdb"), "--contig", "5,A3-12,4", "-n", "2",
                     "--steps", "2", "-o", str(tmp_path / "scaffold.cif")]) == 0
    printed = capsys.readouterr().out
    assert "scaffold_001.cif: 19 residues, motif at positions 6-15, motif RMSD" in printed
    assert cli.main(["sample", folder, "--length", "30", "-n", "1", "--steps", "2", "--potential", "none",
                     "--potential", "clash=1", "-o", str(tmp_path / "x.pdb")]) == 2
    assert "'none' alone" in capsys.readouterr().err
    assert len(pio.chains_from_structure(pio.read_structure(tmp_path / "scaffold_001.cif"))[0]) == 19
    for args, message in [(["--motif", "m.pdb"], "--motif and --contig go together"),
                          (["--motif", str(tmp_path / "motif.pdb"), "--contig", "5,B1-3"], "no chain 'B'"),
                          (["--motif", str(tmp_path / "motif.pdb"), "--contig", "A1-5", "--length", "9"], "--length"),
                          (["--length", "1"], "at least 2 residues")]:
        assert cli.main(["sample", folder, *args, "-o", str(tmp_path / "x.pdb")]) == 2
        assert message in capsys.readouterr().err
    assert cli.main(["sample", "toy2d/ring8", "--length", "30", "-o", str(tmp_path / "x.png")]) == 2
    assert "--length: protein option(s); toy2d/ring8 is a toy2d model" in capsys.readouterr().err
