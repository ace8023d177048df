"""A modality from another package: registered through the ``zoo.modalities`` entry point of a
temporary distribution, it is listed, loaded, sampled and described by the ``zoo`` command with no
change to zoo/."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

PLUGIN = '''
"""A third party's modality: 3-vectors, a linear denoiser, .npy files."""
from pathlib import Path

import numpy as np
import torch
from torch import nn

import zoo
from zoo.modality import CardFacts, DataSource, Dataset, Metric, Modality, Release, SampleFormat

HERE = Path(__file__).resolve().parent


@zoo.register("vec3/linear")
def linear(width: int = 3) -> nn.Module:
    return Net(width)


class Net(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.layer = nn.Linear(width + 1, width)

    def forward(self, x, noise_label):
        return self.layer(torch.cat([x, noise_label.float()[:, None].expand(len(x), 1) / 1000], dim=1))


class Gaussians(Dataset):
    sample_shape = (3,)

    def batch(self, n, generator):
        return {"x": torch.randn(n, 3, generator=generator)}

    def config(self):
        return {"name": "gaussians"}


def write(x, path, *, model, title="", mask=None):
    path = Path(path)
    with open(path, "wb") as handle:
        np.save(handle, x.detach().cpu().numpy())
    return [path]


def read(path):
    return torch.from_numpy(np.load(path))


SOURCE = DataSource("gaussians", "`gaussians`: standard normal 3-vectors.", "CC0-1.0")
MODALITY = Modality(
    name="vec3", dataset=lambda name="gaussians": Gaussians(), formats=(SampleFormat(".npy", write, read),),
    evaluate=lambda model, data, **options: {"protocol": "vec3/1", "n": 1, "steps": 1, "seed": 0, "norm": 1.0},
    primary=Metric("norm", "mean norm", True), card=lambda config: CardFacts(sources=(SOURCE,), tags=("vec3",)),
    sources=(SOURCE,), smoke_datasets=lambda folder: {"gaussians": Gaussians()},
    releases=(Release("vec3/tiny", "vec3/linear", "someone/vec3-tiny", embedded=HERE / "tiny"),))
'''


def _make_plugin(root: Path) -> Path:
    """A package ``vec3plugin`` with a distribution declaring its entry point, importable from ``root``."""
    package = root / "vec3plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    info = root / "vec3plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vec3plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[zoo.modalities]\nvec3 = vec3plugin:MODALITY\n")
    return package


_COMMANDS = textwrap.dedent("""
    import contextlib, io, json, sys
    from zoo import cli
    done = []
    for args in json.loads(sys.argv[1]):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(args)
        done.append({"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
    print(json.dumps(done))
    """)


def _zoo(root: Path, *commands: list[str]) -> list[subprocess.CompletedProcess]:
    """The ``zoo`` commands, one after another in one fresh process (one interpreter and torch start-up, rather
    than one each) with the plug-in importable from ``root``: each command's exit code, stdout and stderr."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(Path.cwd())]), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", _COMMANDS, json.dumps(commands)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    return [subprocess.CompletedProcess(args, **done) for args, done in zip(commands, json.loads(run.stdout.splitlines()[-1]))]


def test_a_modality_from_another_package_is_listed_loaded_sampled_and_described(tmp_path):
    package = _make_plugin(tmp_path / "site")
    # its released weights: a model folder inside the plug-in's package, written by zoo.save
    made = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import torch, zoo
        from zoo.model import ZooModel
        torch.manual_seed(0)
        config = {{"name": "vec3/tiny", "modality": "vec3", "architecture": "vec3/linear", "network": {{}},
                  "schedule": {{"name": "DDPM"}}, "prediction": "eps", "sample_shape": [3],
                  "data": {{"name": "gaussians"}}, "sampling": {{"sampler": "ddim", "steps": 4}}}}
        zoo.registry.modality("vec3")
        zoo.save(ZooModel.from_config(config), {str(package / 'tiny')!r}, samples=5)
        """)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}."},
        timeout=300)
    assert made.returncode == 0, made.stderr
    out = tmp_path / "x.npy"
    # zoo sample first: it finds the plug-in's modality and architecture from nothing loaded
    sampled, listed, info, wrong = _zoo(tmp_path / "site", ["sample", "vec3/tiny", "-n", "6", "-o", str(out)],
                                        ["list", "vec3/*"], ["info", "vec3/tiny"],
                                        ["sample", "vec3/tiny", "-o", str(tmp_path / "x.png")])
    assert sampled.returncode == 0, sampled.stderr
    assert np.load(out).shape == (6, 3) and "wrote 6 samples of vec3/tiny" in sampled.stdout
    assert listed.returncode == 0, listed.stderr
    assert "vec3/tiny" in listed.stdout and "someone/vec3-tiny@main" in listed.stdout
    assert "vec3/linear" in listed.stdout and "architecture" in listed.stdout
    assert info.returncode == 0, info.stderr
    described = json.loads(info.stdout)
    assert described["modality"] == "vec3" and described["source"] == "embedded" and described["parameters"] == 15
    assert described["sampler"] == "ddim" and described["steps"] == 4
    card = (package / "tiny" / "README.md").read_text()
    assert "`gaussians`: standard normal 3-vectors.  Licence of the data: CC0-1.0." in card
    assert wrong.returncode == 2 and "vec3 samples are written as ['.npy'], not '.png'" in wrong.stderr
