"""``zoo eval`` for audio models (unconditional ones: digits.py) and the previews their folders and ``zoo demo`` show.

Protocol ``audio-vocoder-eval/1``: the first ``n`` held-out utterances of the model's data file
(fixed split by stamp, see data.py), each padded to whole frames; the model vocodes the front
end's mel of the original and every metric of metrics.py compares the result with the original,
trimmed to the same length; torchaudio's Griffin-Lim (64 iterations) from the same mel is scored
beside it.  Metrics are means over utterances.  The real-time factor is the model's wall time over
the audio's duration, with the device, threads, steps and batch (1) it was measured with.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from zoo import cards

from . import metrics
from .digits import evaluate_digits
from .io import read_audio, write_samples
from .metrics import PROTOCOL
from .training import AudioData

__all__ = ["evaluate", "preview", "write_reference", "PROTOCOL"]

PREVIEW_SECONDS = 3.0
REFERENCE = "reference.flac"
UNCONDITIONAL_SECONDS = 1.0


def _device_name(model) -> str:
    device = next(model.parameters()).device
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


def evaluate(model, data: AudioData, *, n: int | None = None, steps: int | None = None, sampler: str | None = None,
             timesteps=None, seed: int = 0, baseline: bool = True) -> dict:
    """Score ``model`` on ``n`` held-out utterances (default 40); see the module docstring."""
    if not model.conditional:  # the spoken-digit toy has its own yardstick
        return evaluate_digits(model, data, n=n, steps=steps, sampler=sampler, timesteps=timesteps, seed=seed)
    n = 40 if n is None else n
    utterances = data.clips("heldout").heldout_utterances(n)
    if not utterances:
        raise ValueError(f"{data.path} holds no held-out utterances")
    frontend, hop = model.frontend, model.frontend.hop
    rows, baseline_rows, wall, audio_seconds = [], [], 0.0, 0.0
    generator = torch.Generator().manual_seed(seed)
    for ref in utterances:
        ref = ref[: len(ref) - len(ref) % hop]
        mel = frontend(ref)
        start = time.perf_counter()
        est = model.vocode(mel, steps=steps, sampler=sampler, timesteps=timesteps, generator=generator)
        if est.is_cuda:
            torch.cuda.synchronize()
        wall += time.perf_counter() - start
        audio_seconds += len(ref) / model.sample_rate
        rows.append(metrics.compare(ref, est.float().cpu(), frontend))
        if baseline:
            baseline_rows.append(metrics.compare(ref, metrics.griffin_lim(mel, frontend), frontend))
    settings = model.config.get("sampling", {})
    out = {"protocol": PROTOCOL, "n": len(rows), "seconds_of_audio": round(audio_seconds, 2), "seed": seed,
           "sampler": sampler or settings.get("sampler"), "steps": steps or settings.get("steps"),
           "timesteps": timesteps if timesteps is not None else settings.get("timesteps"),
           **metrics.summarise(rows),
           "real_time_factor": wall / audio_seconds, "device": _device_name(model), "batch": 1}
    if baseline:
        out["griffin_lim_64"] = metrics.summarise(baseline_rows)
    return out


def _inputs(model, n: int) -> tuple[list[torch.Tensor], str]:
    """Up to n recordings to vocode: held-out utterances of the model's data file when it is here, else
    the reference recordings stored in its folder (samples/reference.flac, see ``write_reference``)."""
    length = int(PREVIEW_SECONDS * model.sample_rate)
    data = AudioData(**model.config["data"])
    if Path(data.path).is_file():
        return [c[:length] for c in data.clips("heldout").heldout_utterances(n)], "held-out utterances"
    origin = getattr(model, "origin", None)
    reference = origin.path / "samples" / REFERENCE if origin is not None else None
    if reference is None or not reference.is_file():
        raise ValueError(f"nothing to vocode: {data.path} is missing (zoo data prepare audio --source {data.name}) "
                         f"and the model folder has no samples/{REFERENCE}")
    waveform, rate = read_audio(reference)
    if rate != model.sample_rate:
        raise ValueError(f"{reference} is at {rate} Hz, not the model's {model.sample_rate}")
    gap = model.sample_rate // 4  # write_samples puts 0.25 s of silence between clips
    return [c[:length] for c in waveform.split(length + gap)][:n], "reference recordings"


def preview(model, n: int, *, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """What a model folder's samples and ``zoo demo`` show: a vocoder resynthesizes ``n`` recordings
    (3 s each; see ``_inputs``); an unconditional model samples ``n`` clips."""
    generator = torch.Generator().manual_seed(seed)
    settings = model.config.get("sampling", {})
    how = {"sampler": settings.get("sampler"), "steps": settings.get("steps"), "timesteps": settings.get("timesteps"),
           "seed": seed}
    if not model.conditional:
        return model.sample(n, seconds=UNCONDITIONAL_SECONDS, generator=generator), how
    clips, source = _inputs(model, n)
    length = max(len(c) for c in clips)
    outputs = [model.resynthesize(c, model.sample_rate, generator=generator) for c in clips]
    x = torch.stack([torch.nn.functional.pad(y, (0, length - len(y))) for y in outputs])
    return x, {"what": f"{len(clips)} {source} (up to {PREVIEW_SECONDS:g} s each), resynthesized from their mels", **how}


def write_reference(folder, data: AudioData, n: int = 2) -> Path:
    """Store the first n held-out recordings (padded or cut to 3 s each) as samples/reference.flac in a model folder: the
    originals to compare its samples with, and what ``preview`` vocodes when the data file is absent."""
    length = int(PREVIEW_SECONDS * data.frontend.sample_rate)  # every clip padded to this, so _inputs can split
    clips = [c[:length] for c in data.clips("heldout").heldout_utterances(n)]
    path = Path(folder) / "samples" / REFERENCE
    write_samples(torch.stack([torch.nn.functional.pad(c, (0, length - len(c))) for c in clips]), path,
                  sample_rate=data.frontend.sample_rate)
    cards.add_sample(folder, REFERENCE, f"the {len(clips)} original held-out recordings the samples resynthesize")
    return path
