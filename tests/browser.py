"""Open a local HTML page in headless Chromium and check what a reader would see.

``check_page(index, screenshot)`` asserts that every ``<img>`` decoded (naturalWidth > 0), every
``<audio>`` has a finite duration > 0 once loaded, and every link (``a href``, any ``src``) is a file
that exists (or an anchor of the page); it saves a full-page PNG screenshot.  ``available()`` says
why it cannot run here ("" when it can): it needs Debian's ``chromium`` and ``chromium-driver``
(``/usr/bin/chromium``, ``/usr/bin/chromedriver``) and ``pip install selenium``.

    python3 -m tests.browser DEMO/index.html screenshot.png
"""
from __future__ import annotations

import base64
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# no network here: nothing in the background may try it; a fresh profile each run
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--allow-file-access-from-files", "--autoplay-policy=no-user-gesture-required")
WIDTH = 1280  # CSS pixels of the window (the screenshot's width)

# every <audio>: load it and wait (up to 20 s) for its metadata or an error; the callback gets [src, duration|null]
AUDIO = """
const done = arguments[arguments.length - 1];
const players = Array.from(document.querySelectorAll('audio'));
const wait = players.map(a => new Promise(resolve => {
  const finish = () => resolve([a.currentSrc || a.src, Number.isFinite(a.duration) ? a.duration : null]);
  if (a.readyState >= 1) return finish();
  a.addEventListener('loadedmetadata', finish, {once: true});
  a.addEventListener('error', finish, {once: true});
  setTimeout(finish, 20000);
  a.preload = 'metadata'; a.load();
}));
Promise.all(wait).then(done);
"""
# every <img> once the page has loaded: [src, complete, naturalWidth]
IMAGES = "return Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete, i.naturalWidth]);"
# every link: [tag, attribute, the absolute URL the browser resolved]
LINKS = """
const found = [];
for (const e of document.querySelectorAll('[href], [src]')) {
  for (const name of ['href', 'src']) {
    if (e.hasAttribute(name)) found.push([e.tagName.toLowerCase(), name, e[name] || e.getAttribute(name)]);
  }
}
return found;
"""


def available() -> str:
    """"" when the check can run here, else why not."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'selenium>=4')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).is_file():
            return f"{path} is missing (apt-get install {package})"
    return ""


def _driver(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _local(url: str, page: Path) -> str:
    """"" when ``url`` is a file that exists or an anchor of ``page``, else what is wrong with it."""
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return f"{url}: not a local file"
    path = Path(unquote(parsed.path))
    if path == page and parsed.fragment:
        return ""  # an anchor: checked against the page's ids
    return "" if path.is_file() else f"{url}: no such file"


def check_page(index, screenshot) -> dict:
    """Open ``index`` in headless Chromium, assert its pictures, players and links work, and save a
    full-page screenshot to ``screenshot``.  Returns what was checked: images, audio, links (counts)."""
    index, screenshot = Path(index).resolve(), Path(screenshot)
    profile = tempfile.mkdtemp(prefix="zoo-chromium-")
    driver = _driver(profile)
    try:
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(60)
        driver.get(index.as_uri())
        images = driver.execute_script(IMAGES)
        broken = [src for src, complete, width in images if not complete or not width]
        assert not broken, f"pictures that did not decode: {broken}"
        audio = driver.execute_async_script(AUDIO)
        silent = [src for src, duration in audio if not duration or duration <= 0]
        assert not silent, f"players without a finite duration > 0: {silent}"
        links = driver.execute_script(LINKS)
        ids = set(driver.execute_script("return Array.from(document.querySelectorAll('[id]')).map(e => e.id);"))
        bad = [problem for _, _, url in links if (problem := _local(url, index))]
        bad += [url for _, _, url in links if url.startswith(index.as_uri() + "#") and url.split("#", 1)[1] not in ids]
        assert not bad, f"links that lead nowhere: {bad}"
        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        return {"images": len(images), "audio": len(audio), "links": len(links)}
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    why = available()
    if why:
        sys.exit(f"cannot check the page: {why}")
    print(check_page(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "screenshot.png"))
