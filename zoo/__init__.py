"""diffusion-zoo: train, sample, evaluate and share diffusion models across modalities.

>>> import zoo
>>> model = zoo.load("toy2d/ring8")
>>> x = model.sample(1000, steps=20)

The names below and the submodules (``zoo.core``, ``zoo.hub``, ...) are imported on first use, so
``import zoo`` (and ``zoo --version``) does not import torch.
"""
import importlib

__version__ = "0.1.0"

_WHERE = {"register": "architectures", "ModelInfo": "hub", "info": "hub", "load": "hub", "publish": "hub",
          "save": "hub", "ZooModel": "model", "list_models": "registry"}

__all__ = ["list_models", "info", "load", "save", "publish", "register", "ZooModel", "ModelInfo", "__version__"]


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(__all__))
