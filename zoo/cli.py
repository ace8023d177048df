"""The ``zoo`` command.  ``zoo --help`` lists the commands; each has its own ``--help``.

Under ``torchrun --nproc_per_node=N -m zoo.cli train ...`` the same training runs on N processes.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _samplers(args: argparse.Namespace) -> int:
    """List the core's samplers; with --check, run each on an exact 2-D mixture and report its error."""
    import torch

    from zoo import core

    if not args.check:
        for name in core.samplers.names():
            spec = core.samplers.get(name)
            kind = "stochastic" if spec.stochastic else "deterministic"
            opts = ", ".join(f"{k}={v}" for k, v in spec.defaults.items())
            print(f"{name:16s} order {spec.order}  {kind:13s} {opts}")
        return 0
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    mixture = core.mixture.GaussianMixture.ring()
    schedule = core.schedules.DDPM()
    denoiser = core.Denoiser(mixture.model(schedule, "eps"), schedule, "eps")
    x_T = torch.randn(args.n, 2, generator=torch.Generator().manual_seed(args.seed), dtype=torch.float64)
    core.timesteps.make(schedule, args.steps, args.timesteps)  # a bad placement fails before any work
    reference = core.sample(denoiser, x_T, sampler="ode", timesteps=torch.tensor([1.0, 1e-7]), rtol=1e-10, atol=1e-10)
    data = mixture.sample(args.n, torch.Generator().manual_seed(args.seed + 1))
    print(f"ring of 8 Gaussians (std 0.1), DDPM linear T=1000, eps prediction, exact denoiser, {args.n} samples, "
          f"{args.steps} steps, timesteps={args.timesteps}")
    print(f"{'sampler':16s} {'NFE':>5s} {'error to ODE':>13s} {'sliced W2':>10s}")
    for name in core.samplers.names():
        x, info = core.sample(denoiser, x_T, sampler=name, steps=args.steps, timesteps=args.timesteps,
                              generator=torch.Generator().manual_seed(args.seed + 2), return_info=True)
        error = (x - reference).norm(dim=1).mean().item()
        sw = core.mixture.sliced_wasserstein(x, data, generator=torch.Generator().manual_seed(0))
        print(f"{name:16s} {info.nfe:5d} {error:13.4f} {sw:10.4f}")
    return 0


def _train(args: argparse.Namespace) -> int:
    """Train a recipe: zoo train RECIPE.yaml [key=value ...] [--resume] [--continue MODEL] [--out DIR]."""
    from zoo.train import load_recipe, train

    recipe = load_recipe(args.recipe, args.overrides)
    out = Path(args.out) if args.out else _default_run_folder(recipe, continued=args.continue_from is not None)
    train(recipe, out, resume=args.resume, continue_from=args.continue_from)
    if os.environ.get("RANK", "0") == "0":
        print(f"trained {recipe.modality}/{recipe.name}: model folder {out / 'model'}")
    return 0


def _default_run_folder(recipe, *, continued: bool) -> Path:
    """runs/<modality>/<name>; a continued run gets the first free runs/<modality>/<name>-cont<k>, so that
    continuing the model of the default folder never lands in that folder."""
    base = Path("runs") / recipe.modality / recipe.name
    if not continued:
        return base
    k = 1
    while (folder := base.with_name(f"{recipe.name}-cont{k}")).exists():
        k += 1
    return folder


def _release(args: argparse.Namespace) -> int:
    """Evaluate two model folders alike (same suite, seed and n) and replace CURRENT by CANDIDATE only if it
    is better on the modality's primary metric (--if-better), or regardless (--force, said in the card)."""
    from zoo.release import release

    if args.if_better == args.force:
        raise ValueError("pass exactly one of --if-better (replace CURRENT only if CANDIDATE is better) and --force")
    if args.n is not None and args.n < 1:
        raise ValueError(f"-n must be >= 1, got {args.n}")
    verdict = release(args.candidate, args.current, force=args.force, n=args.n, seed=args.seed, device=_device(args),
                      report=lambda line: print(line, file=sys.stderr))
    for note in verdict.notes:
        print(f"note: {note} (both evaluated on CURRENT's data)", file=sys.stderr)
    direction = "lower" if verdict.metric.lower_is_better else "higher"
    print(f"{verdict.protocol}, n {verdict.n}, seed {verdict.seed}, {verdict.device}: {verdict.metric.key} "
          f"({verdict.metric.label}; {direction} is better)")
    print(f"  candidate {args.candidate}: {verdict.candidate:.6g}")
    print(f"  current   {args.current}: {verdict.current:.6g}")
    if verdict.better:
        print(f"better: {args.current} now holds {args.candidate}")
    elif verdict.replaced:
        print(f"not better, replaced anyway (--force, recorded in the card): {args.current} now holds {args.candidate}")
    else:
        print(f"not better: {args.current} unchanged")
    return 0


