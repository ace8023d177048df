"""The wheel carries model_cards/ (the embedded copies of the released models and the card template)."""
import fnmatch
from pathlib import Path

import pytest

from zoo import hub

tomllib = pytest.importorskip("tomllib")
ROOT = Path(__file__).resolve().parent.parent


def test_every_file_under_model_cards_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "model_cards*" in config["packages"]["find"]["include"] and config["packages"]["find"]["namespaces"]
    patterns = config["package-data"]["model_cards"]
    files = [p.relative_to(hub.MODEL_CARDS).as_posix() for p in hub.MODEL_CARDS.rglob("*") if p.is_file()]
    assert "TEMPLATE.md" in files
    left_out = [f for f in files if not any(fnmatch.fnmatchcase(f, p) for p in patterns)]
    assert left_out == [], f"add patterns to [tool.setuptools.package-data] for {left_out}"


def test_embedded_copies_fit_the_size_budget():
    sizes = {p: p.stat().st_size for p in hub.MODEL_CARDS.rglob("*") if p.is_file()}
    assert sum(sizes.values()) < 150 * 2**20
    for path, size in sizes.items():
        if path.name == "model.safetensors":
            assert size < 20 * 2**20, path


def test_the_image_classifiers_are_package_data():
    """zoo eval of an image model needs the local classifiers in an installed wheel too."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["modalities.image"]
    folder = ROOT / "modalities" / "image"
    files = [p.relative_to(folder).as_posix() for p in (folder / "classifiers").iterdir()]
    assert files and all(any(fnmatch.fnmatchcase(f, p) for p in patterns) for f in files)
