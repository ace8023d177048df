"""The ``zoo`` command.  ``zoo --help`` lists the commands; each has its own ``--help``.

Under ``torchrun --nproc_per_node=N -m zoo.cli train ...`` the same training runs on N processes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
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
    """Train a recipe: zoo train RECIPE.yaml [key=value ...] [--resume] [--out DIR]."""
    from zoo.train import load_recipe, train

    recipe = load_recipe(args.recipe, args.overrides)
    out = Path(args.out) if args.out else Path("runs") / recipe.modality / recipe.name
    train(recipe, out, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":
        print(f"trained {recipe.modality}/{recipe.name}: model folder {out / 'model'}")
    return 0


def _load(name: str):
    from zoo import hub

    return hub.load(name)


def _sample(args: argparse.Namespace) -> int:
    """Sample a model and write the result in its modality's format (by the extension of -o)."""
    import torch

    from zoo.registry import modality

    model = _load(args.model)
    adapter = modality(model.config["modality"])
    if Path(args.out).suffix.lower() not in adapter.SAMPLE_FORMATS:
        raise ValueError(f"-o {args.out}: {model.config['modality']} writes {list(adapter.SAMPLE_FORMATS)}")
    options = {k: v for k, v in (("steps", args.steps), ("sampler", args.sampler), ("timesteps", args.timesteps)) if v}
    x, info = model.sample(args.n, generator=torch.Generator().manual_seed(args.seed), return_info=True, **options)
    adapter.write_samples(x, args.out, title=f"{model.name}: {info.sampler}, NFE {info.nfe}")
    print(f"wrote {args.n} samples of {model.name} to {args.out} ({info.sampler}, NFE {info.nfe}, seed {args.seed})")
    return 0


def _animate(args: argparse.Namespace) -> int:
    """Animate the forward and the learned reverse process of a 2-D model (GIF, and a PNG strip)."""
    from zoo.registry import modality

    model = _load(args.model)
    if model.config["modality"] != "toy2d":
        raise ValueError(f"zoo animate draws 2-D point clouds; {args.model} is a {model.config['modality']} model")
    toy2d = modality("toy2d")
    from modalities.toy2d import animate

    data = toy2d.dataset(**model.config["data"])
    frames = animate.trajectories(model, data, n=args.n, steps=args.steps, sampler=args.sampler, seed=args.seed)
    animate.save_gif(frames, args.out)
    strip = Path(args.strip) if args.strip else Path(args.out).with_suffix(".png")
    animate.save_strip(frames, strip)
    print(f"wrote {len(frames)} frames to {args.out} and a strip to {strip}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    """Run a model's evaluation suite and print the metrics with their protocol."""
    from zoo.registry import modality

    model = _load(args.model)
    adapter = modality(model.config["modality"])
    data = adapter.dataset(**model.config["data"])
    metrics = adapter.evaluate(model, data, n=args.n, steps=args.steps, sampler=args.sampler, seed=args.seed)
    print(json.dumps({"model": model.name, **metrics}, indent=2))
    return 0


def _sampling_arguments(p: argparse.ArgumentParser, *, n: int, steps: int | None) -> None:
    p.add_argument("-n", type=int, default=n, help=f"number of samples (default {n})")
    default = steps if steps is not None else "the model's"
    p.add_argument("--steps", type=int, default=steps, help=f"sampler steps (default {default})")
    p.add_argument("--sampler", help="sampler name (default: the model's)")
    p.add_argument("--seed", type=int, default=0)


def _build_parser() -> argparse.ArgumentParser:
    from zoo import __version__

    parser = argparse.ArgumentParser(prog="zoo", description="diffusion-zoo: train, sample, evaluate and share "
                                     "diffusion models across modalities.")
    parser.add_argument("--version", action="version", version=f"diffusion-zoo {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")

    p = commands.add_parser("train", help="train a recipe (torchrun for many processes)", description=_train.__doc__)
    p.add_argument("recipe", help="recipes/<modality>/<name>.yaml")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.lr=3e-4 preset=smoke")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--out", help="run folder (default runs/<modality>/<name>)")
    p.set_defaults(run=_train)

    p = commands.add_parser("sample", help="sample a model to a file", description=_sample.__doc__)
    p.add_argument("model", help="a released name (toy2d/ring8) or a model folder")
    _sampling_arguments(p, n=1000, steps=None)
    p.add_argument("--timesteps", help="timestep placement (default: the model's)")
    p.add_argument("-o", "--out", required=True, help="output file; its extension picks the format")
    p.set_defaults(run=_sample)

    p = commands.add_parser("animate", help="animate a 2-D model's forward and reverse process", description=_animate.__doc__)
    p.add_argument("model", help="a toy2d model name or folder")
    p.add_argument("--out", required=True, help="GIF file")
    p.add_argument("--strip", help="still PNG strip (default: the GIF's name with .png)")
    _sampling_arguments(p, n=1500, steps=24)
    p.set_defaults(run=_animate)

    p = commands.add_parser("eval", help="evaluate a model with its modality's suite", description=_eval.__doc__)
    p.add_argument("model", help="a released name or a model folder")
    _sampling_arguments(p, n=4000, steps=20)
    p.set_defaults(run=_eval)

    p = commands.add_parser("samplers", help="list the core's samplers (--check: measure them on an exact mixture)",
                            description=_samplers.__doc__)
    p.add_argument("--check", action="store_true", help="sample an exact 2-D mixture with every sampler")
    p.add_argument("--steps", type=int, default=10, help="sampler steps for --check (default 10)")
    p.add_argument("--timesteps", default="logsnr", help="timestep placement for --check (default logsnr)")
    p.add_argument("-n", type=int, default=2000, help="samples for --check (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_samplers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # key=value overrides may follow options (zoo train r.yaml --out d optim.lr=1e-3)
        if args.command == "train" and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except ValueError as error:  # bad input: a clear message, not a stack trace
        print(f"zoo {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"zoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
