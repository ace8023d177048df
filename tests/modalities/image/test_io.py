import numpy as np
import pytest
import torch
from PIL import Image

from modalities.image import io
from modalities.image.data import to_model


def test_png_grid_round_trips_the_bytes(tmp_path):
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (6, 1, 8, 8), generator=g, dtype=torch.uint8)
    path = io.write_samples(to_model(pixels), tmp_path / "grid.png", title="six", columns=3)
    zoom = io.MIN_CELL // 8
    grid = io.read_png(path)
    cell, pad = 8 * zoom, 2
    assert grid.shape == (1, 2 * (cell + pad) + pad, 3 * (cell + pad) + pad)
    for i in range(6):
        top, left = pad + (i // 3) * (cell + pad), pad + (i % 3) * (cell + pad)
        cell_pixels = grid[:, top:top + cell:zoom, left:left + cell:zoom]
        assert torch.allclose(cell_pixels, to_model(pixels[i]))
    assert Image.open(path).text["Title"] == "six"


def test_colour_grid_and_npy(tmp_path):
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    assert io.read_png(io.write_samples(x, tmp_path / "c.png")).shape[0] == 3
    np.testing.assert_array_equal(np.load(io.write_samples(x, tmp_path / "c.npy")), x.numpy())


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"\(n, 1 or 3, H, W\), got \(4, 2, 8, 8\)"):
        io.write_samples(torch.zeros(4, 2, 8, 8), tmp_path / "x.png")
    with pytest.raises(ValueError, match="use one of"):
        io.write_samples(torch.zeros(4, 1, 8, 8), tmp_path / "x.jpg")
    with pytest.raises(ValueError, match="does not exist"):
        io.read_png(tmp_path / "nothing.png")


class Conditional:
    """What ``io.write`` asks of a model: its number of classes."""

    def __init__(self, num_classes):
        self.num_classes = num_classes


@pytest.mark.parametrize("n, classes, columns", [(25, 10, 10), (16, 10, 10), (4, 10, 4), (12, 8, 8), (16, 0, 4)])
def test_write_puts_a_class_conditional_models_classes_in_columns(tmp_path, n, classes, columns):
    cell = io.MIN_CELL + 2  # an 8 x 8 image is enlarged to 64 x 64, with a 2-pixel gap
    written = io.write(torch.zeros(n, 1, 8, 8), tmp_path / "g.png", model=Conditional(classes), title="t")
    assert written == [tmp_path / "g.png"]
    with Image.open(written[0]) as image:
        assert image.size == (columns * cell + 2, -(-n // columns) * cell + 2)


def test_npy_round_trips_exactly_and_images_have_no_mask(tmp_path):
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    [path] = io.write(x, tmp_path / "x.npy", model=Conditional(10))
    assert torch.equal(io.read_npy(path), x)
    with pytest.raises(ValueError, match="no mask"):
        io.write(x, tmp_path / "y.npy", model=Conditional(10), mask=torch.ones(3, 1))
    np.save(tmp_path / "flat.npy", np.zeros(4))
    with pytest.raises(ValueError, match=r"shape \(4,\), not images"):
        io.read_npy(tmp_path / "flat.npy")


class Named(Conditional):
    """A class-conditional model with class names."""

    def __init__(self, names):
        super().__init__(len(names))
        self.class_names, self.config = tuple(names), {}


def test_class_names_go_above_their_columns_or_above_every_cell(tmp_path):
    cell = io.MIN_CELL + 2
    strip = io.LABEL_PIXELS + 5
    black = torch.full((4, 1, 8, 8), -1.0)
    [path] = io.write(black, tmp_path / "g.png", model=Named(["bag", "shoe"]), labels=[0, 1, 0, 1])
    with Image.open(path) as image:  # class k in column k: one strip of names on top
        assert image.size == (2 * cell + 2, 2 * cell + 2 + strip)
        pixels = np.asarray(image)
    assert (pixels[:strip] < 100).sum() > 20 and (pixels[strip + 2:strip + 2 + io.MIN_CELL, 2:2 + io.MIN_CELL] == 0).all()
    [path] = io.write(torch.zeros(4, 1, 8, 8), tmp_path / "m.png", model=Named(["bag", "shoe"]), labels=[0, 1, 1, 0])
    with Image.open(path) as image:  # mixed columns: a strip above every row
        assert image.size == (2 * cell + 2, 2 * cell + 2 + 2 * strip)
    [path] = io.write(torch.zeros(2, 1, 8, 8), tmp_path / "n.png", model=Conditional(2), title="t")
    with Image.open(path) as image:  # no labels: the plain grid
        assert image.size == (2 * cell + 2, cell + 2)
