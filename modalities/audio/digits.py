"""A local spoken-digit classifier, the yardstick of the unconditional digit model (protocol
``audio-digits-eval/1``).

It is trained on the fly, seeded, on the training split of the digits file (log-mels of the
model's front end -> a small CNN -> 10 classes) and its accuracy on the held-out speakers is
reported beside its verdict on generated clips:
- ``confidence``: mean of the classifier's top probability on the samples (do they sound like
  a digit at all?);
- ``class_entropy``: entropy (nats) of the samples' mean predicted distribution (diversity; log
  10 = 2.303 when every digit is equally likely);
- ``classifier_score``: exp of the mean KL between each sample's prediction and that mean
  distribution (1..10), the Inception-Score construction with this local classifier.
These are local metrics: this classifier was trained here on espeak-ng speech; they are not the
SC09 Inception Score of the literature and must not be compared with it.  The suite ends with the
likelihood of likelihood.py: bits per sample of the centre 0.26 s of the first 4 held-out clips.

``quick_digits`` (``zoo nfe``'s quick metrics, protocol ``audio-digits-quick/1``) scores n samples
with the same classifier (trained once per data file and seed in a process, as in the full suite).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from zoo.evaluation import describe_device, draw, model_device

from .likelihood import CLIPS, bits_per_sample

__all__ = ["DigitClassifier", "train_classifier", "evaluate_digits", "quick_digits", "PROTOCOL", "QUICK_PROTOCOL"]

PROTOCOL = "audio-digits-eval/1"
QUICK_PROTOCOL = "audio-digits-quick/1"
SECONDS = 1.0  # every digit clip is one second


class DigitClassifier(nn.Module):
    """log-mel (B, n_mels, frames) -> logits (B, 10)."""

    def __init__(self, n_mels: int = 80, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(n_mels, width * 2, 5, padding=2), nn.GELU(), nn.MaxPool1d(2),
            nn.Conv1d(width * 2, width * 2, 5, padding=2), nn.GELU(), nn.MaxPool1d(2),
            nn.Conv1d(width * 2, width * 4, 3, padding=1), nn.GELU(), nn.AdaptiveMaxPool1d(1), nn.Flatten(),
            nn.Linear(width * 4, 10))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.body((mel - mel.mean(dim=(1, 2), keepdim=True)))  # level-invariant


def _mels(frontend, clips: torch.Tensor, batch: int = 256) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([frontend(clips[i:i + batch]) for i in range(0, len(clips), batch)])


def train_classifier(frontend, train_x: torch.Tensor, train_y: torch.Tensor, *, steps: int = 400, seed: int = 0):
    """Fit a DigitClassifier on clips (N, T) with labels (N,); returns it in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = DigitClassifier(frontend.config["n_mels"])
    mels = _mels(frontend, train_x)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    for _ in range(steps):
        pick = torch.randint(0, len(mels), (64,), generator=generator)
        shift = int(torch.randint(-4, 5, (1,), generator=generator))  # a little time-shift augmentation
        loss = nn.functional.cross_entropy(model(torch.roll(mels[pick], shift, dims=-1)), train_y[pick])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def _stack(clips: list[torch.Tensor], length: int) -> torch.Tensor:
    return torch.stack([nn.functional.pad(c[:length], (0, max(0, length - len(c)))) for c in clips])


_CLASSIFIERS: dict = {}


def _classifier(frontend, train, *, steps: int, seed: int):
    """The classifier trained on the training split ``train`` (an AudioClips), once per process for each
    file, front end, seed and number of steps (training is deterministic given those)."""
    key = (str(train.path), frontend.config["hash"], seed, steps)
    if key not in _CLASSIFIERS:
        length = int(SECONDS * frontend.sample_rate)
        train_x = _stack([train.clip(i) for i in range(len(train))], length)
        _CLASSIFIERS[key] = train_classifier(frontend, train_x, train.labels, steps=steps, seed=seed)
    return _CLASSIFIERS[key]


def _scores(p: torch.Tensor) -> dict:
    mean = p.mean(0)
    kl = (p * (p.clamp_min(1e-12).log() - mean.clamp_min(1e-12).log())).sum(1).mean()
    return {"confidence": float(p.max(1).values.mean()),
            "class_entropy": float(-(mean * mean.clamp_min(1e-12).log()).sum()),
            "classifier_score": math.exp(float(kl))}


def evaluate_digits(model, data, *, n: int | None = None, steps: int | None = None, sampler: str | None = None,
                    timesteps=None, seed: int = 0, classifier_steps: int = 400, likelihood: bool = True) -> dict:
    """Score ``n`` (default 64) unconditional one-second samples with the local classifier, then (``likelihood``)
    the model's bits per sample on held-out clips (see the module docstring)."""
    n = 64 if n is None else n
    frontend, length = model.frontend, int(SECONDS * model.sample_rate)
    train, held = data.clips("train"), data.clips("heldout")
    classifier = _classifier(frontend, train, steps=classifier_steps, seed=seed)
    held_x = _stack([held.clip(i) for i in range(len(held))], length)
    with torch.no_grad():
        accuracy = float((classifier(_mels(frontend, held_x)).argmax(1) == held.labels).double().mean())
        samples = model.sample(n, seconds=SECONDS, steps=steps, sampler=sampler, timesteps=timesteps,
                               generator=torch.Generator().manual_seed(seed)).float().cpu()
        probs = classifier(_mels(frontend, samples)).softmax(1)
        held_probs = classifier(_mels(frontend, held_x)).softmax(1)
    settings = model.config.get("sampling", {})
    return {"protocol": PROTOCOL, "n": n, "seed": seed, "sampler": sampler or settings.get("sampler"),
            "steps": steps or settings.get("steps"), "timesteps": timesteps or settings.get("timesteps"),
            "classifier_heldout_accuracy": accuracy, **_scores(probs),
            "heldout_recordings": {"n": len(held), **_scores(held_probs)}, "local_metric": True,
            **(bits_per_sample(model, held.heldout_utterances(CLIPS), seed=seed) if likelihood else {}),
            "device": describe_device(model_device(model))}


def quick_digits(model, data, *, n: int, seed: int = 0, steps: int | None = None, sampler: str | None = None,
                 timesteps=None, classifier_steps: int = 400) -> dict:
    """Confidence, class entropy and classifier score of ``n`` one-second samples (the full suite's
    classifier, cached per data file, front end, seed and training steps), with ``nfe`` and
    ``seconds_per_sample`` (wall time of the sampling alone)."""
    classifier = _classifier(model.frontend, data.clips("train"), steps=classifier_steps, seed=seed)
    samples, how = draw(model, n, batch=n, seed=seed, seconds=SECONDS, steps=steps, sampler=sampler,
                        timesteps=timesteps)
    with torch.no_grad():
        probs = classifier(_mels(model.frontend, samples)).softmax(1)
    return {"protocol": QUICK_PROTOCOL, "n": n, "seed": seed, "sampler": how["sampler"], "steps": how["steps"],
            "nfe": how["nfe"], **_scores(probs), "seconds_per_sample": how["seconds"] / n, "device": how["device"]}
