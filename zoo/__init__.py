"""diffusion-zoo: train, sample, evaluate and share diffusion models across modalities.

>>> import zoo
>>> model = zoo.load("toy2d/ring8")
>>> x = model.sample(1000, steps=20)
"""
__version__ = "0.1.0"

from .architectures import register  # noqa: E402
from .hub import ModelInfo, info, load, publish, save  # noqa: E402
from .model import ZooModel  # noqa: E402
from .registry import list_models  # noqa: E402

__all__ = ["list_models", "info", "load", "save", "publish", "register", "ZooModel", "ModelInfo", "__version__"]
