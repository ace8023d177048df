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
from .training import AudioData, dataset, smoke_datasets

AUDIO = '<audio controls src="{src}"></audio>'

MODALITY = Modality(
    name="audio",
    model_class=AudioModel,
    dataset=dataset,
    sources=DATA_SOURCES,
    prepare=prepare,
    # the first is the preview format (cards, zoo demo); each file holds every clip (see io.py)
    # 16-bit files of [-1, 1]: a round trip is within one quantisation step of the clipped waveform
    formats=(SampleFormat(".wav", io.write_wav, read_samples, embed=AUDIO, precision=2.0 ** -15, clip=(-1.0, 1.0)),
             SampleFormat(".flac", io.write_flac, read_samples, embed=AUDIO, precision=2.0 ** -15, clip=(-1.0, 1.0)),
             SampleFormat(".npy", io.write_npy, read_samples)),
    preview=preview,
    # Measured on this 2-core machine (torch with both threads) while other jobs kept it loaded (load 5-6),
    # so wall times were about twice an idle machine's; CPU seconds are the better guide:
    # - zoo sample audio/diffwave-digits -o x.wav (n=4, the model's 20 dpmpp_2m steps, 4 x 0.37 s): 42 CPU-s
    #   in all (sampling 37), 81 s wall loaded, about 25 s idle; 0.8 GB.  audio/diffwave samples nothing
    #   by default: it needs --from-wav or --mel (about 8.5 CPU-s per second of audio at its 6 fast steps).
    # - zoo demo: the vocoder's preview resynthesizes a 3 s reference recording per sample: 25 CPU-s at its
    #   6 steps, 12.8 at 3 (logsnr placement); the digits model's 1 s clip: 27 CPU-s at its 20 steps, 6.2
    #   at 3.  Hence demo_n=1 at 3 steps: zoo demo took 27 s and 7 s wall loaded (1.1 GB), about 8 s and
    #   4 s idle.
    defaults=Defaults(n=4, demo_n=1, steps=None, demo_steps=3),
    evaluate=evaluate,
    sample_metrics=sample_metrics,
    smoke_datasets=smoke_datasets,
    nfe_metrics=(Metric("mrstft_band", "band MRSTFT (vocoder)", True),
                 Metric("classifier_score", "classifier score (digits, local)", False)),
    primary=Metric("bits_per_sample", "bits per sample (held-out)", True),
    # a vocoder is judged by how close its waveform is to the recording it vocodes, over the full band
    primary_by_protocol={"audio-vocoder-eval": Metric("mrstft_band", "band MRSTFT to the recording", True)},
    likelihood="bits_per_sample",
    card=card,
    cli=HOOKS,
    releases=(Release("audio/diffwave", architecture="audio/diffwave", repo_id="diffusion-zoo/audio-diffwave"),
              Release("audio/diffwave-digits", architecture="audio/diffwave",
                      repo_id="diffusion-zoo/audio-diffwave-digits")),
)

__all__ = ["MODALITY", "AudioModel", "AudioData", "FrontEnd", "dataset", "prepare", "evaluate", "preview",
           "bits_per_sample", "io", "read_audio", "read_mel", "read_samples", "write_audio"]
