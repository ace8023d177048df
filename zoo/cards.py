"""Model cards: README.md of a model folder, generated from ``model_cards/TEMPLATE.md``.

The generated parts of the body sit between ``<!-- zoo:NAME -->`` and ``<!-- /zoo:NAME -->``;
regenerating a card replaces only those parts (adding any the template gained since, after the
part before it) and the generated front-matter keys (tags are merged; an existing ``license`` is
kept), so prose written by hand outside them survives
``zoo card`` and ``zoo publish``.  A card without any
marker (written entirely by hand) keeps its text and gets the generated sections after it.

What a card says comes from the folder itself: config.yaml, the weights' size, metrics.json,
samples/manifest.json, training/recipe.yaml and training/run.json, plus the facts its modality
declares (``Modality.card(config) -> zoo.modality.CardFacts``: data sources and their licences,
intended use, limitations, what each metric measures).  The caveat under the summary is measured
the same way (``caveat_line``): a model trained on a CPU says so, and one whose metrics.json holds a
baseline column (Griffin-Lim, real data) it does not yet beat says by how much.
"""
from __future__ import annotations

import json
import re
import string
from pathlib import Path

import yaml

from . import nfe, runs
from .evaluation import device_option
from .files import atomic_write, read_yaml
from .folder import count_parameters, read_config
from .modality import LINK, CardFacts
from .names import MODEL_CARDS
from .registry import modality

__all__ = ["render", "write_card", "front_matter", "summary", "caveat", "caveat_line", "folder_caveat", "add_sample", "write_json", "read_json", "default_load_name", "embed",
           "TEMPLATE"]

TEMPLATE = Path(__file__).resolve().parent.parent / "model_cards" / "TEMPLATE.md"
SECTION = re.compile(r"<!-- zoo:(\w+) -->\n.*?<!-- /zoo:\1 -->", re.S)
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n?", re.S)
# result keys that describe how an evaluation was run, said in its protocol line rather than the table
SETTINGS = ("n", "steps", "nfe", "seed", "batch", "guidance", "sampler", "timesteps", "device", "protocol", "model",
            "eval_seconds")


def write_json(path, data) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def read_json(path: Path):
    """A JSON file's data, or None when there is no such file."""
    return json.loads(path.read_text()) if path.is_file() else None


def add_sample(folder, filename: str, what: str, **settings) -> Path:
    """Record ``samples/<filename>`` in ``samples/manifest.json`` (replacing an older entry)."""
    path = Path(folder) / "samples" / "manifest.json"
    entries = [e for e in (read_json(path) or {"files": []})["files"] if e["file"] != filename]
    entries.append({"file": filename, "what": what, **{k: v for k, v in settings.items() if v is not None}})
    return write_json(path, {"files": sorted(entries, key=lambda e: e["file"])})


