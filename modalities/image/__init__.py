"""The image modality: pixel U-Net and DiT with classifier-free guidance, and latent diffusion
over a small KL autoencoder; Fashion-MNIST, MNIST and 8x8 digits; PNG grids.

Registered through the ``zoo.modalities`` entry point; ``Model`` (ImageModel) takes class labels
``sample(n, cond=labels, guidance=w)`` and returns images (n, C, H, W) in [-1, 1].
"""
from zoo.registry import release

from . import autoencoder, latent, networks  # noqa: F401  (register image/vae, image/latent, image/unet, image/dit)
from .card import card_facts
from .data import CLASSES, SOURCES, dataset, prepare
from .evaluation import PROTOCOL, evaluate, preview, sample_metrics
from .io import read_png, write_samples
from .model import ImageModel as Model

NAME = "image"
SAMPLE_FORMATS = (".png", ".npy")  # the first is the preview format (cards, zoo demo)
DEMO_N = 50  # five rows of the ten classes

for _name, _architecture in (("fashion", "image/unet"), ("fashion-dit", "image/dit"), ("fashion-ldm", "image/latent"),
                             ("mnist", "image/unet"), ("fashion-cm", "image/unet"), ("fashion-flow", "image/unet")):
    release(f"image/{_name}", architecture=_architecture, repo_id=f"diffusion-zoo/image-{_name}")

__all__ = ["NAME", "SAMPLE_FORMATS", "DEMO_N", "Model", "CLASSES", "SOURCES", "dataset", "prepare", "evaluate",
           "sample_metrics", "preview", "PROTOCOL", "card_facts", "read_png", "write_samples"]
