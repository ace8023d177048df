"""One segment of a training campaign: continue a released model, judge it against the release, bring it back.

    python3 scripts/campaign.py wheels                                on the CPU: .whl/, what the GPU lacks
    python3 scripts/campaign.py prepare NAME [key=value ...]          on the CPU: the recipe's data in .data/
    python3 scripts/campaign.py run NAME MINUTES OUT [key=value ...]  on the GPU (scripts/gpu_campaign.sh)
    python3 scripts/campaign.py unpack FILES                          on the CPU, after the call

NAME is a released model (``toy2d/ring8``); its recipe is ``recipes/NAME.yaml`` (the full preset unless
``preset=...`` is given) and its release ``model_cards/NAME``, the only weights the checkout needs.

``run`` makes sure the recipe's data is there (see ``data_overrides``), continues the release with
``zoo train --continue`` for MINUTES (``optim.max_minutes``), then ``zoo release --if-better`` against a
copy of the release, evaluating both on this machine with the same seed and n.  Into OUT it writes
``log.txt`` (by the shell script), ``verdict.json`` and the folder worth keeping as a tar in parts of
at most 15 MiB (``release.tar.*`` when the candidate is better: the release as it should become;
``candidate.tar.*`` otherwise: the continued run, which a later segment may continue).

``wheels`` downloads (from the package registry) the wheels of the dependencies a machine with only Python
and torch lacks, for CPython 3.12 on x86-64 Linux, into ``.whl/``; ``run`` works from the checkout
without installing it (it registers the checkout's modalities itself, see ``_use_checkout``).

``unpack FILES`` (the folder the files came back in) unpacks the tar into ``runs/campaign/NAME`` and,
for a better candidate, puts it in place of ``model_cards/NAME`` in one atomic exchange.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
PART = 15 * 2 ** 20  # the device returns files of at most 16 MiB
# what a GPU machine with Python, torch, torchaudio, huggingface_hub, numpy, scipy, pillow, matplotlib and tqdm lacks
WHEELS = ("trimesh", "biopython", "omegaconf", "soundfile", "cffi", "pycparser")
PURE_PYTHON = ("antlr4-python3-runtime==4.9.*",)  # omegaconf's parser: an sdist only, built here into a wheel
PLATFORM = ["--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
            "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64"]


def wheels() -> None:
    target = TOP / ".whl"
    target.mkdir(exist_ok=True)
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "download", "-q", "--no-deps", "--only-binary=:all:", *PLATFORM, "-d", str(target), *WHEELS],
                   check=True)
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", str(target), *PURE_PYTHON], check=True)
    found = sorted(target.glob("*.whl"))
    print(f"{len(found)} wheels in .whl/ ({sum(f.stat().st_size for f in found) / 2 ** 20:.1f} MiB)")


def _use_checkout() -> None:
    """Import zoo from this checkout; when it is not installed (no ``zoo.modalities`` entry points), give it
    the entry points of its pyproject.toml through a metadata-only distribution in a temporary folder."""
    from importlib.metadata import entry_points

    sys.path.insert(0, str(TOP))
    if list(entry_points(group="zoo.modalities")):
        return
    import tomllib

    project = tomllib.loads((TOP / "pyproject.toml").read_text())["project"]
    info = Path(tempfile.mkdtemp(prefix="zoo-checkout-")) / f"diffusion_zoo-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project["entry-points"]
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()) for group, entries in groups.items()))
    sys.path.insert(1, str(info.parent))


def _recipe_and_release(name: str) -> tuple[Path, Path]:
    recipe, release = TOP / "recipes" / f"{name}.yaml", TOP / "model_cards" / name
    if not recipe.is_file():
        raise SystemExit(f"campaign: no recipe {recipe.relative_to(TOP)} for {name!r}")
    if not (release / "model.safetensors").is_file():
        raise SystemExit(f"campaign: {release.relative_to(TOP)} has no model.safetensors to continue")
    return recipe, release


def data_overrides(recipe_path: Path, overrides: list[str]) -> list[str]:
    """The overrides that make the recipe's data loadable here: none when it loads as it is; else
    ``data.params.path=.data/<modality>/<data name>.npz`` when that file exists (what ``zoo data prepare``
    writes, carried from the CPU) or can be written here from an installed source."""
    from zoo.registry import modality
    from zoo.train import load_recipe

    recipe = load_recipe(recipe_path, overrides)
    declared = modality(recipe.modality)
    params = dict(recipe.data.params)
    try:
        declared.dataset(recipe.data.name, **params)
        return []
    except ValueError as error:
        first = error
    prepared = Path(".data") / recipe.modality / f"{recipe.data.name}.npz"
    if not prepared.is_file() and declared.prepare is not None and declared.source(recipe.data.name) is not None:
        try:
            declared.prepare(recipe.data.name, prepared)
        except ValueError as error:
            print(f"campaign: cannot prepare {prepared} here: {error}", file=sys.stderr)
    if prepared.is_file():
        declared.dataset(recipe.data.name, **{**params, "path": str(prepared)})
        return [f"data.params.path={prepared}"]
    raise SystemExit(f"campaign: the recipe's data does not load here ({first}); prepare it on a machine that has its "
                     f"source (zoo data prepare {recipe.modality} --source ... --out {prepared}) and carry .data")


def prepare(name: str, overrides: list[str]) -> None:
    recipe, _ = _recipe_and_release(name)
    extra = data_overrides(recipe, overrides)
    print(f"data ready for {name}" + (f" ({' '.join(extra)})" if extra else ""))


def _pack(folder: Path, out: Path, stem: str) -> list[Path]:
    """``folder`` as ``out/<stem>.tar.000``, ``.001``, ... of at most ``PART`` bytes each."""
    whole = out / f"{stem}.tar"
    with tarfile.open(whole, "w") as tar:
        tar.add(folder, arcname=folder.name)
    parts = []
    with open(whole, "rb") as handle:
        while chunk := handle.read(PART):
            parts.append(out / f"{stem}.tar.{len(parts):03d}")
            parts[-1].write_bytes(chunk)
    whole.unlink()
    return parts


def run(name: str, minutes: float, out: Path, overrides: list[str]) -> None:
    from zoo import cli
    from zoo.release import release as judge

    start = time.time()
    recipe, release = _recipe_and_release(name)
    out.mkdir(parents=True, exist_ok=True)
    overrides = [*overrides, *data_overrides(recipe, overrides), f"optim.max_minutes={minutes:g}"]
    code = cli.main(["train", str(recipe), "--continue", str(release), "--out", str(out / "run"), *overrides])
    if code:
        raise SystemExit(f"campaign: zoo train failed (exit {code})")
    trained = time.time()
    current = out / release.name
    shutil.copytree(release, current)
    verdict = judge(out / "run" / "model", current, report=lambda line: print(line, file=sys.stderr))
    print(f"{verdict.protocol}, n {verdict.n}, {verdict.device}: {verdict.metric.key} {verdict.candidate:.6g} (continued) "
          f"against {verdict.current:.6g} (release)")
    if verdict.better:
        parts = _pack(current, out, "release")
    else:
        candidate = (out / "run" / "model").rename(out / f"{release.name}-candidate")
        parts = _pack(candidate, out, "candidate")
        shutil.rmtree(candidate)
    shutil.rmtree(current)
    shutil.rmtree(out / "run")
    summary = {"name": name, "better": verdict.better, "metric": verdict.metric.key, "continued": verdict.candidate,
               "release": verdict.current, "protocol": verdict.protocol, "n": verdict.n, "device": verdict.device,
               "minutes": minutes, "train_seconds": round(trained - start, 1),
               "total_seconds": round(time.time() - start, 1), "parts": [p.name for p in parts]}
    (out / "verdict.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"campaign {name}: {'better: release.tar' if verdict.better else 'not better: candidate.tar'} "
          f"({len(parts)} part(s)); {summary['total_seconds'] / 60:.1f} min in all (budget {minutes:g} + 3)")


def unpack(files: Path) -> None:
    from zoo.files import exchange_folders

    summary = json.loads((files / "verdict.json").read_text())
    name, stem = summary["name"], "release" if summary["better"] else "candidate"
    target = TOP / "runs" / "campaign" / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    whole = target / f"{stem}.tar"
    with open(whole, "wb") as handle:
        for part in summary["parts"]:
            handle.write((files / part).read_bytes())
    with tarfile.open(whole) as tar:
        tar.extractall(target, filter="data")
    whole.unlink()
    (folder,) = [p for p in target.iterdir() if p.is_dir()]
    if not summary["better"]:
        print(f"not better than the release: the continued model is in {folder.relative_to(TOP)} "
              f"(continue it with zoo train ... --continue {folder.relative_to(TOP)})")
        return
    release = TOP / "model_cards" / name
    exchange_folders(folder, release)
    print(f"{release.relative_to(TOP)} now holds the better model; the one it replaced is in {folder.relative_to(TOP)}")


def main(argv: list[str]) -> None:
    if argv == ["wheels"]:
        return wheels()
    _use_checkout()
    if len(argv) >= 2 and argv[0] == "prepare":
        return prepare(argv[1], argv[2:])
    if len(argv) >= 4 and argv[0] == "run":
        return run(argv[1], float(argv[2]), Path(argv[3]), argv[4:])
    if len(argv) == 2 and argv[0] == "unpack":
        return unpack(Path(argv[1]))
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
