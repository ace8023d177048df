"""The zoo's model-folder API in one place: resolve names, load, inspect, save and publish.

Each concern has its module: ``zoo.names`` (names -> folders: cache, Hub, embedded copy),
``zoo.folder`` (config.yaml and weights, checked), ``zoo.loading`` (``load``, ``info``),
``zoo.saving`` (``save``), ``zoo.publishing`` (``publish``).  This module gathers them.
"""
from .folder import MODEL_FILES, load_folder, read_config
from .loading import ModelInfo, info, load
from .names import MODEL_CARDS, Resolved, resolve
from .publishing import Published, publish
from .saving import draw_samples, save, write_samples

__all__ = ["Resolved", "ModelInfo", "Published", "resolve", "load", "load_folder", "read_config", "info", "save",
           "publish", "draw_samples", "write_samples", "MODEL_CARDS", "MODEL_FILES"]
