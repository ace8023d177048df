"""What mel-consistent sampling (modalities/audio/projection.py) buys a trained vocoder, and how much of it
is the network's: the same held-out utterances vocoded without it, with 8, 16 and 32 iterations at every
step, and by a freshly initialised network of the same architecture with 32 (the projection alone, from
an untrained network's x0), beside Griffin-Lim (64 iterations) from the same mels.  Every arm keeps the
model's sampler and grid; the time is the vocoder's wall clock per second of audio (batch 1, this CPU).

    python benchmarks/audio_projection.py                       # the released audio/diffwave, 8 utterances
    python benchmarks/audio_projection.py --model runs/audio/diffwave/model --n 2

``--model``: a released name or a model folder.  Results go to benchmarks/results/audio_projection.json and
.md (``--out`` elsewhere).  Scores the model's data file (.data/audio/tuxpaint.npz); when it is missing it is
prepared first (``zoo data prepare audio --source tuxpaint minutes=M``, ``--prepare-minutes``, default 20:
needs Debian's tuxpaint-stamps-default).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import zoo
from modalities.audio import AudioModel, metrics
from modalities.audio.data import prepare
from modalities.audio.training import AudioData
from zoo.evaluation import describe_device

SHOWN = ("mrstft_band", "mrstft", "pesq_wb", "stoi")
ARMS = {"none": False, "8 iterations": {"iterations": 8}, "16 iterations": {"iterations": 16},
        "32 iterations": {"iterations": 32}}


def score(model, utterances: list[torch.Tensor], seed: int, projection) -> tuple[dict, float]:
    """(metric means, vocoder seconds per second of audio) over the utterances (each (T,), whole hops)."""
    generator, rows, seconds = torch.Generator().manual_seed(seed), [], 0.0
    for ref in utterances:
        mel = model.frontend(ref)
        start = time.perf_counter()
        est = model.vocode(mel, generator=generator, mel_projection=projection).float()
        seconds += time.perf_counter() - start
        rows.append(metrics.compare(ref, est, model.frontend))
    return metrics.summarise(rows), seconds / (sum(len(u) for u in utterances) / model.sample_rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="audio/diffwave", help="a vocoder: a released name or a model folder")
    parser.add_argument("--n", type=int, default=8, help="held-out utterances scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/audio_projection")
    parser.add_argument("--prepare-minutes", type=float, default=20.0,
                        help="minutes of speech to prepare when the model's data file is missing")
    args = parser.parse_args()
    if args.n < 1:
        raise SystemExit(f"audio_projection: --n must be >= 1, got {args.n}")
    torch.set_num_threads(2)
    model = zoo.load(args.model, local_files_only=True)
    data = AudioData(**model.config["data"])
    if not Path(data.path).is_file():
        print(f"preparing {data.path} ({args.prepare_minutes:g} minutes of speech)", flush=True)
        prepare(data.name, data.path, minutes=args.prepare_minutes, heldout_minutes=min(args.prepare_minutes / 4, 5.0))
    hop = model.frontend.hop
    utterances = [u[: len(u) - len(u) % hop] for u in data.clips("heldout").heldout_utterances(args.n)]
    results = {"model": args.model, "n": len(utterances), "seed": args.seed, "device": describe_device("cpu"),
               "sampling": {k: v for k, v in model.config["sampling"].items() if k != "mel_projection"}, "arms": {}}
    for name, projection in ARMS.items():
        scores, rtf = score(model, utterances, args.seed, projection)
        results["arms"][name] = {"scores": scores, "seconds_per_second": rtf}
        print(name, {k: _cell(scores.get(k)) for k in SHOWN}, f"{rtf:.3f} s/s", flush=True)
    torch.manual_seed(args.seed)
    untrained = AudioModel.from_config(dict(model.config))
    scores, rtf = score(untrained, utterances, args.seed, ARMS["32 iterations"])
    results["arms"]["32 iterations, untrained network"] = {"scores": scores, "seconds_per_second": rtf}
    results["griffin_lim_64"] = metrics.summarise(
        [metrics.compare(u, metrics.griffin_lim(model.frontend(u), model.frontend), model.frontend) for u in utterances])
    results["command"] = "python benchmarks/audio_projection.py " + (
        f"--model {args.model} --n {args.n} --seed {args.seed}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n")
    Path(f"{args.out}.md").write_text(table(results) + "\n")
    print(table(results))


def table(results: dict) -> str:
    lines = [f"Mel-consistent sampling on {results['device']}: `{results['model']}` ({results['sampling']['sampler']}, "
             f"{results['sampling']['steps']} steps, timesteps `{results['sampling']['timesteps']}`) on {results['n']} "
             f"held-out tuxpaint utterances, seed {results['seed']}; Griffin-Lim (64 iterations) from the same mels.", "",
             "| projection | " + " | ".join(SHOWN) + " | vocoder s per s of audio |", "|---|" + "---|" * (len(SHOWN) + 1)]
    for name, arm in results["arms"].items():
        lines.append(f"| {name} | " + " | ".join(_cell(arm["scores"].get(k)) for k in SHOWN) +
                     f" | {arm['seconds_per_second']:.3f} |")
    lines.append("| Griffin-Lim 64 | " + " | ".join(_cell(results["griffin_lim_64"].get(k)) for k in SHOWN) + " | – |")
    lines += ["", "Lower is better for mrstft_band and mrstft; higher for PESQ-WB and STOI.  The untrained network's row "
              "is the projection alone: what is left of the gain without a trained network.", "",
              f"Reproduce: `{results['command']}`"]
    return "\n".join(lines)


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


if __name__ == "__main__":
    main()
