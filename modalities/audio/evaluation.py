"""``zoo eval`` for audio models (unconditional ones: digits.py), their quick metrics, and the previews
their folders and ``zoo demo`` show.

Protocol ``audio-vocoder-eval/1``: the first ``n`` held-out utterances of the model's data file
(fixed split by stamp, see data.py), each padded to whole frames; the model vocodes the front
end's mel of the original and every metric of metrics.py compares the result with the original,
trimmed to the same length; torchaudio's Griffin-Lim (64 iterations) from the same mel is scored
beside it.  Metrics are means over utterances.  The real-time factor is the model's wall time over
the audio's duration, with the device, steps and batch (1) it was measured with.  Then the
likelihood of likelihood.py: bits per sample of the first 4 held-out clips (centre 0.26 s),
conditional on their mels.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from zoo import cards
from zoo.evaluation import describe_device, model_device, progress_bar

from . import metrics
from .digits import evaluate_digits, quick_digits
from .io import read_audio, write_samples
from .likelihood import CLIPS, bits_per_sample
from .metrics import PROTOCOL
from .model import TABLES
from .training import AudioData

__all__ = ["evaluate", "sample_metrics", "preview", "write_reference", "PROTOCOL", "QUICK_PROTOCOL"]

PREVIEW_SECONDS = 3.0
QUICK_SECONDS = 1.0
QUICK_PROTOCOL = "audio-vocoder-quick/1"
REFERENCE = "reference.flac"
UNCONDITIONAL_SECONDS = 1.0


def _placement(model, steps, timesteps):
    """The timesteps to sample with: given steps replace a default DiffWave table (``fast``: 6 fixed levels,
    which would ignore them) by the schedule's default placement; anything given explicitly stays."""
    if timesteps is None and steps is not None and model.config.get("sampling", {}).get("timesteps") in TABLES:
        return model.schedule.default_timesteps
    return timesteps


def _no_guidance(model, guidance) -> None:
    if guidance is not None:
        raise ValueError(f"{model.name} takes no guidance: audio models have no classifier-free guidance "
                         "(a vocoder is conditioned on its mel, the digits model is unconditional)")


def evaluate(model, data: AudioData, *, n: int | None = None, seed: int = 0, steps: int | None = None,
             sampler: str | None = None, timesteps=None, guidance=None) -> dict:
    """Score ``model`` on ``n`` held-out utterances (default 40), then its likelihood; see the module docstring."""
    _no_guidance(model, guidance)
    if not model.conditional:  # the spoken-digit toy has its own yardstick
        return evaluate_digits(model, data, n=n, steps=steps, sampler=sampler, timesteps=timesteps, seed=seed)
    n = 40 if n is None else n
    held_out = data.clips("heldout")
    utterances = held_out.heldout_utterances(n)
    if not utterances:
        raise ValueError(f"{data.path} holds no held-out utterances")
    frontend, hop = model.frontend, model.frontend.hop
    rows, baseline_rows, wall, audio_seconds = [], [], 0.0, 0.0
    generator = torch.Generator().manual_seed(seed)
    with progress_bar(f"{model.name}: vocoding {len(utterances)} held-out utterances and Griffin-Lim",
                      len(utterances), unit="utterances") as bar:
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
            baseline_rows.append(metrics.compare(ref, metrics.griffin_lim(mel, frontend), frontend))
            bar.update()
    settings = model.config.get("sampling", {})
    return {"protocol": PROTOCOL, "n": len(rows), "seconds_of_audio": round(audio_seconds, 2), "seed": seed,
            "sampler": sampler or settings.get("sampler"), "steps": steps or settings.get("steps"),
            "timesteps": timesteps if timesteps is not None else settings.get("timesteps"),
            **metrics.summarise(rows),
            "real_time_factor": wall / audio_seconds, "device": describe_device(model_device(model)), "batch": 1,
            "griffin_lim_64": metrics.summarise(baseline_rows),
            **bits_per_sample(model, held_out.heldout_utterances(CLIPS), seed=seed)}


