"""The image modality: pixel U-Net and DiT with classifier-free guidance, and latent diffusion
over a small KL autoencoder; Fashion-MNIST, MNIST and 8x8 digits; PNG grids.

Declared once as ``MODALITY`` (``zoo.modality.Modality``, named by the ``zoo.modalities`` entry
point).  Its models are :class:`ImageModel`: ``sample(n, cond=labels, guidance=w)`` takes class
labels (an int, a class name or (n,) ints) and returns images (n, C, H, W) in [-1, 1].  What
users import: ``from modalities.image import io, dataset, evaluate, likelihood``.
"""
from zoo.modality import PICTURE, Defaults, Metric, Modality, Release, SampleFormat

from . import autoencoder, io, latent, networks  # noqa: F401  (register image/vae, image/latent, image/unet, image/dit)
from .card import card
from .data import CLASSES, SOURCES, ImageData, dataset, prepare, smoke_datasets, to_bytes, to_model
from .evaluation import PROTOCOL, evaluate, likelihood, preview, sample_metrics
from .io import read_npy, read_png, write_samples
from .model import ImageModel

FD = Metric("fd_local", "FD (local classifier)", True)

MODALITY = Modality(
    name="image",
    model_class=ImageModel,
    dataset=dataset,
    sources=SOURCES,
    prepare=prepare,
    smoke_datasets=smoke_datasets,
    # the first is the preview format (cards, zoo demo): a grid, class k in column k
    formats=(SampleFormat(".png", io.write, embed=PICTURE), SampleFormat(".npy", io.write, read_npy)),
    preview=preview,
    # Measured on this 2-core machine (torch 2, model load and imports included), under load from other jobs, so
    # as CPU time at one thread (an upper bound of the wall time on 2 idle cores):
    # - `zoo sample NAME -o g.png` at n = 50 (five rows of the ten classes), each model's own sampler and steps:
    #   image/mnist 24 s, image/fashion 23 s, fashion-ldm 14 s, fashion-dit 13 s, fashion-flow 12 s,
    #   fashion-cm 10 s, each under 0.9 GB resident;
    # - `zoo demo`: 10 images (one per class) at the model's steps: image/fashion 6.9 s, mnist 5.8 s,
    #   fashion-dit 2.0 s, fashion-ldm 1.8 s, fashion-flow 0.8 s, fashion-cm 0.4 s (18 s in all).
    defaults=Defaults(n=50, demo_n=10, steps=None, demo_steps=None),
    evaluate=evaluate,
    sample_metrics=sample_metrics,
    nfe_metrics=(FD, Metric("class_accuracy", "class accuracy", False)),
    primary=FD,
    likelihood="bits_per_dim",
    card=card,
    releases=tuple(Release(f"image/{name}", architecture=architecture, repo_id=f"diffusion-zoo/image-{name}")
                   for name, architecture in (("fashion", "image/unet"), ("fashion-dit", "image/dit"),
                                              ("fashion-ldm", "image/latent"), ("mnist", "image/unet"),
                                              ("fashion-cm", "image/unet"), ("fashion-flow", "image/unet"))),
)

__all__ = ["MODALITY", "ImageModel", "ImageData", "CLASSES", "SOURCES", "dataset", "prepare", "to_model", "to_bytes",
           "evaluate", "likelihood", "sample_metrics", "preview", "PROTOCOL", "card", "io", "read_png", "read_npy",
           "write_samples"]
