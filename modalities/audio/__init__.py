"""The audio modality: DiffWave over a fixed mel front end (a vocoder, and an unconditional variant).

``MODALITY`` declares it to the zoo (the ``zoo.modalities`` entry point names it).  Models load as
:class:`AudioModel`, which adds ``vocode``, ``resynthesize`` and ``sample(n, seconds=)``; ``io``
reads and writes sound files and mels, ``FrontEnd`` is the mel front end every checkpoint stores.
"""
from zoo.modality import Defaults, Metric, Modality, Release, SampleFormat

from . import io, networks  # noqa: F401  (networks registers audio/diffwave)
from .card import card
from .cli import HOOKS
from .data import DATA_SOURCES, prepare
from .evaluation import evaluate, preview, sample_metrics
from .frontend import FrontEnd
from .io import read_audio, read_mel, read_samples, write_audio
from .likelihood import bits_per_sample
from .model import AudioModel
from .training import AudioData, dataset

AUDIO = '<audio controls src="{src}"></audio>'

MODALITY = Modality(
    name="audio",
    model_class=AudioModel,
    dataset=dataset,
    sources=DATA_SOURCES,
    prepare=prepare,
    # the first is the preview format (cards, zoo demo); each file holds every clip (see io.py)
    formats=(SampleFormat(".wav", io.write_wav, read_samples, embed=AUDIO),
             SampleFormat(".flac", io.write_flac, read_samples, embed=AUDIO),
             SampleFormat(".npy", io.write_npy, read_samples)),
    preview=preview,
    # Measured on this 2-core machine (torch with both threads), model load and imports included:
    # DEFAULTS_MEASUREMENT
    defaults=Defaults(n=4, demo_n=2, steps=None, demo_steps=None),
    evaluate=evaluate,
    sample_metrics=sample_metrics,
    nfe_metrics=(Metric("mrstft_band", "band MRSTFT (vocoder)", True),
                 Metric("classifier_score", "classifier score (digits, local)", False)),
    primary=Metric("bits_per_sample", "bits per sample (held-out)", True),
    card=card,
    cli=HOOKS,
    releases=(Release("audio/diffwave", architecture="audio/diffwave", repo_id="diffusion-zoo/audio-diffwave"),
              Release("audio/diffwave-digits", architecture="audio/diffwave",
                      repo_id="diffusion-zoo/audio-diffwave-digits")),
)

__all__ = ["MODALITY", "AudioModel", "AudioData", "FrontEnd", "dataset", "prepare", "evaluate", "preview",
           "bits_per_sample", "io", "read_audio", "read_mel", "read_samples", "write_audio"]
