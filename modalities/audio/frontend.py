"""The mel front end every audio checkpoint stores in its config (and hashes).

The defaults are the front end most TTS acoustic models feed their vocoder (22,050 Hz, n_fft
1024, hop 256, Hann window 1024, 80 slaney mels over 0-8000 Hz, magnitude, natural log of
max(x, 1e-5)), so their mels vocode directly.  The waveform is reflect-padded by
(n_fft - hop) / 2 on both sides and framed without centring: a clip of T samples gives exactly
T // hop frames, frame k covering samples [k hop, (k + 1) hop).
"""
from __future__ import annotations

import hashlib
import json
import math

import torch
import torchaudio

__all__ = ["DEFAULT", "FrontEnd", "config_hash", "check_config"]

DEFAULT = {
    "sample_rate": 22050, "n_fft": 1024, "hop_length": 256, "win_length": 1024, "window": "hann", "n_mels": 80,
    "f_min": 0.0, "f_max": 8000.0, "mel_scale": "slaney", "norm": "slaney", "power": 1.0, "log_clamp": 1e-5,
    "padding": "reflect",
}


def config_hash(config: dict) -> str:
    """A short, stable hash of the front end's settings (the ``hash`` key itself excluded)."""
    settings = {k: config[k] for k in sorted(config) if k != "hash"}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def check_config(config: dict) -> dict:
    """A front-end config with every key known and its hash verified (or added when missing)."""
    unknown = sorted(set(config) - set(DEFAULT) - {"hash"})
    missing = sorted(set(DEFAULT) - set(config))
    if unknown or missing:
        raise ValueError(f"front-end config: unknown keys {unknown}, missing keys {missing}")
    if config["window"] != "hann" or config["padding"] != "reflect":
        raise ValueError("front-end config: only window 'hann' and padding 'reflect' are implemented")
    digest = config_hash(config)
    if "hash" in config and config["hash"] != digest:
        raise ValueError(f"front-end config hash {config['hash']} does not match its settings ({digest}): "
                         "the config was edited; a vocoder only fits the mels of the front end it was trained on")
    return {**config, "hash": digest}


class FrontEnd(torch.nn.Module):
    """waveform (B, T) or (T,) at ``sample_rate`` -> log-mel (B, n_mels, T // hop) (or (n_mels, frames))."""

    def __init__(self, config: dict | None = None):
        super().__init__()
        self.config = check_config(dict(config or DEFAULT))
        c = self.config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=c["sample_rate"], n_fft=c["n_fft"], win_length=c["win_length"], hop_length=c["hop_length"],
            f_min=c["f_min"], f_max=c["f_max"], n_mels=c["n_mels"], power=c["power"], norm=c["norm"],
            mel_scale=c["mel_scale"], center=False, window_fn=torch.hann_window)

    @property
    def hop(self) -> int:
        return self.config["hop_length"]

    @property
    def sample_rate(self) -> int:
        return self.config["sample_rate"]

    @property
    def pad(self) -> int:
        """Samples reflected onto each end before framing: frame k covers padded[k hop, k hop + n_fft)."""
        return (self.config["n_fft"] - self.hop) // 2

    @property
    def log_floor(self) -> float:
        return math.log(self.config["log_clamp"])

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        single = waveform.dim() == 1
        x = waveform[None] if single else waveform
        if x.dim() != 2:
            raise ValueError(f"waveform must be (T,) or (B, T), got shape {tuple(waveform.shape)}")
        pad = self.pad
        if x.shape[-1] <= pad:
            raise ValueError(f"waveform of {x.shape[-1]} samples is too short for the front end (needs > {pad})")
        x = torch.nn.functional.pad(x[:, None].float(), (pad, pad), mode="reflect")[:, 0]
        mel = self.log_mel(x)[..., : waveform.shape[-1] // self.hop]
        return mel[0] if single else mel

    def log_mel(self, padded: torch.Tensor) -> torch.Tensor:
        """Already padded samples (B, (k - 1) hop + n_fft) -> log-mel (B, n_mels, k), frames not centred."""
        return torch.log(torch.clamp(self.mel(padded), min=self.config["log_clamp"]))

    @property
    def filterbank(self) -> torch.Tensor:
        """The mel filterbank F (n_fft // 2 + 1, n_mels): mel = F^T |STFT| before the log."""
        return self.mel.mel_scale.fb

    @torch.no_grad()
    def magnitudes(self, mel: torch.Tensor) -> torch.Tensor:
        """log-mel (..., n_mels, frames) -> the linear STFT magnitudes it implies (..., n_fft // 2 + 1, frames):
        exp undoes the log, ``torchaudio.transforms.InverseMelScale`` (least squares, negative bins clipped to
        0) undoes the filterbank.  Bins above f_max come out (near) zero: the mel says nothing about them."""
        c = self.config
        if mel.shape[-2] != c["n_mels"]:
            raise ValueError(f"expected a log-mel with {c['n_mels']} bins, got shape {tuple(mel.shape)}")
        inverse = torchaudio.transforms.InverseMelScale(
            n_stft=c["n_fft"] // 2 + 1, n_mels=c["n_mels"], sample_rate=c["sample_rate"], f_min=c["f_min"],
            f_max=c["f_max"], norm=c["norm"], mel_scale=c["mel_scale"]).to(mel.device)
        return inverse(mel.float().exp())

    @property
    def centre_shift(self) -> int:
        """Samples between the start of frame k's hop (k * hop) and its centre: torch.stft with center=True
        on ``waveform[centre_shift:]`` has this front end's frames."""
        return self.config["n_fft"] // 2 - (self.config["n_fft"] - self.hop) // 2
