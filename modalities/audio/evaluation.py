"""``zoo eval`` for audio models and the previews their folders and ``zoo demo`` show.

Protocol ``audio-vocoder-eval/1``: the first ``n`` held-out utterances of the model's data file
(fixed split by stamp, see data.py), each padded to whole frames; the model vocodes the front
end's mel of the original and every metric of metrics.py compares the result with the original,
trimmed to the same length; torchaudio's Griffin-Lim (64 iterations) from the same mel is scored
beside it.  Metrics are means over utterances.  The real-time factor is the model's wall time over
the audio's duration, with the device, threads, steps and batch (1) it was measured with.
"""
from __future__ import annotations

import time

import torch

from . import metrics
from .metrics import PROTOCOL
from .training import AudioData

__all__ = ["evaluate", "preview", "PROTOCOL"]

PREVIEW_SECONDS = 3.0


def _device_name(model) -> str:
    device = next(model.parameters()).device
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


def evaluate(model, data: AudioData, *, n: int | None = None, steps: int | None = None, sampler: str | None = None,
             timesteps=None, seed: int = 0, baseline: bool = True) -> dict:
    """Score ``model`` on ``n`` held-out utterances (default 40); see the module docstring."""
    if not model.conditional:
        raise ValueError(f"{model.name} is unconditional; {PROTOCOL} scores vocoders (use its own card metrics)")
    n = 40 if n is None else n
    utterances = data.clips("heldout").heldout_utterances(n)
    if not utterances:
        raise ValueError(f"{data.path} holds no held-out utterances")
    frontend, hop = model.frontend, model.frontend.hop
    rows, baseline_rows, wall, audio_seconds, used = [], [], 0.0, 0.0, None
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


def preview(model, n: int, *, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """What a model folder's samples show: a vocoder resynthesizes the first ``n`` held-out utterances
    (3 s each, when its data file is present); an unconditional model samples ``n`` clips."""
    generator = torch.Generator().manual_seed(seed)
    settings = model.config.get("sampling", {})
    if not model.conditional:
        x = model.sample(n, generator=generator)
        return x, {"sampler": settings.get("sampler"), "steps": settings.get("steps"),
                   "timesteps": settings.get("timesteps"), "seed": seed}
    data = AudioData(**model.config["data"])
    length = int(PREVIEW_SECONDS * model.sample_rate)
    clips = [c[:length] for c in data.clips("heldout").heldout_utterances(n)]
    x = torch.stack([torch.nn.functional.pad(model.resynthesize(c, model.sample_rate, generator=generator),
                                             (0, length - len(c))) for c in clips])
    return x, {"what": f"{len(clips)} held-out utterances (first {PREVIEW_SECONDS:g} s each), resynthesized from "
                       "their mels", "sampler": settings.get("sampler"), "steps": settings.get("steps"),
               "timesteps": settings.get("timesteps"), "seed": seed}