def _hub_options(args: argparse.Namespace) -> dict:
    given = vars(args)
    return {k: given[k] for k in ("revision", "local_files_only", "cache_dir", "endpoint", "token")
            if given.get(k) not in (None, False)}


def _device(args: argparse.Namespace) -> str:
    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device is available here")
    return device


def _load(args: argparse.Namespace):
    """The model ``args.model`` names, on ``--device``, with the loading options of ``_loading_arguments``."""
    from zoo.loading import load

    return load(args.model, device=_device(args), **_hub_options(args))


def _list(args: argparse.Namespace) -> int:
    """List model names (shell wildcards); --pretrained: only those with released weights."""
    from zoo import registry

    released = registry.releases()
    for name in registry.list_models(args.filter or "", modality=args.modality, pretrained=args.pretrained):
        release = released.get(name)
        print(f"{name:28s} " + (f"weights: {release.repo_id}@{release.revision}" if release else "architecture"))
    return 0


def _info(args: argparse.Namespace) -> int:
    """Show a model's card data: where it loads from, size, sampling defaults, measured metrics."""
    from dataclasses import asdict

    from zoo.loading import info

    found = asdict(info(args.model, **_hub_options(args)))
    found["path"] = str(found["path"])
    print(json.dumps(found, indent=2))
    return 0


def _publish(args: argparse.Namespace) -> int:
    """Publish a model folder to a Hugging Face Hub repo in one commit (--dry-run: check and show only)."""
    from zoo.publishing import publish

    done = publish(args.folder, args.repo_id, revision=args.revision, private=args.private or None,
                       endpoint=args.endpoint, token=args.token, dry_run=args.dry_run)
    if args.dry_run:
        print(f"dry run: would publish to {done.repo_id}@{done.revision}:")
        for file in done.files:
            print(f"  {file}")
        return 0
    print(f"published {args.folder} to {done.repo_id}@{done.revision}: commit {done.commit} ({done.url})"
          + (f"; deleted {done.deleted}" if done.deleted else ""))
    return 0


