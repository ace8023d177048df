"""The protein flags of ``zoo sample`` (``CLI``, a ``zoo.modality.CliHooks``).

- ``--length N``: residues per chain (``model.sample(n, length=N)``; default the model's, 100);
- ``--motif FILE --contig CONTIG``: motif scaffolding (``ProteinModel.scaffold``): the contig lists,
  in order, stretches of new residues and residues of the motif file to hold
  (``io.parse_contig``), e.g. ``"10-20,A5-15,30-40"``.  The two go together, and ``--length``
  does not go with them (the contig's ranges set the length).  Prints one line per chain written
  (its length, where the motif sits, the motif RMSD) and a summary.
- ``--potential NAME=WEIGHT`` (repeatable): guidance energies (``potentials``: clash, bond, rg) in
  place of the model's ``sampling.potentials``; ``--potential none`` samples without any.
"""
from __future__ import annotations

import argparse

from zoo.modality import CliHooks

from .model import ProteinModel
from .potentials import check_weights

__all__ = ["CLI", "sample_arguments", "sample_options", "sample_runner"]


def sample_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--length", type=int, help="residues per chain (default: the model's, 100)")
    group.add_argument("--motif", help="a PDB/mmCIF file holding the motif to scaffold (with --contig)")
    group.add_argument("--contig", help="new and motif residues in order, e.g. \"10-20,A5-15,30-40\" (10 to 20 new "
                       "residues, residues 5-15 of chain A of --motif, 30 to 40 new)")
    group.add_argument("--potential", action="append", metavar="NAME=WEIGHT",
                       help="a guidance energy and its weight (clash, bond, rg; repeatable) in place of the model's; "
                            "'none' for no guidance")


def _check(model, args: argparse.Namespace) -> bool:
    """Whether the flags ask for motif scaffolding; a combination that does not fit is a ValueError."""
    motif, contig = args.motif, args.contig
    if (motif is None) != (contig is None):
        raise ValueError("--motif and --contig go together: the contig names the motif file's residues")
    if motif is not None and args.length is not None:
        raise ValueError("--length and --contig both set the length: the contig's ranges do it with a motif")
    if not isinstance(model, ProteinModel):
        used = [flag for flag, value in (("--length", args.length), ("--motif", motif), ("--potential", args.potential))
                if value is not None]
        if used:
            raise ValueError(f"{', '.join(used)}: for protein models of variable-length chains; {model.name} is a "
                             f"{model.config.get('modality')} model")
    return motif is not None


def potentials(flags: list[str] | None) -> dict | bool | None:
    """The ``potentials`` of ``--potential`` flags: None without any, False for 'none', else {name: weight}."""
    if not flags:
        return None
    if flags == ["none"]:
        return False
    weights = {}
    for flag in flags:
        name, sep, weight = flag.partition("=")
        if not sep:
            raise ValueError(f"--potential {flag!r}: write NAME=WEIGHT (e.g. clash=1.0), or 'none' alone")
        weights[name.strip()] = weight.strip()
    return check_weights(weights)


def sample_options(model, args: argparse.Namespace) -> dict:
    """``{"length": N}`` from ``--length N`` and ``{"potentials": ...}`` from ``--potential`` (nothing without them)."""
    _check(model, args)
    options = {}
    chosen = potentials(args.potential)
    if chosen is not None:
        options["potentials"] = chosen
    if args.length is None:
        return options
    if args.length < 2:
        raise ValueError(f"--length {args.length}: chains need at least 2 residues")
    return {**options, "length": args.length}


def sample_runner(model, args: argparse.Namespace, out, generator, options: dict) -> str | None:
    """Motif scaffolding when ``--motif`` and ``--contig`` are given: writes the chains to ``out``
    (by its suffix) and returns what to print; None otherwise (the zoo samples)."""
    if not _check(model, args):
        return None
    from . import MODALITY

    if args.guidance is not None:
        raise ValueError(f"--guidance: {model.name} is unconditional (motif scaffolding holds the motif by inpainting)")
    n = args.n or MODALITY.defaults.n
    chosen = potentials(args.potential)
    options = options if chosen is None else {**options, "potentials": chosen}
    fmt = MODALITY.format(out.suffix)
    done = model.scaffold(args.motif, args.contig, n, generator=generator, **options)
    written = fmt.write(done.x, out, model=model, mask=done.mask)
    lines = []
    if fmt.per_sample:
        for i, path in enumerate(written):
            where = done.motif[i].nonzero()[:, 0] + 1
            lines.append(f"{path}: {int(done.lengths[i])} residues, motif at positions {int(where.min())}-"
                         f"{int(where.max())}, motif RMSD {float(done.motif_rmsd[i]):.3g} A")
    else:
        lines.append(f"wrote {n} chains to {written[0]}")
    lines.append(f"scaffolded {n} chains around {args.motif} ({args.contig}) with {model.name} "
                 f"({done.info.sampler}, NFE {done.info.nfe}, seed {args.seed})")
    return "\n".join(lines)


CLI = CliHooks(sample_arguments=sample_arguments, sample_options=sample_options, sample_runner=sample_runner)
