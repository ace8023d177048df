"""The ``zoo`` command.  ``zoo --help`` lists the commands; each has its own ``--help``."""
from __future__ import annotations

import argparse
import sys

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
        raise SystemExit(f"zoo samplers: --steps must be >= 1, got {args.steps}")
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


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="diffusion-zoo: train, sample, evaluate and share "
                                     "diffusion models across modalities.")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
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
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except ValueError as error:  # bad input: a clear message, not a stack trace
        print(f"zoo {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
