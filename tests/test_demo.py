"""zoo demo: the gallery page of every released model, its caveats from the cards, the one offline line,
and a real browser's view of the page (headless Chromium, when installed)."""
import json
import logging
import re
import shutil

import pytest
import torch

import zoo
from tests import browser
from zoo import cards, demo, names, runs
from zoo.modality import PICTURE
from zoo.names import MODEL_CARDS

OFFLINE = "offline: using the copies shipped with the package"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """One demo of every released model (1 sampler step each: the page, not the samples, is under test)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("demo")
    try:
        index = demo.build(out, steps=1, local_files_only=True)
    finally:
        torch.set_num_threads(threads)
    return index


def _sections(html: str) -> list[str]:
    return re.findall(r'<section id="[^"]+"><h2>([^<]+)</h2>', html)


def test_the_page_shows_every_released_model_with_its_caveat_pictures_first(page):
    html = page.read_text()
    shown = _sections(html)
    assert sorted(shown) == zoo.list_models(pretrained=True)
    kinds = list(dict.fromkeys(name.split("/")[0] for name in shown))
    assert kinds[0] == "toy2d" and kinds[-1] == "audio" and kinds.index("image") == 1  # not the vocoders first
    for name, section in zip(shown, html.split("<section ")[1:]):
        caveat = cards.caveat((MODEL_CARDS / name / "README.md").read_text())
        assert caveat and '<p class="caveat"><strong>Caveat:</strong>' in section, name
        assert "`" not in section, f"{name}: Markdown left unrendered"
        assert f"<code>{name}</code>" in section  # the summary's inline code
    assert "CPU-trained (24 min on CPU in one segment, 2,500 steps); not yet better than <code>real_images</code>" in html
    # pictures at their pixel size, kept sharp; class-conditional grids name their classes in the picture
    assert re.search(r'<img width="\d+" height="\d+" src="image/fashion.png"', html)
    assert "image-rendering:pixelated" in html


def test_browser_decodes_every_picture_and_player_and_every_link_leads_to_a_file(page):
    why = browser.available()
    if why:
        pytest.skip(f"no browser check: {why}")
    found = browser.check_page(page, page.parent / "screenshot.png")
    embeds = [zoo.registry.modality(name.split("/")[0]).preview_format.embed for name in zoo.list_models(pretrained=True)]
    assert found["images"] == embeds.count(PICTURE) and found["audio"] == sum("<audio" in e for e in embeds), found
    assert found["links"] > len(embeds) * 2, found  # each model's output and card, and the page's index
    from PIL import Image

    with Image.open(page.parent / "screenshot.png") as shot:
        assert shot.width >= 1000 and shot.height > 4000  # the whole page, not one screen of it


def test_markdown_of_a_card_is_rendered_and_escaped(tmp_path):
    text = ("`image/fashion` <b>is</b> **bold**, *slanted* and _also_; snake_case_name and 2 * 3 * 4 stay; "
            "see [the `recipe`](training/recipe.yaml) or [the Hub](https://huggingface.co).\n\n- one\n- **two**")
    html = demo.markdown_html(text, tmp_path)
    assert html.startswith("<p><code>image/fashion</code> &lt;b&gt;is&lt;/b&gt; <strong>bold</strong>, "
                           "<em>slanted</em> and <em>also</em>; snake_case_name and 2 * 3 * 4 stay; ")
    assert f'<a href="{(tmp_path / "training/recipe.yaml").as_uri()}">the <code>recipe</code></a>' in html
    assert '<a href="https://huggingface.co">the Hub</a>.</p>' in html
    assert html.endswith("<ul><li>one</li><li><strong>two</strong></li></ul>")
    assert demo.markdown_html("`<script>` & *x*") == "<p><code>&lt;script&gt;</code> &amp; <em>x</em></p>"


def test_the_hub_is_tried_once_and_one_calm_line_says_the_demo_is_offline(tmp_path, monkeypatch, caplog, capsys):
    tried = []
    real = names._from_hub

    def counted(*args, **kwargs):
        tried.append(args[0])
        return real(*args, **kwargs)
    monkeypatch.setattr(names, "_from_hub", counted)
    caplog.set_level(logging.INFO, logger="zoo")
    index = demo.build(tmp_path, names=["toy2d/moons", "toy2d/ring8", "toy2d/swissroll"], n=50, steps=1)
    assert tried == ["diffusion-zoo/toy2d-moons"]  # the conftest's endpoint is a closed port: refused at once
    lines = [r.getMessage() for r in caplog.records]
    assert lines.count(OFFLINE) == 1 and not [m for m in lines if "could not be used" in m], lines
    err = capsys.readouterr().err
    assert "could not be used" not in err
    assert "toy2d/ring8: 50 samples, unipc 1 step" in err  # the progress bar says what it draws
    assert _sections(index.read_text()) == ["toy2d/moons", "toy2d/ring8", "toy2d/swissroll"]  # the order asked for


def test_a_hub_without_the_models_is_said_once_and_is_not_offline(tmp_path, hub, caplog):
    caplog.set_level(logging.INFO, logger="zoo")
    demo.build(tmp_path, names=["toy2d/moons", "toy2d/ring8"], n=20, steps=1, endpoint=hub.url)
    lines = [r.getMessage() for r in caplog.records]
    assert OFFLINE not in lines and len(hub.requests) == 2
    assert lines == ["2 of 2 models are not on the Hub: using the copies shipped with the package (toy2d/moons, toy2d/ring8)"]


AUDIO = json.loads((MODEL_CARDS / "audio/diffwave/metrics.json").read_text())
CONFIG = {"modality": "audio"}


def one_segment(device, seconds):
    return runs.record(None, {"device": device, "processes": 1, "precision": "fp32", "first_step": 0,
                              "last_step": 1000, "steps": 1000, "seconds": seconds, "date": None, "commit": None})


def test_the_caveat_of_a_cpu_trained_model_behind_its_baseline_says_both():
    run = one_segment("CPU, 1 thread", 600.0)
    assert cards.caveat_line(CONFIG, {**AUDIO, "mrstft_band": 1.937}, run) == (
        "CPU-trained (10 min on CPU in one segment, 1,000 steps); not yet better than `griffin_lim_64` on band MRSTFT "
        "to the recording: 1.937 against 0.6404 (lower is better)")  # a vocoder's primary metric
    image = json.loads((MODEL_CARDS / "image/mnist/metrics.json").read_text())
    assert cards.caveat_line({"modality": "image"}, image, None) == (
        "not yet better than `real_images` on FD (local classifier): 9.473 against 0.3492 (lower is better)")


def test_a_model_that_beats_its_baseline_has_no_such_caveat_and_a_gpu_trained_one_none_at_all():
    better = {**AUDIO, "mrstft_band": 0.5}
    assert cards.caveat_line(CONFIG, better, one_segment("NVIDIA H100 80GB HBM3", 60.0)) == ""
    assert cards.caveat_line(CONFIG, better, one_segment("CPU, 2 threads", 30.0)) == (
        "CPU-trained (30 s on CPU in one segment, 1,000 steps)")
    mixed = runs.record(one_segment("CPU, 2 threads", 30.0), {**one_segment("NVIDIA H100 80GB HBM3", 60.0)["segments"][0],
                                                               "first_step": 1000, "last_step": 2000})
    assert cards.caveat_line(CONFIG, better, mixed) == ""  # a segment on a GPU: not CPU-trained
    assert cards.caveat_line(CONFIG, {k: v for k, v in AUDIO.items() if not isinstance(v, dict)}, None) == ""


def test_the_card_carries_the_caveat_and_an_older_card_gains_it_under_its_summary(tmp_path):
    folder = tmp_path / "diffwave"
    shutil.copytree(MODEL_CARDS / "audio/diffwave", folder)
    card = (folder / "README.md").read_text()
    older = re.sub(r"<!-- zoo:caveat -->\n.*?<!-- /zoo:caveat -->\n\n", "", card, flags=re.S)
    assert "zoo:caveat" not in older and "## Notes" in older
    again = cards.render(folder, existing=older)
    assert again.index("<!-- /zoo:summary -->") < again.index("<!-- zoo:caveat -->") < again.index("## Notes")
    assert cards.caveat(again) == "CPU-trained (49 min on CPU in 2 segments, 7,350 steps)."  # ahead of Griffin-Lim
    record = json.loads((folder / "training" / "run.json").read_text())
    record["segments"][0]["device"] = "NVIDIA H100 80GB HBM3"
    (folder / "training" / "run.json").write_text(json.dumps(record))
    (folder / "metrics.json").write_text(json.dumps({**AUDIO, "mrstft_band": 0.5}))
    beaten = cards.render(folder, existing=again)
    assert "<!-- zoo:caveat -->\n\n<!-- /zoo:caveat -->" in beaten and cards.caveat(beaten) == ""


def test_the_demo_samples_on_the_threads_asked_for_and_gives_torch_its_own_back(tmp_path, monkeypatch):
    seen, real = [], demo.draw_samples
    monkeypatch.setattr(demo, "draw_samples", lambda *a, **k: (seen.append(torch.get_num_threads()), real(*a, **k))[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        demo.build(tmp_path / "one", names=["toy2d/ring8-cm"], n=50, local_files_only=True)
        demo.build(tmp_path / "own", names=["toy2d/ring8-cm"], n=50, threads=None, local_files_only=True)
        assert seen == [1, 2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
