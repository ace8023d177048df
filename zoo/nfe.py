"""Quality versus network evaluations (NFE): one model family's few-step trade, measured.

``sweep`` samples a model at each NFE with one sampler (one network evaluation per step, so
steps = NFE) and scores the samples with its modality's ``sample_metrics`` (the metrics it plots:
``Modality.nfe_metrics``); ``write_report``
writes the sweeps of several models (e.g. a teacher, its consistency model and a reflowed flow)
as ``quality_vs_nfe.json`` and a plot; a model card shows the table (``zoo.cards``).
"""
from __future__ import annotations

import json
from pathlib import Path

from . import core
from .files import atomic_write
from .registry import modality

__all__ = ["NFES", "sweep", "write_report", "table", "metrics", "REPORT"]

NFES = (1, 2, 4, 8, 16, 35)
REPORT = "quality_vs_nfe.json"


def metrics(modality_name: str) -> list[tuple[str, str, bool]]:
    """The (key, label, lower is better) of each metric a modality's sweeps plot."""
    declared = modality(modality_name).nfe_metrics
    if not declared:
        raise ValueError(f"the {modality_name} modality declares no quality-versus-NFE metrics")
    return [(m.key, m.label, m.lower_is_better) for m in declared]


def sweep(model, data, nfes=NFES, *, n: int, seed: int = 0, sampler: str | None = None, **options) -> list[dict]:
    """One row of ``sample_metrics`` per NFE in ``nfes``; ``sampler``: default the model's own (it
    must evaluate the network once per step: multistep and first-order samplers, not Heun)."""
    sampler = sampler or model.config.get("sampling", {}).get("sampler", "unipc")
    core.samplers.get(sampler)  # a clear error for an unknown name
    adapter = modality(model.config["modality"])
    metrics(adapter.name)  # a clear error before any sampling
    rows = []
    for nfe in nfes:
        row = adapter.sample_metrics(model, data, n=n, seed=seed, steps=int(nfe), sampler=sampler, **options)
        if row["nfe"] != nfe:
            raise ValueError(f"sampler {sampler!r} took {row['nfe']} network evaluations for {nfe} steps; an NFE "
                             f"sweep needs a sampler with one evaluation per step (not heun, dpmpp_2s, pc, ode)")
        rows.append({k: v for k, v in row.items() if k not in ("protocol", "n", "seed")})
    return rows


def table(report: dict) -> str:
    """The report as a markdown table: one row per NFE, a column per (model, metric)."""
    families = report["models"]
    metrics = [tuple(m) for m in report["metrics"]]
    head = ["NFE"] + [f"{f['label']}: {label}" for f in families for _, label, _ in metrics] + \
        [f"{f['label']}: s/sample" for f in families]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    nfes = sorted({row["nfe"] for f in families for row in f["rows"]})
    for nfe in nfes:
        cells = [str(nfe)]
        by_family = [next((r for r in f["rows"] if r["nfe"] == nfe), None) for f in families]
        for row in by_family:
            cells += [f"{row[key]:.4g}" if row and isinstance(row.get(key), (int, float)) else "–" for key, _, _ in metrics]
        cells += [f"{row['seconds_per_sample']:.2e}" if row else "–" for row in by_family]
        lines.append("| " + " | ".join(cells) + " |")
    reference = report.get("reference") or {}
    if reference:
        lines.append("")
        lines.append("Reference: " + "; ".join(f"{k} = {v:.4g}" for k, v in reference.items()) + ".")
    return "\n".join(lines)


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    metrics = report["metrics"]
    figure = Figure(figsize=(4.2 * (len(metrics) + 1), 3.6), layout="constrained")
    axes = figure.subplots(1, len(metrics) + 1)
    for ax, (key, label, lower) in zip(axes, metrics):
        for family in report["models"]:
            rows = [r for r in family["rows"] if isinstance(r.get(key), (int, float))]
            ax.plot([r["nfe"] for r in rows], [r[key] for r in rows], marker="o", label=family["label"])
        value = (report.get("reference") or {}).get(key)
        if value is not None:
            ax.axhline(value, color="grey", linestyle="--", linewidth=1, label="real data")
        ax.set(xscale="log", yscale="log" if lower else "linear", xlabel="network evaluations (NFE)")
        ax.set_title(f"{label} ({'lower' if lower else 'higher'} is better)", fontsize=9)
        ax.set_xticks(report["nfes"], [str(v) for v in report["nfes"]])
    ax = axes[-1]
    for family in report["models"]:
        ax.plot([r["nfe"] for r in family["rows"]], [r["seconds_per_sample"] for r in family["rows"]], marker="o",
                label=family["label"])
    ax.set(xscale="log", yscale="log", xlabel="network evaluations (NFE)")
    ax.set_title(f"seconds per sample ({report['device']})", fontsize=9)
    ax.set_xticks(report["nfes"], [str(v) for v in report["nfes"]])
    axes[0].legend(fontsize=8)
    figure.suptitle(report["title"])
    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=90, format="png"))


def write_report(families: list[dict], out_dir, *, modality_name: str, title: str, device: str, command: str,
                 n: int, reference: dict | None = None, nfes=NFES, notes: str = "") -> Path:
    """Write ``quality_vs_nfe.json`` and ``quality_vs_nfe.png`` into ``out_dir``.

    families: [{"label", "model" (its name), "sampler", "rows" (from :func:`sweep`)}, ...];
    reference: metric values of real data (the floor / ceiling at this n)."""
    report = {"title": title, "modality": modality_name, "nfes": [int(v) for v in nfes], "n": int(n),
              "metrics": [list(m) for m in metrics(modality_name)], "device": device, "command": command,
              "reference": reference or {}, "notes": notes, "models": families}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _plot(report, out / "quality_vs_nfe.png")
    return atomic_write(out / REPORT, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=1)))
