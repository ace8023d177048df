"""``zoo demo``: sample every released model into a folder with an index.html to look at."""
from __future__ import annotations

import html
from pathlib import Path

from . import cards, hub
from .files import atomic_write
from .registry import list_models, modality

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


def _media(file: str) -> str:
    suffix = Path(file).suffix.lower()
    if suffix in cards.IMAGE_SUFFIXES:
        return f'<img src="{html.escape(file)}" alt="samples">'
    if suffix in cards.AUDIO_SUFFIXES:
        return f'<audio controls src="{html.escape(file)}"></audio>'
    return f'<a href="{html.escape(file)}">{html.escape(file)}</a>'


def build(out_dir, *, names: list[str] | None = None, n: int | None = None, seed: int = 0, **load_options) -> Path:
    """Sample each model (default: every released one) into ``out_dir/<modality>/<name>.<preview>``
    and write ``out_dir/index.html`` with each model's card summary.  Returns the index's path.
    n: samples per model (default: the modality's ``DEMO_N``, else 16)."""
    out = Path(out_dir)
    sections = []
    for name in names if names is not None else list_models(pretrained=True):
        model = hub.load(name, **load_options)
        adapter = modality(model.config["modality"])
        count = n or getattr(adapter, "DEMO_N", 16)
        x, how = hub.draw_samples(model, count, seed=seed)
        file = f"{name.replace('.', '_')}{adapter.SAMPLE_FORMATS[0]}"
        adapter.write_samples(x, out / file, title=f"{name}: {how.get('sampler')}, {how.get('steps')} steps")
        card = model.origin.path / "README.md"
        about = cards.summary(card.read_text()) if card.is_file() else ""
        sections.append(
            f"<section><h2>{html.escape(name)}</h2><p>{html.escape(about)}</p>{_media(file)}"
            f"<p>{html.escape(how.get('what', f'{count} samples'))}; sampler <code>{html.escape(str(how.get('sampler')))}"
            f"</code>, {how.get('steps')} steps; loaded from the {html.escape(model.origin.source)} copy.</p></section>")
    page = PAGE.format(seed=seed, sections="\n".join(sections))
    return atomic_write(out / "index.html", lambda tmp: Path(tmp).write_text(page))
