"""A small CNN classifier trained here: the feature space of the image evaluation suite.

No Inception network is downloaded, so the Frechet distance of the suite is measured in the
``features`` layer of this classifier and is reported as "FD (local classifier)", never as FID:
its numbers are comparable only with other numbers from the same shipped weights.

Architecture, for a square image of side R: a 3x3 conv stem with ``width`` channels, then per
halving down to 4 x 4 a stride-2 3x3 conv that doubles the channels (at most 4 x width) and a
3x3 conv at the new size, each conv followed by GroupNorm and SiLU; a global average pool;
``Linear -> SiLU`` to ``features`` dims (the feature layer); a ``Linear`` to the logits.  At
R = 32 and width 16 the channels are 16, 32, 64, 64 at sides 32, 16, 8, 4 (154k parameters).

The shipped weights live beside this file in ``classifiers/<source>.safetensors`` with their
architecture, seed, steps and test accuracy in the safetensors header.  Rebuild them with::

    python -m modalities.image.classifier fashion mnist digits
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from zoo.files import atomic_write

from .data import CLASSES, load_arrays, to_model

__all__ = ["Classifier", "train_classifier", "evaluate_accuracy", "save_classifier", "load_classifier",
           "classifier_path", "CLASSIFIER_DIR", "TRAINING"]

CLASSIFIER_DIR = Path(__file__).parent / "classifiers"
FORMAT = "diffusion-zoo/image-classifier/1"
# Per source: training length, batch, largest random shift (pixels) and random left-right flips
# (never for digits; for clothes they would be label-preserving but slow the fit at this budget).
TRAINING = {
    "fashion": {"steps": 2500, "batch": 128, "shift": 1, "flip": False},
    "mnist": {"steps": 1500, "batch": 128, "shift": 2, "flip": False},
    "digits": {"steps": 2000, "batch": 64, "shift": 1, "flip": False},
}


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """conv3x3 -> GroupNorm -> SiLU: (B, c_in, H, W) -> (B, c_out, H / stride, W / stride)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
                         nn.GroupNorm(math.gcd(c_out, 8), c_out), nn.SiLU())


class Classifier(nn.Module):
    """Images (B, in_channels, resolution, resolution) in [-1, 1] -> logits (B, num_classes)."""

    def __init__(self, in_channels: int = 1, resolution: int = 32, num_classes: int = 10, width: int = 16,
                 features: int = 128):
        super().__init__()
        if resolution < 4 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
        self.config = {"in_channels": in_channels, "resolution": resolution, "num_classes": num_classes,
                       "width": width, "features": features}
        layers, channels, size = [_block(in_channels, width, 1)], width, resolution
        while size > 4:
            out = min(2 * channels, 4 * width)
            layers += [_block(channels, out, 2), _block(out, out, 1)]
            channels, size = out, size // 2
        self.body = nn.Sequential(*layers)
        self.feature = nn.Sequential(nn.Linear(channels, features), nn.SiLU())
        self.head = nn.Linear(features, num_classes)

    def _check(self, x: torch.Tensor) -> None:
        c, r = self.config["in_channels"], self.config["resolution"]
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (c, r, r):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"the classifier takes images (B, {c}, {r}, {r}) in [-1, 1], got {shape}")
        if not x.is_floating_point():
            raise ValueError(f"the classifier takes float images in [-1, 1], got dtype {x.dtype} "
                             f"(convert bytes with modalities.image.data.to_model)")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) in [-1, 1] -> the feature layer (B, features)."""
        self._check(x)
        return self.feature(self.body(x).mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) in [-1, 1] -> logits (B, num_classes)."""
        return self.head(self.features(x))