def front_matter(card: str) -> dict:
    """The YAML front matter of a card ({} when there is none or it is not a mapping)."""
    match = FRONT_MATTER.match(card)
    try:
        data = yaml.safe_load(match.group(1)) if match else {}
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def summary(card: str) -> str:
    """The card's summary section (or its first paragraph after the title)."""
    match = re.search(r"<!-- zoo:summary -->\n(.*?)\n?<!-- /zoo:summary -->", card, re.S)
    if match:
        return match.group(1).strip()
    body = FRONT_MATTER.sub("", card)
    paragraphs = [p.strip() for p in body.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
    return paragraphs[0] if paragraphs else ""


CAVEAT = "**Caveat:** "


def caveat(card: str) -> str:
    """The card's caveat (its ``caveat`` section without the "Caveat:" label), or "" when it has none."""
    match = re.search(r"<!-- zoo:caveat -->\n(.*?)\n?<!-- /zoo:caveat -->", card, re.S)
    return match.group(1).strip().removeprefix(CAVEAT.strip()).strip() if match else ""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def caveat_line(config: dict, metrics: dict | None, run: dict | None) -> str:
    """What a reader should know before using the model, from measured facts only: "CPU-trained" when
    no segment of training/run.json ran on a GPU, "released with --force although not better" when its
    last forced release was not better, and "not yet better than <baseline>" when a baseline column of
    metrics.json (a dict of the same metrics, e.g. ``griffin_lim_64``, ``real_images``) beats the
    model on the modality's primary metric, or, when the baseline lacks that, on the first of its
    ``nfe_metrics`` both hold.  "" when neither applies."""
    parts = []
    if run and not runs.gpu_trained(run):
        parts.append(f"CPU-trained ({runs.summary(run).removeprefix('trained ')})")
    forced = [r for r in (run or {}).get("releases", []) if r.get("forced")]
    if forced and forced[-1]["verdict"] != "better":
        r = forced[-1]
        parts.append(f"released with `--force` although not better than the model it replaced on {r['metric']} "
                     f"({r['candidate']:.4g} against {r['current']:.4g})")
    declared = modality(config["modality"])
    peers = [(k, v) for k, v in (metrics or {}).items() if isinstance(v, dict)]
    for metric in (declared.primary_for((metrics or {}).get("protocol")), *declared.nfe_metrics):
        if not _number((metrics or {}).get(metric.key)):
            continue
        peer = next(((k, v[metric.key]) for k, v in peers if _number(v.get(metric.key))), None)
        if peer is None:
            continue
        value, (name, baseline) = metrics[metric.key], peer
        if not metric.better(value, baseline):
            parts.append(f"not yet better than `{name}` on {metric.label}: {value:.4g} against {baseline:.4g} "
                         f"({'lower' if metric.lower_is_better else 'higher'} is better)")
        break
    return "; ".join(parts)


def folder_caveat(folder, config: dict) -> str:
    """:func:`caveat_line` of a model folder, from its metrics.json and training/run.json."""
    folder = Path(folder)
    return caveat_line(config, read_json(folder / "metrics.json"), read_json(folder / "training" / "run.json"))


def _inline(mapping: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in mapping.items()) if mapping else "defaults"


def _facts(config: dict) -> CardFacts:
    return modality(config["modality"]).card(config)


def embed(modality_name: str, file: str, alt: str) -> str:
    """HTML that shows a sample file as its modality's format declares (a picture, a player, a link)."""
    import html

    declared = modality(modality_name)
    suffix = Path(file).suffix.lower()
    template = next((f.embed for f in declared.formats if f.suffix == suffix), LINK)
    return template.format(src=html.escape(file, quote=True), alt=html.escape(alt, quote=True))


def default_load_name(folder: Path, config: dict) -> str:
    """The name a card's examples load the folder by: its released name when it is that release's
    embedded folder, else ``local-dir:FOLDER``."""
    name = config.get("name", "")
    if name and folder.resolve() == (MODEL_CARDS / name).resolve():
        return name
    return f"local-dir:{folder}"


def _samples_section(folder: Path, config: dict) -> str:
    manifest = read_json(folder / "samples" / "manifest.json") or {"files": []}
    lines = []
    for entry in manifest["files"]:
        file, what = f"samples/{entry['file']}", entry.get("what", "")
        settings = _inline({k: v for k, v in entry.items() if k not in ("file", "what")})
        lines.append(f"{embed(config['modality'], file, what)}\n\n*{what}* ({settings})")
    return "\n\n".join(lines) or "No samples are stored with this model."


def _data_section(facts: CardFacts, config: dict) -> str:
    """Each data source with its licence beside it, then how the model's data was made from them."""
    note = f"\n\n{facts.data_note}" if facts.data_note else ""
    if not facts.sources:
        return f"`{config.get('data', {}).get('name', 'unknown')}`: see training/recipe.yaml; licence unknown.{note}"
    described = [f"{s.description}  Licence of the data: {s.licence}." + (f"  Install: `{s.install}`." if s.install else "")
                 for s in facts.sources]
    return "\n\n".join(described) + note


def _training_section(folder: Path, config: dict, parameters: int) -> str:
    recipe = read_yaml(folder / "training" / "recipe.yaml") if (folder / "training" / "recipe.yaml").is_file() else None
    run = read_json(folder / "training" / "run.json")
    lines = [f"- Architecture `{config['architecture']}` ({_inline(config.get('network', {}))}): "
             f"{parameters:,} parameters."]
    schedule = dict(config["schedule"])
    prior = config.get("prior")
    noise = ("" if prior is None else f", noise prior `{prior}`" if isinstance(prior, str) else
             f", a conditional noise prior N(0, diag(s)) with s a function of the condition ({_inline(prior)}), the loss "
             f"weighted by 1 / s (PriorGrad)")
    lines.append(f"- Diffusion: {schedule.pop('name')} schedule ({_inline(schedule)}), {config['prediction']} "
                 f"prediction{noise}.")
    c = config.get("consistency")
    if c:
        how = (f"consistency distillation from `{c.get('teacher')}`: its probability-flow ODE solved by "
               f"`{c.get('solver')}` ({c.get('solver_steps')} step(s)) over each interval of a {c.get('points')}-point grid"
               + (f", classifier-free guidance {c['guidance']:g} in the teacher (baked into the student)"
                  if c.get("guidance") else "") if c.get("mode") == "distillation"
               else f"consistency training from scratch on a grid growing to {c.get('points')} points")
        lines.append(f"- Consistency model (zoo.core.consistency): {how}; c_skip scale {c.get('scale')}.")
    if recipe is not None:
        optim, objective = recipe.get("optim", {}), recipe.get("objective", {})
        limit = f" optim.max_minutes={optim['max_minutes']:g}" if optim.get("max_minutes") else ""
        last = runs.segments(run)[-1] if run else {}
        stopped = (f" planned, stopped after {last['steps']} by the time limit (optim.max_minutes = "
                   f"{optim.get('max_minutes'):g})" if last.get("stopped") else "")
        command = (f"zoo train recipes/{recipe['modality']}/{recipe['name']}.yaml"
                   f"{' preset=' + recipe['preset'] if recipe.get('preset') else ''}{limit}")
        if last.get("continued"):
            lines.append(f"- Recipe of the last segment: [training/recipe.yaml](training/recipe.yaml), run as `{command} "
                         f"--continue {last['continued']}` with that recipe's settings; the segments before it are in "
                         f"the table below.")
        else:
            lines.append(f"- Recipe: [training/recipe.yaml](training/recipe.yaml); `{command}` reproduces it.")
        warmup = {"state": "no warm-up: the optimizer state was restored",
                  "warm": f"a warm start: {optim.get('warm_start_steps', 100)} warm-up steps of a fresh optimizer"}.get(
            last.get("start"), f"after {optim.get('warmup_steps')} warm-up steps")
        lines.append(f"- Optimisation{' of the last segment' if last.get('continued') else ''}: AdamW, lr "
                     f"{optim.get('lr')} ({optim.get('lr_schedule')}, {warmup}), batch {optim.get('batch_size')}, "
                     f"{optim.get('steps')} steps{stopped}, gradient clip {optim.get('grad_clip')}, EMA decay "
                     f"{recipe.get('ema', {}).get('decay')}, {recipe.get('precision', 'fp32')}; loss weighting "
                     f"{objective.get('weighting', 'uniform')}, time sampling {objective.get('time_sampling', 'uniform')}"
                     + (f"; plus {objective['stft_weight']:g} x the multi-resolution STFT loss of the predicted x0 (FFT "
                        f"{'/'.join(str(n) for n in objective.get('stft_ffts', []))})" if objective.get("stft_weight")
                        else "") + ".")
        if recipe.get("notes"):
            lines.append(f"- Notes: {recipe['notes']}")
    if run is not None:
        parts = runs.segments(run)
        last = parts[-1]
        loss = f"; final loss {last['final_loss']:.4f}" if _number(last.get("final_loss")) else ""
        lines.append(f"- Hardware and time: {runs.summary(run)}{loss}.  Each segment "
                     "([training/run.json](training/run.json)):")
        lines += ["", "| segment | device | processes | precision | steps | minutes | steps/s | start | date | commit |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for i, part in enumerate(parts, 1):
            start = part.get("start", "scratch") + (f" from `{part['continued']}`" if part.get("continued") else "")
            commit = (part.get("commit") or "–")[:12] + ("-dirty" if str(part.get("commit")).endswith("-dirty") else "")
            lines.append(f"| {i} | {part['device']} | {part['processes']} | {part['precision']} | "
                         f"{part['first_step']:,}-{part['last_step']:,} | {part['seconds'] / 60:.1f} | "
                         f"{part['steps'] / max(part['seconds'], 1e-9):.1f} | {start} | "
                         f"{(part.get('date') or '–')[:10]} | {commit} |")
        lines.append("")
        for release in run.get("releases", []):
            forced = " with `--force`" if release.get("forced") else ""
            lines.append(f"- Released{forced} on {release['date'][:10]} over the model it replaced: {release['metric']} "
                         f"{release['candidate']:.4g} against {release['current']:.4g} ({release['verdict']}).")
    else:
        lines.append("- Hardware and time: not recorded.")
    return "\n".join(lines)


def _metrics_section(metrics: dict | None, facts: CardFacts, load_name: str) -> str:
    if not metrics:
        return f"No metrics measured yet: `zoo eval {load_name} --save` measures and stores them."
    described = facts.metrics
    hidden = set(SETTINGS) | set(facts.protocol_settings)
    keys = [k for k in described if k in metrics] + sorted(
        k for k, v in metrics.items() if k not in described and isinstance(v, (int, float)) and not isinstance(v, bool)
        and k not in hidden and not k.startswith("n_"))
    peers = [k for k, v in metrics.items() if isinstance(v, dict) and any(m in v for m in keys)]  # e.g. a baseline

    def cell(value) -> str:
        if isinstance(value, str):  # e.g. "not computed: <why>"
            return value
        return f"{value:.4g}" if isinstance(value, (int, float)) else "–"
    rows = [f"| `{k}` | {cell(metrics[k])} | " + "".join(f"{cell(metrics[p].get(k))} | " for p in peers) +
            f"{described[k].what if k in described else ''} |" for k in keys]
    command = f"zoo eval {load_name} -n {metrics['n']} --steps {metrics['steps']} --seed {metrics['seed']}"
    if metrics.get("sampler"):
        command += f" --sampler {metrics['sampler']}"
    if metrics.get("timesteps"):
        command += f" --timesteps {metrics['timesteps']}"
    if metrics.get("guidance") is not None:
        command += f" --guidance {metrics['guidance']:g}"
    command += device_option(metrics.get("device", "CPU"))
    nfe_words = f" ({metrics['nfe']} network evaluations" if metrics.get("nfe") else ""
    if nfe_words:
        nfe_words += ", each of a doubled batch: conditional and unconditional)" if metrics.get("guidance") else ")"
    placement = f", timesteps `{metrics['timesteps']}`" if metrics.get("timesteps") else ""
    setting = "".join(phrase.format(**metrics) for key, phrase in facts.protocol_settings.items() if key in metrics)
    guidance = f", classifier-free guidance {metrics['guidance']:g}" if metrics.get("guidance") is not None else ""
    timed = f"; timed on {metrics['device']}" if metrics.get("device") else ""
    if isinstance(metrics.get("eval_seconds"), (int, float)):
        timed += f"; the evaluation took {metrics['eval_seconds'] / 60:.1f} min"
    return "\n".join([
        f"Protocol `{metrics['protocol']}`: {metrics['n']} samples{setting}, sampler `{metrics.get('sampler')}`, "
        f"{metrics['steps']} steps{nfe_words}{placement}{guidance}, seed {metrics['seed']}{timed}.", "",
        "| metric | value | " + "".join(f"{p} | " for p in peers) + "what it measures |",
        "|---|---|" + "---|" * len(peers) + "---|", *rows, "",
        f"Reproduce: `{command}`"])


def _sampling_section(config: dict, metrics: dict | None, facts: CardFacts) -> str:
    sampling = config.get("sampling", {})
    sampler, steps = sampling.get("sampler", "unipc"), sampling.get("steps", 20)
    nfe = metrics.get("nfe") if metrics and metrics.get("sampler") == sampler and metrics.get("steps") == steps else None
    placement = sampling.get("timesteps") or "the sampler's default placement"
    if sampling.get("fitted_grid"):  # e.g. `zoo fit-grid` (modalities/audio/grid.py)
        placement += f" (t = {', '.join(f'{t:.4g}' for t in sampling['fitted_grid'])}, fitted to this model)"
    extras = "".join([f"; classifier-free guidance {sampling['guidance']:g} when given a condition"
                      if sampling.get("guidance") is not None else "",
                      f"; x0 clipped to [{sampling['clip_x0'][0]:g}, {sampling['clip_x0'][1]:g}] at every step "
                      f"(static thresholding)" if sampling.get("clip_x0") else "",
                      f"; {facts.sampling_note}" if facts.sampling_note else ""])
    return (f"Sampler `{sampler}`, {steps} steps" + (f" ({nfe} network evaluations)" if nfe else "") +
            f", timesteps: {placement}{extras}.  Any sampler of `zoo samplers` works: "
            f"`model.sample(n, sampler=\"dpmpp_2m\", steps=10)`.")


def _front_matter(config: dict, facts: CardFacts, metrics: dict | None) -> dict:
    from huggingface_hub import EvalResult, ModelCardData

    results = []
    data_name = config.get("data", {}).get("name", config["modality"])
    for key in facts.indexed_metrics:
        if metrics and isinstance(metrics.get(key), (int, float)):
            results.append(EvalResult(task_type=facts.task, dataset_type=f"{config['modality']}/{data_name}",
                                      dataset_name=data_name, metric_type=key, metric_value=metrics[key],
                                      metric_name=key, metric_config=metrics["protocol"]))
    data = ModelCardData(library_name="zoo", license=facts.license,
                         tags=list(dict.fromkeys(["diffusion", "diffusion-zoo", config["modality"], *facts.tags])),
                         datasets=list(facts.datasets), pipeline_tag=facts.pipeline_tag,
                         model_name=config.get("name", config["architecture"]), eval_results=results or None)
    meta = data.to_dict()
    meta.pop("model_name", None)  # only model-index needs it; it is not a card key of its own
    return meta


def _merge(fresh: str, existing: str | None) -> str:
    """The fresh card with the existing card's hand-written parts kept (see the module docstring)."""
    if not existing or not existing.strip():
        return fresh
    new_meta, old_meta = front_matter(fresh), front_matter(existing)
    meta = {**old_meta, **new_meta}
    if "license" in old_meta:  # the owner's choice for these weights; the generated value is only a default
        meta["license"] = old_meta["license"]
    meta["tags"] = list(dict.fromkeys([*old_meta.get("tags", []), *new_meta.get("tags", [])]))
    new_body, old_body = FRONT_MATTER.sub("", fresh), FRONT_MATTER.sub("", existing)
    generated = {m.group(1): m.group(0) for m in SECTION.finditer(new_body)}
    if SECTION.search(old_body):
        body = _add_missing_sections(SECTION.sub(lambda m: generated.get(m.group(1), m.group(0)), old_body), generated)
    else:
        body = old_body.rstrip() + "\n\n" + new_body.lstrip().split("\n", 1)[1].lstrip()  # drop the fresh title
    return f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---\n\n{body.lstrip()}"


def _add_missing_sections(body: str, generated: dict[str, str]) -> str:
    """Generated sections the body lacks (a card made before the template had them), each put after
    the generated section that precedes it in the template, or before the first one."""
    previous = None
    for name, text in generated.items():
        if f"<!-- zoo:{name} -->" not in body:
            if previous is not None:
                end = f"<!-- /zoo:{previous} -->"
                body = body.replace(end, f"{end}\n\n{text}", 1)
            else:
                first = SECTION.search(body)
                body = body[:first.start()] + f"{text}\n\n" + body[first.start():]
        previous = name
    return body


def render(folder, *, load_name: str | None = None, existing: str | None = None) -> str:
    """The card text of a model folder; ``existing``: a card whose hand-written prose is kept."""
    folder = Path(folder)
    config = read_config(folder)
    facts = _facts(config)
    load_name = load_name or default_load_name(folder, config)
    metrics = read_json(folder / "metrics.json")
    parameters = count_parameters(folder / "model.safetensors")
    sampling = config.get("sampling", {})
    title = config.get("name", config["architecture"])
    data_name = config.get("data", {}).get("name", "its data")
    data = _data_section(facts, config)
    body = string.Template(TEMPLATE.read_text()).substitute(
        title=title, load_name=load_name, example=facts.example,
        command=(facts.command or "zoo sample {name} -o samples{suffix}").format(
            name=load_name, suffix=modality(config["modality"]).preview_format.suffix),
        summary=(f"`{title}` is {'an' if config['modality'][0] in 'aeiou' else 'a'} {config['modality']} "
                 f"{_kind(config)} from diffusion-zoo: architecture "
                 f"`{config['architecture']}` with {parameters:,} parameters, trained on `{data_name}` "
                 f"with {config['prediction']} prediction on {'an' if config['schedule']['name'][0] in 'AEIOU' else 'a'} "
                 f"{config['schedule']['name']} noise schedule.  "
                 f"By default it samples with `{sampling.get('sampler', 'unipc')}` in {sampling.get('steps', 20)} steps."),
        caveat=_caveat_section(config, metrics, read_json(folder / "training" / "run.json")),
        intended_use=facts.intended_use, samples=_samples_section(folder, config), data=data,
        training=_training_section(folder, config, parameters),
        sampling=_sampling_section(config, metrics, facts),
        metrics=_metrics_section(metrics, facts, load_name) + _nfe_section(folder),
        limitations="\n".join(f"- {line}" for line in [*facts.limitations, *_few_step_limits(config)]) or "- None recorded.")
    meta = yaml.safe_dump(_front_matter(config, facts, metrics), sort_keys=False, allow_unicode=True)
    return _merge(f"---\n{meta}---\n\n{body}", existing)


def _caveat_section(config: dict, metrics: dict | None, run: dict | None) -> str:
    line = caveat_line(config, metrics, run)
    return f"{CAVEAT}{line}." if line else ""


def _kind(config: dict) -> str:
    """What the model is, in words: a diffusion model, or a consistency model and what it came from."""
    c = config.get("consistency")
    if not c:
        return "diffusion model"
    if c.get("mode") == "distillation":
        guided = f", its classifier-free guidance {c['guidance']:g} baked in" if c.get("guidance") else ""
        return f"consistency model (few-step generator) distilled from `{c.get('teacher')}`{guided},"
    return "consistency model (few-step generator) trained from scratch (consistency training),"


def _few_step_limits(config: dict) -> list[str]:
    if config.get("consistency"):
        return ["A consistency model is a map, not a density: it has no probability-flow ODE, so no likelihood, and "
                "more steps of multistep consistency sampling do not always help (see the quality-versus-NFE table).",
                "It can only be as good as its teacher's ODE solved on its grid; it matches the teacher's metrics at "
                "few steps only as far as the table shows."]
    if config.get("prediction") == "flow" and (config.get("sampling") or {}).get("steps", 20) <= 4:
        return ["A reflowed flow imitates its teacher's ODE coupling: it cannot be better than the teacher's samples "
                "it was trained on, and its likelihood is that of its own ODE, not the teacher's."]
    return []


def _nfe_section(folder: Path) -> str:
    """The quality-versus-NFE table and plot of ``quality_vs_nfe.json`` (``zoo nfe``), if the folder has one."""
    report = read_json(folder / nfe.REPORT)
    if not report:
        return ""
    plot = "samples/quality_vs_nfe.png" if (folder / "samples" / "quality_vs_nfe.png").is_file() else None
    lines = ["", "", "### Quality versus network evaluations", "",
             f"{report['title']}: each model with its own sampler at 1 to {max(report['nfes'])} network evaluations "
             f"(NFE; a guided teacher's evaluation runs a doubled batch), {report.get('n', '?')} "
             f"samples per point, timed on {report['device']}.", "", nfe.table(report)]
    if report.get("notes"):
        lines += ["", report["notes"]]
    if plot:
        lines += ["", f"![quality versus NFE]({plot})"]
    lines += ["", f"Reproduce: `{report['command']}`"]
    return "\n".join(lines)


def write_card(folder, *, load_name: str | None = None) -> Path:
    """(Re)write ``folder/README.md``, keeping the hand-written prose of the one there."""
    path = Path(folder) / "README.md"
    existing = path.read_text() if path.is_file() else None
    card = render(folder, load_name=load_name, existing=existing)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(card))
