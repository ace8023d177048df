"""``zoo demo``: sample every released model into a folder with an index.html to look at."""
from __future__ import annotations

import html
import logging
import time
from pathlib import Path

from . import cards
from .files import atomic_write
from .loading import load
from .registry import list_models, modality
from .saving import draw_samples

log = logging.getLogger("zoo")

__all__ = ["build"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>diffusion-zoo demo</title>
<style>body{{font-family:sans-serif;max-width:72em;margin:2em auto}}section{{border-top:1px solid #ccc;padding:1em 0}}
img{{max-width:28em}}code{{background:#f4f4f4}}</style></head><body>
<h1>diffusion-zoo: every released model, sampled</h1>
<p>Made by <code>zoo demo</code> with seed {seed}; each model used its default sampler and steps.</p>
{sections}
</body></html>
"""


def build(out_dir, *, names: list[str] | None = None, n: int | None = None, seed: int = 0, device=None,
          **load_options) -> Path:
    """Sample each model (default: every released one) into ``out_dir/<modality>/<name>.<preview>``
    and write ``out_dir/index.html`` with each model's card summary.  Returns the index's path.
    n: samples per model (default: the modality's ``Defaults.demo_n``, at its ``demo_steps``)."""
    out = Path(out_dir)
    sections = []
    chosen = names if names is not None else list_models(pretrained=True)
    for index, name in enumerate(chosen, 1):
        start = time.perf_counter()
        model = load(name, device=device, **load_options)
        adapter = modality(model.config["modality"])
        count = n or adapter.defaults.demo_n
        x, how = draw_samples(model, count, seed=seed, steps=adapter.defaults.demo_steps)
        file = f"{name.replace('.', '_')}{adapter.preview_format.suffix}"
        (out / file).parent.mkdir(parents=True, exist_ok=True)
        adapter.preview_format.write(x, out / file, model=model,
                                     title=f"{name}: {how.get('sampler')}, {how.get('steps')} steps")
        card = model.origin.path / "README.md"
        about = cards.summary(card.read_text()) if card.is_file() else ""
        log.info("demo %d/%d: %s in %.1f s", index, len(chosen), name, time.perf_counter() - start)
        sections.append(
            f"<section><h2>{html.escape(name)}</h2><p>{html.escape(about)}</p>"
            f"{cards.embed(adapter.name, file, how.get('what', f'{count} samples'))}"
            f"<p>{html.escape(how.get('what', f'{count} samples'))}; sampler <code>{html.escape(str(how.get('sampler')))}"
            f"</code>, {how.get('steps')} steps; loaded from the {html.escape(model.origin.source)} copy.</p></section>")
    page = PAGE.format(seed=seed, sections="\n".join(sections))
    return atomic_write(out / "index.html", lambda tmp: Path(tmp).write_text(page))
