"""What an audio model card says about the data, the intended use, the limits and the metrics."""
from __future__ import annotations

from zoo.modality import CardFacts, MetricDoc

from .data import DATA_SOURCES
from .projection import check_settings

__all__ = ["card", "METRICS", "INDEXED", "PROTOCOL_SETTINGS"]

SPLITS = {
    "tuxpaint": "held out by stamp (about 5% of the stamps, every language of a stamp on one side)",
    "digits": "held out by speaker (voice + variant, about 10% of them)",
}

METRICS = {
    "mrstft_band": MetricDoc("multi-resolution STFT log-magnitude distance (FFT 512/1024/2048, hop FFT/4, eps 1e-5) "
                             "over the bins up to the front end's f_max (8 kHz), lower is better", False),
    "mrstft": MetricDoc("the same over all bins up to Nyquist (11.025 kHz), lower is better", False),
    "mel_l1": MetricDoc("mean absolute log-mel difference with the model's own front end, lower is better", False),
    "mcd13": MetricDoc("mel-cepstral distortion over c1..c13 of the front end's log-mel, dB, lower is better", False),
    "lsd": MetricDoc("log-spectral distance, dB, lower is better", False),
    "si_sdr": MetricDoc("scale-invariant signal-to-distortion ratio, dB, higher is better (phase-sensitive)", True),
    "pesq_wb": MetricDoc("wide-band PESQ at 16 kHz, -0.5..4.64, higher is better", True),
    "stoi": MetricDoc("short-time objective intelligibility, 0..1, higher is better", True),
    "real_time_factor": MetricDoc("wall time / audio duration of the model (batch 1), lower is faster", False),
    "classifier_score": MetricDoc("local: exp of the mean KL divergence between each sample's class probabilities and "
                                  "their mean, from a digit classifier trained here, 1..10 (not the SC09 Inception "
                                  "Score)", True),
    "confidence": MetricDoc("local: mean top probability of that classifier on the samples", True),
    "class_entropy": MetricDoc("local: entropy of the samples' mean predicted digit distribution, nats (log 10 = 2.30)",
                               True),
    "classifier_heldout_accuracy": MetricDoc("the local classifier's accuracy on held-out speakers' real recordings",
                                             True),
    "bits_per_sample": MetricDoc("negative log-likelihood of held-out 16-bit audio, bits per sample: "
                                 "-log p / (T ln 2) + 15 (a bin of width 2/2^16 in [-1, 1]), by the probability-flow "
                                 "ODE through zoo.core (a vocoder's: given the clip's mel); short centre crops and "
                                 "loose tolerances, see the protocol line; lower is better", False),
}
INDEXED = ("mrstft_band", "mrstft", "mel_l1", "mcd13", "pesq_wb", "stoi", "classifier_score", "confidence",
           "class_entropy", "bits_per_sample")
# result keys that describe the protocol: the phrase each adds to the card's protocol line ("" for none)
PROTOCOL_SETTINGS = {
    "seconds_of_audio": ", {seconds_of_audio} s of audio",
    "likelihood_clips": " (bits per sample: the centre {likelihood_seconds:g} s of {likelihood_clips} held-out clips, "
                        "probability-flow ODE by dopri5 at rtol {likelihood_rtol:g}, atol {likelihood_atol:g}, "
                        "{likelihood_probes} Hutchinson probe, {likelihood_nfe} network evaluations)",
    "likelihood_seconds": "", "likelihood_rtol": "", "likelihood_atol": "", "likelihood_probes": "",
    "likelihood_nfe": "", "local_metric": "",
}

VOCODER_EXAMPLE = ("mel = model.frontend(torch.randn(22050) * 0.1)   # or any mel of this front end: (80, frames)\n"
                   "wav = model.vocode(mel, steps=6)                  # (frames * 256,) at 22,050 Hz\n"
                   "wav = model.resynthesize(wav, 22050)               # a recording through the vocoder")
UNCONDITIONAL_EXAMPLE = "wav = model.sample(4, seconds=1.0)   # (4, 22050) at 22,050 Hz"


def card(config: dict) -> CardFacts:
    """The card facts of an audio model with ``config`` (its config.yaml as a dict)."""
    name = config["data"]["name"]
    vocoder = not config.get("network", {}).get("unconditional", False)
    projection = (config.get("sampling") or {}).get("mel_projection")
    projected = bool(projection)
    frontend = config["frontend"]
    sources = tuple(s for s in DATA_SOURCES if s.name == name)
    note = (f"Mixed to mono, resampled to 22,050 Hz and trimmed of silence by `zoo data prepare audio --source {name}`; "
            f"{SPLITS.get(name, 'held out by the rule of modalities/audio/data.py')}.  " if sources else "")
    note += (f"Front end (hash `{frontend['hash']}`): {frontend['sample_rate']} Hz, n_fft {frontend['n_fft']}, hop "
             f"{frontend['hop_length']}, {frontend['n_mels']} {frontend['mel_scale']} mels over "
             f"{frontend['f_min']:g}-{frontend['f_max']:g} Hz, magnitude, log(clamp(x, {frontend['log_clamp']})).")
    return CardFacts(
        sources=sources,
        data_note=note,
        license="apache-2.0",
        tags=("audio", "vocoder", "diffwave") if vocoder else ("audio", "diffwave", "unconditional"),
        pipeline_tag="audio-to-audio" if vocoder else None,
        task="audio-to-audio" if vocoder else "unconditional-generation",
        intended_use=("Turning log-mel spectrograms of the front end above into 22,050 Hz speech (a neural vocoder "
                      "for TTS research), and research on fast diffusion sampling for audio."
                      if vocoder else "A toy for unconditional waveform diffusion (the SC09 setup in miniature)."),
        limitations=(
            "Trained on little data (see Training) with a small compute budget: " +
            ("much of its quality comes from sampling with the mel projection (`sampling.mel_projection`); the network "
             "alone (`vocode(mel, mel_projection=False)`) leaves audible noise" if projected else
             "audible noise and buzz remain") + "; compare the card's metrics with Griffin-Lim's before relying on it.",
            "Only mels of exactly this front end fit; `vocode` refuses others and says what differs.",
            "Speech only; music and other sounds are out of its training distribution.",
        ),
        example=VOCODER_EXAMPLE if vocoder else UNCONDITIONAL_EXAMPLE,
        command=("espeak-ng -w in.wav \"the quick brown fox\"   # any recording (apt-get install espeak-ng)\n"
                 "zoo sample {name} --from-wav in.wav -o out.wav" if vocoder else
                 "zoo sample {name} -n 4 --seconds 1 -o samples{suffix}"),
        metrics=METRICS,
        indexed_metrics=INDEXED,
        protocol_settings=PROTOCOL_SETTINGS,
        sampling_note=_projection_note(projection) if projected else "",
    )


def _projection_note(settings: dict) -> str:
    """The card's words for ``sampling.mel_projection`` (projection.py)."""
    settings = check_settings(settings)
    below = settings["below"]
    where = "at every step" if below >= 1.0 else f"at the steps with t <= {below:g}"
    return (f"x0 made consistent with the mel {where} ({settings['iterations']} Griffin-Lim-style iterations, "
            f"momentum {settings['momentum']}; GLA-Grad's idea, modalities/audio/projection.py)")
