"""What an audio model card says about the data, the intended use and the limits."""
from __future__ import annotations

DATA = {
    "tuxpaint": "`tuxpaint`: real human speech, the spoken descriptions of Debian's `tuxpaint-stamps-default` "
                "(7,418 recordings, about 178 minutes, 10+ languages), mixed to mono, resampled to 22,050 Hz and "
                "trimmed of silence by `zoo data prepare audio --source tuxpaint`; held out by stamp (about 5% of "
                "the stamps, every language of a stamp on one side).",
    "digits": "`digits`: the words zero to nine spoken by espeak-ng with many voices, variants, speeds and pitches, "
              "each centred in one second at 22,050 Hz (`zoo data prepare audio --source digits`); held out by "
              "speaker (voice + variant).  Synthetic formant speech: a toy, not natural speech.",
}
LICENCES = {"tuxpaint": "GPL-2.0 (Debian tuxpaint-stamps-default)", "digits": "GPL-3.0 (generated with espeak-ng)"}

METRICS = {
    "mrstft_band": ("multi-resolution STFT log-magnitude distance (FFT 512/1024/2048, hop FFT/4, eps 1e-5) over the "
                    "bins up to the front end's f_max (8 kHz), lower is better", False),
    "mrstft": ("the same over all bins up to Nyquist (11.025 kHz), lower is better", False),
    "mel_l1": ("mean absolute log-mel difference with the model's own front end, lower is better", False),
    "mcd13": ("mel-cepstral distortion over c1..c13 of the front end's log-mel, dB, lower is better", False),
    "lsd": ("log-spectral distance, dB, lower is better", False),
    "si_sdr": ("scale-invariant signal-to-distortion ratio, dB, higher is better (phase-sensitive)", True),
    "pesq_wb": ("wide-band PESQ at 16 kHz, -0.5..4.64, higher is better", True),
    "stoi": ("short-time objective intelligibility, 0..1, higher is better", True),
    "real_time_factor": ("wall time / audio duration of the model (batch 1), lower is faster", False),
    "classifier_score": ("local: exp of the mean KL divergence between each sample's class probabilities and their mean, "
                         "from a digit classifier trained here, 1..10 "
                         "(not the SC09 Inception Score)", True),
    "confidence": ("local: mean top probability of that classifier on the samples", True),
    "class_entropy": ("local: entropy of the samples' mean predicted digit distribution, nats (log 10 = 2.30)", True),
    "classifier_heldout_accuracy": ("the local classifier's accuracy on held-out speakers' real recordings", True),
}
INDEXED = ("mrstft_band", "mrstft", "mel_l1", "mcd13", "pesq_wb", "stoi", "classifier_score", "confidence",
           "class_entropy")


def card_facts(config: dict) -> dict:
    """Facts for the model card of an audio model with ``config`` (its config.yaml as a dict)."""
    name = config["data"]["name"]
    vocoder = not config.get("network", {}).get("unconditional", False)
    frontend = config["frontend"]
    if vocoder:
        example = ("import torch\nmel = model.frontend(torch.randn(22050) * 0.1)   # or any mel of this front end: "
                   "(80, frames)\nwav = model.vocode(mel, steps=6)                  # (frames * 256,) at 22,050 Hz\n"
                   "wav = model.resynthesize(wav, 22050)               # a recording through the vocoder")
    else:
        example = "wav = model.sample(4, seconds=1.0)   # (4, 22050) at 22,050 Hz"
    return {
        "data": DATA.get(name, name) + f"  Front end (hash `{frontend['hash']}`): {frontend['sample_rate']} Hz, "
                f"n_fft {frontend['n_fft']}, hop {frontend['hop_length']}, {frontend['n_mels']} {frontend['mel_scale']} "
                f"mels over {frontend['f_min']:g}-{frontend['f_max']:g} Hz, magnitude, log(clamp(x, {frontend['log_clamp']})).",
        "data_license": LICENCES.get(name, "see the data source"),
        "license": "apache-2.0",
        "datasets": [],
        "tags": ["audio", "vocoder", "diffwave"] if vocoder else ["audio", "diffwave", "unconditional"],
        "pipeline_tag": "audio-to-audio" if vocoder else None,
        "task": "audio-to-audio" if vocoder else "unconditional-generation",
        "intended_use": ("Turning log-mel spectrograms of the front end above into 22,050 Hz speech (a neural "
                         "vocoder for TTS research), and research on fast diffusion sampling for audio."
                         if vocoder else "A toy for unconditional waveform diffusion (the SC09 setup in miniature)."),
        "limitations": [
            "Trained on little data (see Training) with a small compute budget: audible noise and buzz remain; "
            "compare the card's metrics with Griffin-Lim's before relying on it.",
            "Only mels of exactly this front end fit; `vocode` refuses others and says what differs.",
            "Speech only; music and other sounds are out of its training distribution.",
        ],
        "metrics": METRICS,
        "indexed_metrics": INDEXED,
        "example": example,
    }