def sample_metrics(model, data: AudioData, *, n: int, seed: int = 0, steps: int | None = None,
                   sampler: str | None = None, timesteps=None) -> dict:
    """The quick metrics of ``zoo nfe``.  A vocoder (protocol ``audio-vocoder-quick/1``): the first ``n``
    held-out utterances cut to 1 s, vocoded from their mels in one batch; ``mrstft_band`` and ``mel_l1``
    as in the full suite, means over the utterances (given ``steps`` replace the default ``fast`` table, see
    ``_placement``).  The digits model: digits.py's ``quick_digits``.
    Both with ``nfe`` and ``seconds_per_sample`` (wall time of the sampling alone)."""
    if not model.conditional:
        return quick_digits(model, data, n=n, seed=seed, steps=steps, sampler=sampler, timesteps=timesteps)
    hop, length = model.frontend.hop, int(QUICK_SECONDS * model.sample_rate)
    refs = [c[:length] for c in data.clips("heldout").heldout_utterances(n)]
    if len(refs) < n:
        raise ValueError(f"{data.path} holds {len(refs)} held-out utterances, fewer than n = {n}")
    length = min(len(r) for r in refs) // hop * hop  # one batch: every clip cut to the shortest
    refs = torch.stack([r[:length] for r in refs])
    mel = model.frontend(refs)
    device = model_device(model)
    start = time.perf_counter()
    est, info = model.vocode(mel, steps=steps, sampler=sampler, timesteps=_placement(model, steps, timesteps),
                             generator=torch.Generator().manual_seed(seed), return_info=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    est = est.float().cpu()
    band = [metrics.mrstft_distance(r, e, max_hz=model.frontend.config["f_max"], sample_rate=model.sample_rate)
            for r, e in zip(refs, est)]
    mel_l1 = [metrics.mel_l1(r, e, model.frontend) for r, e in zip(refs, est)]
    return {"protocol": QUICK_PROTOCOL, "n": n, "seed": seed, "sampler": info.sampler, "steps": len(info.ts) - 1,
            "nfe": info.nfe, "mrstft_band": sum(band) / n, "mel_l1": sum(mel_l1) / n,
            "seconds_per_sample": seconds / n, "seconds_of_audio": round(n * length / model.sample_rate, 2),
            "device": describe_device(device)}


def _inputs(model, n: int) -> tuple[list[torch.Tensor], str]:
    """Up to n recordings to vocode: held-out utterances of the model's data file when it is here, else
    the reference recordings stored in its folder (samples/reference.flac, see ``write_reference``)."""
    length = int(PREVIEW_SECONDS * model.sample_rate)
    data = AudioData(**model.config["data"])
    if Path(data.path).is_file():
        return [c[:length] for c in data.clips("heldout").heldout_utterances(n)], "held-out utterances"
    reference = model.origin.path / "samples" / REFERENCE if model.origin is not None else None
    if reference is None or not reference.is_file():
        raise ValueError(f"nothing to vocode: {data.path} is missing (zoo data prepare audio --source {data.name}) "
                         f"and the model folder has no samples/{REFERENCE}")
    waveform, rate = read_audio(reference)
    if rate != model.sample_rate:
        raise ValueError(f"{reference} is at {rate} Hz, not the model's {model.sample_rate}")
    gap = model.sample_rate // 4  # write_samples puts 0.25 s of silence between clips
    return [c[:length] for c in waveform.split(length + gap)][:n], "reference recordings"


def preview(model, n: int, *, seed: int = 0, steps: int | None = None) -> tuple[torch.Tensor, dict]:
    """What a model folder's samples and ``zoo demo`` show, (n, T): a vocoder resynthesizes ``n``
    recordings (3 s each; see ``_inputs``), padded to the longest; an unconditional model samples ``n``
    one-second clips.  ``steps`` None: the model's default; given steps replace a default DiffWave table
    (``fast``, 6 fixed levels) by the schedule's default placement with that many steps."""
    generator = torch.Generator().manual_seed(seed)
    settings = model.config.get("sampling", {})
    timesteps = _placement(model, steps, None)
    how = {"sampler": settings.get("sampler"), "steps": settings.get("steps"),
           "timesteps": timesteps or settings.get("timesteps"), "seed": seed}
    if not model.conditional:
        x, info = model.sample(n, seconds=UNCONDITIONAL_SECONDS, steps=steps, timesteps=timesteps, generator=generator,
                               return_info=True)
        return x, {"what": f"{n} unconditional sample{'s' if n != 1 else ''} of {UNCONDITIONAL_SECONDS:g} s", **how,
                   "steps": len(info.ts) - 1, "nfe": info.nfe}
    clips, source = _inputs(model, n)
    length = max(len(c) for c in clips)
    outputs, info = [], None
    for c in clips:
        y, info = model.resynthesize(c, model.sample_rate, steps=steps, timesteps=timesteps, generator=generator,
                                     return_info=True)
        outputs.append(y)
    x = torch.stack([torch.nn.functional.pad(y, (0, length - len(y))) for y in outputs])
    source = source if len(clips) != 1 else source[:-1]  # "1 held-out utterance"
    return x, {"what": f"{len(clips)} {source} (up to {PREVIEW_SECONDS:g} s each), resynthesized from their mels",
               **how, "steps": len(info.ts) - 1, "nfe": info.nfe}


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
