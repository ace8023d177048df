"""Writing images: PNG grids (Pillow) and ``.npy`` arrays.

``write`` and ``read_npy`` are the modality's sample formats (``zoo.modality.SampleFormat``):
``write(x, path, *, model, title="", mask=None, labels=None) -> [path]`` puts a class-conditional
model's classes in columns (balanced labels 0, 1, ..., K-1, 0, ... give class k in column k); given
the samples' ``labels``, the grid names the classes in a strip above it (one name per column when
each column holds one class, else above every cell).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from zoo.files import atomic_write

from .data import to_bytes, to_model

__all__ = ["FORMATS", "grid", "write_samples", "write", "read_png", "read_npy"]

FORMATS = (".png", ".npy")
MIN_CELL = 64  # small images are enlarged (nearest neighbour) to at least this many pixels
CLASS_COLUMNS = 10  # default row length when it divides n: balanced labels put class k in column k
LABEL_PIXELS = 11  # font size of class names; a name wider than its cell gets a smaller font, down to LABEL_MIN
LABEL_MIN = 7


def grid(x: torch.Tensor, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Images (n, C, H, W) in [-1, 1] -> one uint8 array (rows, cols) or (rows, cols, 3), white gaps;
    ``columns`` images per row (default 10 when that divides n, else a square)."""
    x = torch.as_tensor(x).detach().cpu()
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (n, 1 or 3, H, W), got {tuple(x.shape)}")
    n, c, h, w = x.shape
    zoom = max(1, math.ceil(MIN_CELL / max(h, w)))
    cells = to_bytes(x).repeat_interleave(zoom, 2).repeat_interleave(zoom, 3).permute(0, 2, 3, 1).numpy()
    h, w = h * zoom, w * zoom
    columns = columns or (CLASS_COLUMNS if n % CLASS_COLUMNS == 0 else math.ceil(math.sqrt(n)))
    rows = math.ceil(n / columns)
    canvas = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, c), 255, dtype=np.uint8)
    for i, cell in enumerate(cells):
        top, left = padding + (i // columns) * (h + padding), padding + (i % columns) * (w + padding)
        canvas[top:top + h, left:left + w] = cell
    return canvas[..., 0] if c == 1 else canvas


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size)
    except (TypeError, OSError):  # Pillow without FreeType: its one bitmap font
        return ImageFont.load_default()


def _fitted(text: str, width: int):
    """The largest font from LABEL_PIXELS down to LABEL_MIN in which ``text`` is at most ``width`` pixels wide."""
    for size in range(LABEL_PIXELS, LABEL_MIN - 1, -1):
        font = _font(size)
        if font.getlength(text) <= width:
            return font
    return font


def labelled(image, names: list[str], columns: int, cell: tuple[int, int], padding: int = 2):
    """The grid ``image`` with each cell's class name above it: one strip on top naming every column's class
    when each column holds one class, else a strip above every row.  names: (n,) class names, row by row."""
    from PIL import Image, ImageDraw

    w, h = cell
    rows = math.ceil(len(names) / columns)
    per_column = all(names[i] == names[i % columns] for i in range(len(names)))
    strip = LABEL_PIXELS + 5
    strips = 1 if per_column else rows
    out = Image.new(image.mode, (image.width, image.height + strips * strip), 255 if image.mode == "L" else (255,) * 3)
    draw = ImageDraw.Draw(out)
    if per_column:
        out.paste(image, (0, strip))
    else:
        for row in range(rows):  # each row's top gap and cells, moved down by the strips above it
            band = image.crop((0, row * (h + padding), image.width, (row + 1) * (h + padding)))
            out.paste(band, (0, row * (h + padding) + (row + 1) * strip))
    ink = 0 if image.mode == "L" else (0, 0, 0)
    for i, name in enumerate(names[:columns] if per_column else names):
        row, column = divmod(i, columns)
        centre = padding + column * (w + padding) + w / 2
        top = (0 if per_column else row * (h + strip + padding)) + strip / 2 + 1
        draw.text((centre, top), name, fill=ink, font=_fitted(name, w + padding), anchor="mm")
    return out


def write_samples(x: torch.Tensor, path, *, title: str = "", columns: int | None = None,
                  labels: list[str] | None = None) -> Path:
    """Write images (n, C, H, W) in [-1, 1] to ``path``: a PNG grid (``columns`` per row, see
    ``grid``; ``title`` goes in the PNG's text chunk; ``labels``, n class names, are written above
    their cells, see ``labelled``) or the raw float array (``.npy``)."""
    from PIL import Image, PngImagePlugin

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot write images to {path.name!r}: use one of {FORMATS}")
    x = torch.as_tensor(x).detach().cpu()
    if x.ndim != 4:
        raise ValueError(f"images must have shape (n, C, H, W), got {tuple(x.shape)}")
    if suffix == ".npy":
        def save_npy(tmp):
            with open(tmp, "wb") as handle:
                np.save(handle, x.float().numpy())
        return atomic_write(path, save_npy)
    info = PngImagePlugin.PngInfo()
    if title:
        info.add_text("Title", title)
    image = Image.fromarray(grid(x, columns))
    if labels is not None:
        if len(labels) != len(x):
            raise ValueError(f"got {len(labels)} labels for {len(x)} images")
        n, _, h, w = x.shape
        zoom = max(1, math.ceil(MIN_CELL / max(h, w)))
        columns = columns or (CLASS_COLUMNS if n % CLASS_COLUMNS == 0 else math.ceil(math.sqrt(n)))
        image = labelled(image, [str(name) for name in labels], columns, (w * zoom, h * zoom))
    return atomic_write(path, lambda tmp: image.save(tmp, format="PNG", pnginfo=info))


def _class_names(model, labels) -> list[str] | None:
    """Each sample's class name (the names of the model's data, else the label numbers), or None."""
    if labels is None:
        return None
    from .data import CLASSES

    known = tuple(model.class_names) if model is not None and model.class_names else CLASSES.get(
        ((model.config.get("data") or {}).get("name") if model is not None else None), ())
    indices = [int(k) for k in torch.as_tensor(labels).reshape(-1).tolist()]
    return [known[k] if 0 <= k < len(known) else str(k) for k in indices]


def write(x: torch.Tensor, path, *, model=None, title: str = "", mask=None, labels=None) -> list[Path]:
    """Samples (n, C, H, W) of ``model`` to ``path`` (.png grid or .npy), as ``[path]``; a
    class-conditional model's grid has one column per class (fewer for n < K); ``labels`` (n,), the
    samples' classes, put each class's name above its cells."""
    if mask is not None:
        raise ValueError("images have no mask: every pixel is real")
    classes = model.num_classes if model is not None else 0
    columns = min(len(x), classes) if classes else None
    names = _class_names(model, labels) if Path(path).suffix.lower() == ".png" else None
    return [write_samples(x, path, title=title, columns=columns, labels=names)]


def read_npy(path) -> torch.Tensor:
    """Images (n, C, H, W) back from a ``.npy`` file written by ``write``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    x = torch.from_numpy(np.load(path, allow_pickle=False))
    if x.ndim != 4:
        raise ValueError(f"{path} holds an array of shape {tuple(x.shape)}, not images (n, C, H, W)")
    return x


def read_png(path) -> torch.Tensor:
    """A PNG as a (C, H, W) float tensor in [-1, 1] (bin centres); C is 1 for grey, 3 for colour."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    with Image.open(path) as image:
        array = np.asarray(image.convert("L" if image.mode in ("L", "1", "I", "P") else "RGB"))
    pixels = torch.from_numpy(array.copy())
    pixels = pixels[None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)
    return to_model(pixels)