def _card(args: argparse.Namespace) -> int:
    """Regenerate a model folder's README.md card (hand-written prose outside the zoo markers is kept)."""
    from zoo import cards

    path = cards.write_card(args.folder, load_name=args.name)
    print(f"wrote {path}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Sample every released model into --out with an index.html of their cards and outputs."""
    from zoo import demo

    index = demo.build(args.out, names=args.models or None, seed=args.seed, device=_device(args),
                       threads=args.threads or None, **_hub_options(args))
    print(f"wrote {index}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    """Sample a model and write the result in its modality's format (by the extension of -o)."""
    import torch

    from zoo.registry import modality

    model = _load(args)
    declared = modality(model.config["modality"])
    _refuse_foreign_flags(args, declared.name)
    out = Path(args.out)
    if args.out.endswith(("/", os.sep)) or out.is_dir():  # a folder: files named after the model
        out = out / f"{model.name.rsplit('/', 1)[-1]}{declared.folder_format or declared.preview_format.suffix}"
    fmt = declared.format(out.suffix)
    out.parent.mkdir(parents=True, exist_ok=True)
    options = {k: v for k, v in (("steps", args.steps or declared.defaults.steps), ("sampler", args.sampler),
                                 ("timesteps", args.timesteps)) if v}
    generator = torch.Generator().manual_seed(args.seed)
    done = declared.cli.sample_runner(model, args, out, generator, options)
    if done is not None:
        print(done)
        return 0
    options.update(declared.cli.sample_options(model, args))
    if args.label is not None:
        if not model.num_classes:
            raise ValueError(f"--class needs a class-conditional model; {args.model} takes no class")
        options["cond"] = args.label
    if args.guidance is not None:
        options["guidance"] = args.guidance
    n = args.n or declared.defaults.n
    x, info = model.sample(n, generator=generator, return_info=True, **options)
    written = fmt.write(x, out, model=model, title=f"{model.name}: {info.sampler}, NFE {info.nfe}")
    print(f"wrote {n} sample{'' if n == 1 else 's'} of {model.name} ({info.sampler}, NFE {info.nfe}, seed {args.seed}) "
          f"to {_files(written)}")
    return 0


def _files(paths) -> str:
    """The files ``zoo sample`` wrote, every one: ``PATH``, or ``N files:`` and one ``  PATH`` line each."""
    paths = [str(p) for p in paths]
    return paths[0] if len(paths) == 1 else f"{len(paths)} files:\n" + "\n".join(f"  {p}" for p in paths)


def _refuse_foreign_flags(args: argparse.Namespace, name: str) -> None:
    """A flag another modality added to ``zoo sample`` is an error for this model, not silently ignored."""
    for owner, dests in args.modality_flags.items():
        given = [d for d in dests if vars(args)[d] not in (None, False)]
        if owner != name and given:
            flags = ", ".join("--" + d.replace("_", "-") for d in given)
            raise ValueError(f"{flags}: {owner} option(s); {args.model} is a {name} model")


def _data(args: argparse.Namespace) -> int:
    """Prepare a modality's training data from locally installed sources: zoo data prepare MODALITY --source NAME."""
    from zoo.registry import modality

    declared = modality(args.modality)
    if declared.prepare is None:
        raise ValueError(f"modality {args.modality!r} has no data to prepare")
    options = {}
    for item in args.options:
        if "=" not in item:
            raise ValueError(f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        options[key] = value
    path = declared.prepare(args.source, args.out, **options)
    print(f"wrote {path}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    """Run a model's evaluation suite and print the metrics with their protocol (--save: store them
    as metrics.json in the model folder and refresh its card)."""
    from zoo import cards
    from zoo.registry import modality

    model = _load(args)
    if args.save and model.origin.source not in ("local-dir", "embedded"):
        raise ValueError(f"--save writes into a model folder; {args.model} came from the {model.origin.source}")
    declared = modality(model.config["modality"])
    data = declared.dataset(**model.config["data"])
    print(f"evaluating {model.name}: {_eval_estimate(model)}; each stage shows its progress and time left",
          file=sys.stderr)
    start = time.perf_counter()
    metrics = {"model": model.name, **declared.evaluate(model, data, seed=args.seed, n=args.n, steps=args.steps,
                                                        sampler=args.sampler, timesteps=args.timesteps,
                                                        guidance=args.guidance)}
    metrics["eval_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(metrics, indent=2))
    if args.save:
        cards.write_json(model.origin.path / "metrics.json", metrics)
        cards.write_card(model.origin.path)
    return 0


def _eval_estimate(model) -> str:
    """What the last saved evaluation of this model took (its metrics.json), as an estimate of this one."""
    saved = model.origin.path / "metrics.json" if model.origin is not None else None
    if saved is None or not saved.is_file():
        return "no saved evaluation to estimate the time from"
    last = json.loads(saved.read_text())
    if "eval_seconds" not in last:
        return f"the saved evaluation ({last.get('protocol', 'metrics.json')}) did not record its time"
    return (f"the saved evaluation ({last.get('protocol')}, n = {last.get('n')}) took {last['eval_seconds'] / 60:.1f} "
            f"min on {last.get('device', 'an unrecorded device')}")


def _sampling_arguments(p: argparse.ArgumentParser, *, n: int | None, steps: int | None) -> None:
    shown = n if n is not None else "the evaluation suite's"
    p.add_argument("-n", type=int, default=n, help=f"number of samples (default {shown})")
    default = steps if steps is not None else "the model's"
    p.add_argument("--steps", type=int, default=steps, help=f"sampler steps (default {default})")
    p.add_argument("--sampler", help="sampler name (default: the model's)")
    p.add_argument("--seed", type=int, default=0)


def _couple(args: argparse.Namespace) -> int:
    """Draw reflow pairs (noise, the model's ODE sample from it) into an .npz for a recipe's data.pairs."""
    from zoo.train.pairs import make_pairs

    model = _load(args)
    path = make_pairs(model, args.n, args.out, sampler=args.sampler, steps=args.steps, guidance=args.guidance,
                      batch=args.batch, seed=args.seed)
    print(f"wrote {args.n} pairs of {model.name} ({args.sampler}, {args.steps} steps) to {path}")
    return 0


def _nfe(args: argparse.Namespace) -> int:
    """Quality versus network evaluations: sample each model at each NFE with its own sampler, score
    the samples with the modality's metrics, and write quality_vs_nfe.json and .png to --out."""
    from zoo import nfe
    from zoo.evaluation import describe_device
    from zoo.registry import modality

    labels = args.labels.split(",") if args.labels else args.models
    placements = args.timesteps.split(",") if args.timesteps else [""] * len(args.models)
    for what, values in (("--labels", labels), ("--timesteps", placements)):
        if len(values) != len(args.models):
            raise ValueError(f"{what} names {len(values)} models but {len(args.models)} were given")
    nfes = [int(v) for v in args.nfe.split(",")]
    families, data, name = [], None, None
    for label, model_name, placement in zip(labels, args.models, placements):
        args.model = model_name
        model = _load(args)
        if name not in (None, model.config["modality"]):
            raise ValueError(f"{model_name} is a {model.config['modality']} model; the others are {name} models")
        name = model.config["modality"]
        data = data or modality(name).dataset(**model.config["data"])
        placement = placement or model.config.get("sampling", {}).get("timesteps")
        rows = nfe.sweep(model, data, nfes, n=args.n, seed=args.seed, timesteps=placement)
        families.append({"label": label, "model": model.name, "sampler": rows[0]["sampler"],
                         "timesteps": placement or "default", "rows": rows})
        print(f"{label}: " + ", ".join(f"NFE {r['nfe']}: " + " ".join(
            f"{k}={r[k]:.4g}" for k, _, _ in nfe.metrics(name) if isinstance(r.get(k), (int, float))) for r in rows))
    command = ("zoo nfe " + " ".join(args.models) + f" --labels '{','.join(labels)}'" +
               (f" --timesteps '{args.timesteps}'" if args.timesteps else "") + f" --nfe {args.nfe} -n {args.n}")
    path = nfe.write_report(families, args.out, modality_name=name, title=args.title or " vs ".join(labels),
                            device=describe_device(_device(args)), command=command, nfes=nfes,
                            n=args.n)
    print(f"wrote {path}")
    return 0


def _loading_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--revision", help="Hub revision (branch, tag or commit) to load")
    p.add_argument("--local-files-only", action="store_true", help="never contact the Hub (cache or embedded copy)")
    p.add_argument("--cache-dir", help="Hugging Face cache folder (default: HF_HOME's)")
    p.add_argument("--endpoint", help="Hub endpoint (default: HF_ENDPOINT or huggingface.co)")
    p.add_argument("--token", help="Hub token (default: the one huggingface_hub finds)")
    p.add_argument("--device", default="cpu", help="where the model runs: cpu (default), cuda, cuda:N or auto")


# the zoo's own commands that need no modality's flags: their parser is built without loading every modality
_OWN = ("train", "release", "list", "info", "eval", "couple", "nfe", "publish", "card", "demo", "samplers")


def _build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser; every installed modality is loaded for ``zoo sample``, ``zoo data``, help and the
    modalities' own commands (their flags and subcommands are part of it)."""
    from zoo import __version__

    command = next((a for a in argv if not a.startswith("-")), None)
    version_only = command is None and "--version" in argv and not {"-h", "--help"} & set(argv)
    if command in _OWN or version_only:  # zoo --version imports neither torch nor any modality
        declared = []
    else:
        from zoo.registry import load_all

        declared = load_all()
    parser = argparse.ArgumentParser(prog="zoo", description="diffusion-zoo: train, sample, evaluate and share "
                                     "diffusion models across modalities.")
    parser.add_argument("--version", action="version", version=f"diffusion-zoo {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")

    p = commands.add_parser("train", help="train a recipe (torchrun for many processes)", description=_train.__doc__)
    p.add_argument("recipe", help="recipes/<modality>/<name>.yaml")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.lr=3e-4 preset=smoke")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--continue", dest="continue_from", metavar="MODEL",
                   help="continue training MODEL (a released name or a model folder) for optim.steps more steps, as one "
                        "more segment of its training record")
    p.add_argument("--out", help="run folder (default runs/<modality>/<name>; with --continue, the first free "
                   "runs/<modality>/<name>-cont<k>)")
    p.set_defaults(run=_train)

    p = commands.add_parser("release", help="replace a released model folder by a better one", description=_release.__doc__)
    p.add_argument("candidate", metavar="CANDIDATE", help="the model folder that may replace CURRENT (e.g. runs/<modality>/<name>/model)")
    p.add_argument("current", metavar="CURRENT", help="the model folder it would replace (e.g. model_cards/<modality>/<name>)")
    p.add_argument("--if-better", action="store_true", help="replace only if CANDIDATE is better on the primary metric")
    p.add_argument("--force", action="store_true", help="replace regardless (the card says so)")
    p.add_argument("-n", type=int, help="samples of each evaluation (default: the suite's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.set_defaults(run=_release)

    p = commands.add_parser("list", help="list models (wildcards)", description=_list.__doc__)
    p.add_argument("filter", nargs="?", help="shell wildcard, e.g. '<modality>/*'")
    p.add_argument("--modality", help="only this modality")
    p.add_argument("--pretrained", action="store_true", help="only models with released weights")
    p.set_defaults(run=_list)

    p = commands.add_parser("info", help="a model's card data", description=_info.__doc__)
    p.add_argument("model", help="a released name, hf-hub:org/repo[@rev], local-dir:PATH or a folder")
    _loading_arguments(p)
    p.set_defaults(run=_info)

    p = commands.add_parser("sample", help="sample a model to a file", description=_sample.__doc__)
    p.add_argument("model", help="a released name (<modality>/<name>), hf-hub:org/repo[@rev] or a model folder")
    _loading_arguments(p)
    p.add_argument("-n", type=int, help="number of samples (default: the modality's, small enough for a laptop)")
    p.add_argument("--steps", type=int, help="sampler steps (default: the modality's or the model's)")
    p.add_argument("--sampler", help="sampler name (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timesteps", help="timestep placement (default: the model's)")
    p.add_argument("--class", dest="label", help="class of every sample, a name or an index (class-conditional models)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model's)")
    p.add_argument("-o", "--out", required=True, help="output file, its extension picks the format; or a folder "
                   "ending in / (named after the model, in the modality's folder format)")
    _modality_sample_arguments(p, declared)
    p.set_defaults(run=_sample)

    p = commands.add_parser("data", help="prepare training data from local sources", description=_data.__doc__)
    p.add_argument("action", choices=["prepare"])
    p.add_argument("modality", help="one of: " + ", ".join(m.name for m in declared if m.prepare is not None))
    p.add_argument("--source", required=True, help="; ".join(
        f"{m.name}: {', '.join(s.name for s in m.sources)}" for m in declared if m.prepare is not None and m.sources))
    p.add_argument("--out", help="output file (default: the modality's, under .data/)")
    p.add_argument("options", nargs="*", help="key=value options of the source, e.g. minutes=20")
    p.set_defaults(run=_data)

    p = commands.add_parser("eval", help="evaluate a model with its modality's suite", description=_eval.__doc__)
    p.add_argument("model", help="a released name or a model folder")
    _loading_arguments(p)
    _sampling_arguments(p, n=None, steps=None)
    p.add_argument("--timesteps", help="timestep placement (default: the model's)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model's)")
    p.add_argument("--save", action="store_true", help="write metrics.json into the model folder and refresh its card")
    p.set_defaults(run=_eval)

    p = commands.add_parser("couple", help="draw reflow pairs (noise, ODE sample) from a model",
                            description=_couple.__doc__)
    p.add_argument("model", help="a released name or a model folder")
    _loading_arguments(p)
    p.add_argument("-n", type=int, default=50000, help="pairs (default 50000)")
    p.add_argument("--sampler", default="heun", help="a deterministic sampler (default heun)")
    p.add_argument("--steps", type=int, default=32, help="sampler steps (default 32)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model's)")
    p.add_argument("--batch", type=int, default=500, help="samples per batch (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--out", required=True, help="the .npz to write")
    p.set_defaults(run=_couple)

    p = commands.add_parser("nfe", help="quality versus network evaluations of one or more models",
                            description=_nfe.__doc__)
    p.add_argument("models", nargs="+", help="released names or model folders (one modality)")
    _loading_arguments(p)
    p.add_argument("--labels", help="comma-separated names for the models in the report (default: the names)")
    p.add_argument("--timesteps", help="comma-separated placements, one per model (empty: the model's default)")
    p.add_argument("--nfe", default="1,2,4,8,16,35", help="comma-separated NFEs (default 1,2,4,8,16,35)")
    p.add_argument("-n", type=int, default=1000, help="samples per point (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--title", help="the plot's title")
    p.add_argument("--out", required=True, help="folder for quality_vs_nfe.json and .png")
    p.set_defaults(run=_nfe)

    p = commands.add_parser("publish", help="publish a model folder to the Hugging Face Hub", description=_publish.__doc__)
    p.add_argument("folder", help="a model folder (zoo train writes one to RUN/model)")
    p.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub")
    p.add_argument("--revision", help="branch to commit to (default main; created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--endpoint", help="Hub endpoint (default: HF_ENDPOINT or huggingface.co)")
    p.add_argument("--token", help="Hub token (default: the one huggingface_hub finds)")
    p.add_argument("--dry-run", action="store_true", help="check the folder and show what would be uploaded; no network")
    p.set_defaults(run=_publish)

    p = commands.add_parser("card", help="regenerate a model folder's card", description=_card.__doc__)
    p.add_argument("folder", help="a model folder")
    p.add_argument("--name", help="the name the card's examples load (default: the released name or local-dir:FOLDER)")
    p.set_defaults(run=_card)

    p = commands.add_parser("demo", help="sample every released model into a folder with an index.html",
                            description=_demo.__doc__)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("models", nargs="*", help="model names (default: every released model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads while sampling (default 1: small batches, robust on a busy machine; 0: torch's)")
    _loading_arguments(p)
    p.set_defaults(run=_demo)

    p = commands.add_parser("samplers", help="list the core's samplers (--check: measure them on an exact mixture)",
                            description=_samplers.__doc__)
    p.add_argument("--check", action="store_true", help="sample an exact 2-D mixture with every sampler")
    p.add_argument("--steps", type=int, default=10, help="sampler steps for --check (default 10)")
    p.add_argument("--timesteps", default="logsnr", help="timestep placement for --check (default logsnr)")
    p.add_argument("-n", type=int, default=2000, help="samples for --check (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_samplers)

    for entry in declared:  # subcommands of the modalities (e.g. a 2-D animation)
        for command in entry.cli.commands:
            p = commands.add_parser(command.name, help=command.help, description=command.help)
            if command.loads_model:
                p.add_argument("model", help=f"a {entry.name} model name or folder")
                _loading_arguments(p)
            command.add_arguments(p)
            p.set_defaults(run=_modality_command(command))
    return parser


def _modality_sample_arguments(parser: argparse.ArgumentParser, declared) -> None:
    """Each modality's own ``zoo sample`` flags, in an argument group named after it; ``args.modality_flags``
    maps each modality to the argument names it added."""
    owners = {}
    for entry in declared:
        group = parser.add_argument_group(f"{entry.name} options")
        before = {a.dest for a in parser._actions}
        try:
            entry.cli.sample_arguments(group)
        except argparse.ArgumentError as error:
            raise ValueError(f"the {entry.name} modality's zoo sample flags clash with another's: {error}") from None
        owners[entry.name] = sorted({a.dest for a in parser._actions} - before)
    parser.set_defaults(modality_flags=owners)


def _modality_command(command):
    def run(args: argparse.Namespace) -> int:
        return command.run(args, _load if command.loads_model else None)
    return run


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # key=value overrides may follow options (zoo train r.yaml --out d optim.lr=1e-3)
        key = {"train": "overrides", "data": "options"}.get(args.command)
        if key and all("=" in e and not e.startswith("-") for e in extra):
            vars(args)[key] = list(vars(args)[key]) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 0
    _log_to_stderr()
    try:
        return args.run(args)
    except ValueError as error:  # bad input: a clear message, not a stack trace
        print(f"zoo {args.command}: {error}", file=sys.stderr)
        return 2
    except ConnectionError as error:  # the Hub could not be used (network, authorisation, server)
        print(f"zoo {args.command}: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # zoo info ... | head
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"zoo {args.command}: interrupted", file=sys.stderr)
        return 130


def _log_to_stderr() -> None:
    """Show the library's info lines (e.g. where a model was loaded from) on stderr."""
    logger = logging.getLogger("zoo")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("zoo: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


if __name__ == "__main__":
    sys.exit(main())
