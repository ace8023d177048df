"""The audio modality: DiffWave over a fixed mel front end (a vocoder, and an unconditional variant).

Registered through the ``zoo.modalities`` entry point; ``Model`` (AudioModel) adds ``vocode``,
``resynthesize`` and ``sample(n, seconds=)`` to every audio ZooModel.
"""
from zoo.registry import release

from . import networks  # noqa: F401  (registers audio/diffwave)
from .card import card_facts
from .data import SOURCES, prepare
from .evaluation import PROTOCOL, evaluate, preview
from .frontend import FrontEnd
from .io import read_audio, read_mel, write_audio, write_samples
from .model import AudioModel as Model
from .training import dataset

NAME = "audio"
SAMPLE_FORMATS = (".wav", ".flac", ".npy")  # the first is the preview format (cards, zoo demo)
DEMO_N = 2

release("audio/diffwave", architecture="audio/diffwave", repo_id="diffusion-zoo/audio-diffwave")
release("audio/diffwave-digits", architecture="audio/diffwave", repo_id="diffusion-zoo/audio-diffwave-digits")


__all__ = ["NAME", "SAMPLE_FORMATS", "DEMO_N", "Model", "FrontEnd", "dataset", "prepare", "SOURCES", "evaluate",
           "preview", "PROTOCOL", "card_facts", "read_audio", "read_mel", "write_audio", "write_samples"]
