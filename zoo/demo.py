"""``zoo demo``: sample every released model into a folder with an index.html to look at.

The page shows the models pictures first (players and links after), each group from the smallest
sample up (so the 2-D toys open it and the audio closes it); each model's output with its card's
caveat beside it, its card summary (Markdown rendered), how it was drawn and where it came from.
The Hub is tried once: after it cannot be reached, the other models load without network (the
Hugging Face cache, then the copies shipped with the package) and one line says so.
"""
from __future__ import annotations

import html
import logging
import math
import re
import sys
import time
from pathlib import Path

import torch

from . import cards
from .files import atomic_write
from .folder import load_folder, read_config
from .modality import PICTURE
from .names import is_offline, resolve
from .registry import list_models, modality
from .saving import draw_samples

log = logging.getLogger("zoo")

__all__ = ["build", "markdown_html"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>diffusion-zoo demo</title>
<style>
body{{font-family:sans-serif;max-width:76em;margin:2em auto;padding:0 1em;line-height:1.4}}
section{{border-top:1px solid #ccc;padding:1em 0}}
h2{{margin:0 0 .5em}}
.model{{display:flex;flex-wrap:wrap;gap:1em 2em;align-items:flex-start}}
figure{{margin:0;max-width:100%}}
figcaption{{font-size:.9em;color:#444;max-width:40em}}
img{{max-width:100%;height:auto;image-rendering:pixelated}}
.about{{flex:1 1 24em;min-width:18em}}
.caveat{{background:#fff4d6;border-left:4px solid #e0a800;padding:.4em .7em;margin:0 0 .7em}}
.how{{font-size:.9em;color:#444}}
code{{background:#f0f0f0;padding:0 .2em}}
nav a{{white-space:nowrap}}
</style></head><body>
<h1>diffusion-zoo: every released model, sampled</h1>
<p>Made by <code>zoo demo</code> with seed {seed}: {count} models, each with its default sampler at the demo's
number of steps, pictures first and each kind from the smallest sample up.  {source}</p>
<nav>{nav}</nav>
{sections}
</body></html>
"""

SECTION = """<section id="{anchor}"><h2>{name}</h2>
<div class="model"><figure>{output}<figcaption>{what}</figcaption></figure>
<div class="about">{caveat}{summary}
<p class="how">Sampler <code>{sampler}</code>, {steps}{nfe}, seed {seed}; drawn in {seconds:.1f} s; loaded from
the {source} copy{card}.</p></div></div></section>"""

_TOKEN = re.compile(r"`([^`\n]+)`|\[([^\]\n]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])|(?<![\w])_(?=\S)(.+?)(?<=\S)_(?!\w)")


def markdown_html(text: str, folder: Path | None = None) -> str:
    """The Markdown a card writes (paragraphs, "- " lists, inline code, bold, italics, links) as HTML;
    anything else stays text, escaped.  Relative links point into ``folder`` (the model's)."""
    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.strip().splitlines()
        if not lines:
            continue
        if all(re.match(r"[-*] ", line.strip()) for line in lines):
            items = "".join(f"<li>{_inline(line.strip()[2:], folder)}</li>" for line in lines)
            blocks.append(f"<ul>{items}</ul>")
        else:
            blocks.append(f"<p>{_inline(' '.join(line.strip() for line in lines), folder)}</p>")
    return "\n".join(blocks)


def _href(url: str, folder: Path | None) -> str:
    if folder is None or re.match(r"[a-z][a-z0-9+.-]*:|#|/", url):
        return url
    return (Path(folder) / url).resolve().as_uri()


def _inline(text: str, folder: Path | None) -> str:
    kept = []

    def keep(match: re.Match) -> str:
        if match.group(1) is not None:
            kept.append(f"<code>{html.escape(match.group(1), quote=False)}</code>")
        else:
            kept.append(f'<a href="{html.escape(_href(match.group(3), folder))}">{_inline(match.group(2), folder)}</a>')
        return f"\x00{len(kept) - 1}\x00"

    text = html.escape(_TOKEN.sub(keep, text), quote=False)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    text = _ITALIC.sub(lambda m: f"<em>{m.group(1) or m.group(2)}</em>", text)
    return re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], text)


def _count(k, noun: str) -> str:
    return f"{k} {noun}{'' if k == 1 else 's'}"


def _order(found: dict) -> list[str]:
    """Names in the page's order: pictures first, each kind from its smallest sample up, then by name."""
    smallest: dict[str, int] = {}
    for entry in found.values():
        kind = entry["config"]["modality"]
        size = math.prod(entry["config"].get("sample_shape") or [0])
        smallest[kind] = min(size, smallest.get(kind, size))

    def key(name: str):
        kind = found[name]["config"]["modality"]
        return modality(kind).preview_format.embed != PICTURE, smallest[kind], kind, name
    return sorted(found, key=key)


def _resolve_all(chosen: list[str], options: dict) -> dict:
    """Each name's folder and config, trying the Hub until it once cannot be reached; says once where they came from."""
    found, unreachable, missing = {}, None, []
    asked_offline = is_offline(bool(options.get("local_files_only")))  # local_files_only or HF_HUB_OFFLINE
    for name in chosen:
        offline = asked_offline or unreachable is not None
        where = resolve(name, quiet=True, **{**options, "local_files_only": offline})
        if where.unreachable and unreachable is None:
            unreachable = where.note
        elif where.source == "embedded" and not offline and not where.unreachable:  # the Hub answered: no such model
            missing.append(name)
        found[name] = {"where": where, "config": read_config(where.path)}
    sources = {entry["where"].source for entry in found.values()}
    if unreachable is not None:
        log.debug("the Hub could not be reached: %s", unreachable)
        log.info("offline: using the %s", " and the ".join(
            [*(["Hugging Face cache"] if "hf-cache" in sources else []), "copies shipped with the package"]))
    if missing:
        log.info("%d of %d models are not on the Hub: using the copies shipped with the package (%s)",
                 len(missing), len(chosen), ", ".join(missing))
    return found


def _picture_size(path: Path) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):  # not a picture Pillow reads (UnidentifiedImageError is an OSError): the browser sizes it
        return None


def _output(adapter, out: Path, file: str, alt: str) -> str:
    """The embed HTML of a sample file; a picture gets its pixel size (shown 1:1, pixels kept sharp)."""
    shown = cards.embed(adapter.name, file, alt)
    size = _picture_size(out / file) if shown.startswith("<img ") else None
    return shown.replace("<img ", f'<img width="{size[0]}" height="{size[1]}" ', 1) if size else shown


def _caveat(card: str, folder: Path, config: dict) -> str:
    """The card's caveat; a card from before caveats: the same line measured from the folder."""
    return cards.caveat(card) if "<!-- zoo:caveat -->" in card else cards.folder_caveat(folder, config)


def _plan(name: str, config: dict, n: int | None, steps: int | None) -> tuple[int, int | None, str]:
    """How many samples a model draws, at what steps (None: its own), and the progress bar's words for it."""
    defaults, sampling = modality(config["modality"]).defaults, config.get("sampling", {})
    count, steps = n or defaults.demo_n, steps or defaults.demo_steps
    shown = f"{sampling.get('sampler', 'unipc')} {_count(steps or sampling.get('steps', 20), 'step')}"
    return count, steps, f"{name}: {_count(count, 'sample')}, {shown}"


def _section(name: str, where, config: dict, out: Path, *, n, steps, seed: int, device, dtype) -> str:
    """Draw one model's samples into ``out`` and return its section of the page."""
    start = time.perf_counter()
    adapter = modality(config["modality"])
    count, steps, _ = _plan(name, config, n, steps)
    model = load_folder(where.path, device=device, dtype=dtype)
    model.origin = where
    x, how = draw_samples(model, count, seed=seed, steps=steps)
    file = f"{name.replace('.', '_')}{adapter.preview_format.suffix}"
    (out / file).parent.mkdir(parents=True, exist_ok=True)
    labels = model.balanced_labels(count) if model.num_classes else None  # the order of a preview's classes
    adapter.preview_format.write(x, out / file, model=model, title=f"{name}: {how.get('sampler')}, "
                                 f"{_count(how.get('steps'), 'step')}", **({"labels": labels} if labels is not None else {}))
    card_file = where.path / "README.md"
    card = card_file.read_text() if card_file.is_file() else ""
    caveat = _caveat(card, where.path, config)
    what = how.get("what", _count(count, "sample"))
    return SECTION.format(
        anchor=_anchor(name), name=html.escape(name), output=_output(adapter, out, file, what), what=html.escape(what),
        caveat=f'<p class="caveat"><strong>Caveat:</strong> {_inline(caveat, where.path)}</p>' if caveat else "",
        summary=markdown_html(cards.summary(card), where.path), sampler=html.escape(str(how.get("sampler"))),
        steps=_count(how.get("steps"), "step"), nfe=f" ({how['nfe']} network evaluations)" if how.get("nfe") else "",
        seed=seed, seconds=time.perf_counter() - start, source=html.escape(where.source),
        card=f' (<a href="{html.escape(card_file.resolve().as_uri())}">its model card</a>)' if card else "")


def _anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower())


SOURCES = {"embedded": "The models are the copies shipped with the package.",
           "hub": "The models were downloaded from the Hugging Face Hub.",
           "hf-cache": "The models came from the Hugging Face cache.",
           "local-dir": "The models were read from folders."}


def build(out_dir, *, names: list[str] | None = None, n: int | None = None, seed: int = 0, device=None,
          steps: int | None = None, threads: int | None = 1, **load_options) -> Path:
    """Sample each model (default: every released one) into ``out_dir/<modality>/<name>.<preview>``
    and write ``out_dir/index.html`` with each model's output, card caveat and summary.  Returns the
    index's path.  n: samples per model (default: the modality's ``Defaults.demo_n``); steps: sampler
    steps of every model (default: the modality's ``demo_steps``, else the model's own).
    ``load_options``: those of ``zoo.load``.  A progress bar on stderr says what each model draws.
    threads: torch's intra-op threads while sampling (None: torch's own default).  One by default: the
    demo's batches are small, and on a machine whose other core is busy two spinning threads made
    it about seven times slower (image/fashion's 10 samples: 7 s on one thread, 53 s on two)."""
    out = Path(out_dir)
    dtype = load_options.pop("dtype", None)
    chosen = list(names) if names else list_models(pretrained=True)
    found = _resolve_all(chosen, load_options)
    order = chosen if names else _order(found)
    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _build(out, order, found, n=n, steps=steps, seed=seed, device=device, dtype=dtype)
    finally:
        torch.set_num_threads(threads_before)


def _build(out: Path, order: list[str], found: dict, *, n, steps, seed, device, dtype) -> Path:
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    sections = []
    first = _plan(order[0], found[order[0]]["config"], n, steps)[2] if order else ""
    with logging_redirect_tqdm(loggers=[log]), tqdm(total=len(order), unit="model", file=sys.stderr, desc=first,
                                                     dynamic_ncols=True) as bar:
        for name in order:
            where, config = found[name]["where"], found[name]["config"]
            bar.set_description_str(_plan(name, config, n, steps)[2])
            sections.append(_section(name, where, config, out, n=n, steps=steps, seed=seed, device=device, dtype=dtype))
            bar.update()
    sources = sorted({found[name]["where"].source for name in order})
    page = PAGE.format(seed=seed, count=len(order), sections="\n".join(sections),
                       nav=" · ".join(f'<a href="#{_anchor(name)}">{html.escape(name)}</a>' for name in order),
                       source=" ".join(SOURCES.get(s, "") for s in sources).strip())
    return atomic_write(out / "index.html", lambda tmp: Path(tmp).write_text(page))
