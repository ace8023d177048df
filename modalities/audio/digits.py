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
SC09 Inception Score of the literature and must not be compared with it.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["DigitClassifier", "train_classifier", "evaluate_digits", "PROTOCOL"]

PROTOCOL = "audio-digits-eval/1"
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


def evaluate_digits(model, data, *, n: int | None = None, steps: int | None = None, sampler: str | None = None,
                    timesteps=None, seed: int = 0, classifier_steps: int = 400) -> dict:
    """Score ``n`` (default 64) unconditional one-second samples with the local classifier (see module docstring)."""
    n = 64 if n is None else n
    frontend, length = model.frontend, int(SECONDS * model.sample_rate)
    train, held = data.clips("train"), data.clips("heldout")
    train_x = _stack([train.clip(i) for i in range(len(train))], length)
    classifier = train_classifier(frontend, train_x, train.labels, steps=classifier_steps, seed=seed)
    held_x = _stack([held.clip(i) for i in range(len(held))], length)
    with torch.no_grad():
        accuracy = float((classifier(_mels(frontend, held_x)).argmax(1) == held.labels).double().mean())
        samples = model.sample(n, seconds=SECONDS, steps=steps, sampler=sampler, timesteps=timesteps,
                               generator=torch.Generator().manual_seed(seed)).float().cpu()
        probs = classifier(_mels(frontend, samples)).softmax(1)
        held_probs = classifier(_mels(frontend, held_x)).softmax(1)

    def scores(p: torch.Tensor) -> dict:
        mean = p.mean(0)
        kl = (p * (p.clamp_min(1e-12).log() - mean.clamp_min(1e-12).log())).sum(1).mean()
        return {"confidence": float(p.max(1).values.mean()),
                "class_entropy": float(-(mean * mean.clamp_min(1e-12).log()).sum()),
                "classifier_score": math.exp(float(kl))}

    settings = model.config.get("sampling", {})
    return {"protocol": PROTOCOL, "n": n, "seed": seed, "sampler": sampler or settings.get("sampler"),
            "steps": steps or settings.get("steps"), "timesteps": timesteps or settings.get("timesteps"),
            "classifier_heldout_accuracy": accuracy, **scores(probs),
            "heldout_recordings": {"n": len(held), **scores(held_probs)}, "local_metric": True}