def _augment(x: torch.Tensor, shift: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """x: (B, C, H, W) in [-1, 1] -> the same images moved by up to ``shift`` pixels in each
    direction (uncovered pixels are background, -1) and, with ``flip``, mirrored left-right at random."""
    B, _, H, W = x.shape
    if shift > 0:
        padded = nn.functional.pad(x, (shift,) * 4, value=-1.0)
        dy, dx = torch.randint(0, 2 * shift + 1, (2, B, 1), generator=generator)
        rows, cols = dy + torch.arange(H), dx + torch.arange(W)  # (B, H), (B, W)
        b = torch.arange(B)[:, None, None]
        x = padded[b, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
    if flip:
        mirror = torch.rand(B, generator=generator) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
    return x


@torch.no_grad()
def evaluate_accuracy(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    """images: (N, C, H, W) in [-1, 1], labels: (N,) -> the fraction classified correctly."""
    was_training = classifier.training
    classifier.eval()
    correct = sum(int((classifier(x).argmax(1) == y).sum()) for x, y in zip(images.split(batch), labels.split(batch)))
    classifier.train(was_training)
    return correct / len(labels)


def train_classifier(source: str, steps: int | None = None, batch: int | None = None, seed: int = 0, *,
                     lr: float = 3e-3, width: int = 16, features: int = 128, log_every: int = 0):
    """Train a ``Classifier`` on the train split of ``source`` -> (classifier in eval mode, info).

    AdamW with a 50-step warm-up and a cosine decay to 0; random shifts (and flips for clothes)
    as augmentation.  Deterministic given ``seed`` (and the thread count); the global RNG is left
    as it was.  ``info``: ``{"source", "test_accuracy", "test_accuracy_first_1000", "steps",
    "batch", "seed", "parameters", "seconds"}``.
    """
    arrays = load_arrays(source)
    setting = TRAINING[source]
    steps = setting["steps"] if steps is None else steps
    batch = setting["batch"] if batch is None else batch
    train_x, train_y = to_model(torch.from_numpy(arrays["train_images"])), torch.from_numpy(arrays["train_labels"])
    test_x, test_y = to_model(torch.from_numpy(arrays["test_images"])), torch.from_numpy(arrays["test_labels"])
    _, C, H, _ = train_x.shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Classifier(C, H, len(CLASSES[source]), width, features)
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.05)
    warmup = min(50, steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * i / steps)))
    start = time.perf_counter()
    net.train()
    for step in range(steps):
        index = torch.randint(0, len(train_y), (batch,), generator=generator)
        x = _augment(train_x[index], setting["shift"], setting["flip"], generator)
        loss = nn.functional.cross_entropy(net(x), train_y[index])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"{source} step {step + 1}/{steps} loss {loss.item():.4f} ({time.perf_counter() - start:.0f} s)")
    seconds = time.perf_counter() - start
    net.eval()
    info = {"source": source, "test_accuracy": evaluate_accuracy(net, test_x, test_y),
            "test_accuracy_first_1000": evaluate_accuracy(net, test_x[:1000], test_y[:1000]),
            "steps": steps, "batch": batch, "seed": seed,
            "parameters": sum(p.numel() for p in net.parameters()), "seconds": round(seconds, 1)}
    return net, info


def classifier_path(source: str) -> Path:
    return CLASSIFIER_DIR / f"{source}.safetensors"


def save_classifier(classifier: Classifier, info: dict, path: str | Path) -> Path:
    """Write the weights and, in the safetensors header, the architecture and ``info`` (atomically)."""
    metadata = {"format": FORMAT, "config": json.dumps(classifier.config), "info": json.dumps(info)}
    tensors = {k: v.detach().cpu().contiguous() for k, v in classifier.state_dict().items()}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def read_classifier(path: str | Path) -> tuple[Classifier, dict]:
    """A classifier file -> (classifier in eval mode, info recorded at training time)."""
    path = Path(path)
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        if metadata.get("format") != FORMAT:
            raise ValueError(f"{path} is not an image classifier file (format {metadata.get('format')!r})")
        state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (safe_open is not a dict)
    net = Classifier(**json.loads(metadata["config"]))
    net.load_state_dict(state)
    return net.eval(), json.loads(metadata["info"])


def load_classifier(source: str, with_info: bool = False):
    """The shipped classifier of ``source`` (eval mode); with ``with_info``, (classifier, info)."""
    path = classifier_path(source)
    if not path.is_file():
        raise ValueError(f"no classifier for image source {source!r}: {path} is missing; "
                         f"make it with: python -m modalities.image.classifier {source}")
    net, info = read_classifier(path)
    return (net, info) if with_info else net


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="(Re)train the evaluation classifiers and write them beside the package.")
    parser.add_argument("sources", nargs="+", choices=list(TRAINING))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for source in args.sources:
        net, info = train_classifier(source, args.steps, seed=args.seed, log_every=250)
        info["threads"] = torch.get_num_threads()
        path = save_classifier(net, info, classifier_path(source))
        print(f"{source}: test accuracy {info['test_accuracy']:.4f} in {info['seconds']} s "
              f"({info['parameters']} parameters) -> {path}")


if __name__ == "__main__":
    main()
