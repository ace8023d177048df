"""Which levers buy vocoder quality per minute of training: each arm trains the same recipe for the same
wall-clock budget on this machine, then vocodes the same held-out utterances, beside Griffin-Lim from
the same mels.

Arms (each a set of recipe overrides on recipes/audio/diffwave.yaml's ``--preset``, or a trained arm
with its 6-step grid fitted afterwards by ``zoo fit-grid``, which costs no training time):

- ``diffwave``: plain DiffWave (isotropic noise, no STFT loss, DiffWave's fast 6-step table);
- ``prior``: PriorGrad's conditional prior (``diffusion.prior=conditional``, floor 0.1);
- ``stft``: the auxiliary multi-resolution STFT loss on the predicted x0 (``objective.stft_weight``);
- ``grid``: the ``diffwave`` arm with its fitted grid;
- ``prior+grid``: the ``prior`` arm with its fitted grid;
- ``prior+stft``: both training levers; ``all``: that arm with its fitted grid;
- ``prior-small``, ``prior-large``: the ``prior`` arm with 8 layers x 24 channels, or 12 x 64 (the cpu preset:
  12 x 32): which network size pays off in the same minutes.

Every arm is scored twice: the network alone (``mel_projection=False``: what training bought) and with the
recipe's mel projection (``sampling.mel_projection``, modalities/audio/projection.py: what a user gets).

``--reuse`` keeps the arms already in the results file (same preset, minutes, n and seed) whose run folders
exist, and runs only the others (a fitted arm loads its trained base): adding an arm costs only that arm.

    python benchmarks/audio_ablation.py --minutes 8 --n 8        # 4 x 8 min of training, 2 fits, then scoring
    python benchmarks/audio_ablation.py --arms prior --minutes 1 --n 2

Results go to benchmarks/results/audio_ablation.json and .md (``--out`` elsewhere; the network sizes:
``--arms prior,prior-small,prior-large --out benchmarks/results/audio_ablation_size``); each run folder to
``--runs`` (default runs/audio_ablation/<arm>).  Trains on .data/audio/tuxpaint.npz; when it is missing it
is prepared first (``zoo data prepare audio --source tuxpaint minutes=M``, ``--prepare-minutes``, default 20:
needs Debian's tuxpaint-stamps-default).
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from modalities.audio import metrics
from modalities.audio.data import DEFAULT_PATHS, prepare
from modalities.audio.grid import fit_folder
from modalities.audio.training import AudioData
from zoo.evaluation import describe_device
from zoo.folder import count_parameters, load_folder
from zoo.train import load_recipe, train

PRIOR, STFT = "diffusion.prior=conditional", "objective.stft_weight=0.05"
ISOTROPIC, NO_STFT = "diffusion.prior=isotropic", "objective.stft_weight=0"  # each arm names every lever
TRAINED = {"diffwave": [ISOTROPIC, NO_STFT], "prior": [PRIOR, NO_STFT], "stft": [ISOTROPIC, STFT],
           "prior+stft": [PRIOR, STFT],
           "prior-small": [PRIOR, NO_STFT, "network.params.layers=8", "network.params.channels=24",
                           "network.params.dilation_cycle=4"],
           "prior-large": [PRIOR, NO_STFT, "network.params.channels=64"]}
FITTED = {"grid": "diffwave", "prior+grid": "prior", "all": "prior+stft"}  # arm: the trained arm whose grid it fits
ARMS = ("diffwave", "prior", "stft", "grid", "prior+grid", "prior+stft", "all", "prior-small", "prior-large")
DATA = Path(DEFAULT_PATHS["tuxpaint"])
SHOWN = ("mrstft_band", "mrstft", "mel_l1", "pesq_wb", "stoi")


def score(model, data: AudioData, n: int, seed: int) -> tuple[dict, dict, dict]:
    """(model alone, model with its recipe's mel projection, Griffin-Lim) means over the first n held-out
    utterances, cut to whole hops."""
    rows, projected, baseline = [], [], []
    alone, with_projection = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    settings = model.config["sampling"].get("mel_projection") or True
    for ref in data.clips("heldout").heldout_utterances(n):
        ref = ref[: len(ref) - len(ref) % model.frontend.hop]
        mel = model.frontend(ref)
        rows.append(metrics.compare(ref, model.vocode(mel, generator=alone, mel_projection=False).float(),
                                    model.frontend))
        projected.append(metrics.compare(ref, model.vocode(mel, generator=with_projection,
                                                           mel_projection=settings).float(), model.frontend))
        baseline.append(metrics.compare(ref, metrics.griffin_lim(mel, model.frontend), model.frontend))
    return metrics.summarise(rows), metrics.summarise(projected), metrics.summarise(baseline)


def table(results: dict) -> str:
    arms = {name: results["arms"][name] for name in ARMS if name in results["arms"]}
    lines = [f"Audio ablation on {results['device']}: each arm trained {results['minutes']:g} min "
             f"(`{results['recipe']}` preset `{results['preset']}`), scored on {results['n']} held-out tuxpaint "
             f"utterances at the model's sampler and grid, the network alone (no mel projection); Griffin-Lim (64 iterations) from the same mels.", "",
             "| arm | steps | " + " | ".join(SHOWN) + " |", "|---|---|" + "---|" * len(SHOWN)]
    for name, arm in arms.items():
        lines.append(f"| {name} | {arm['steps']} | " + " | ".join(_cell(arm["scores"].get(k)) for k in SHOWN) + " |")
    lines.append("| Griffin-Lim 64 | – | " + " | ".join(_cell(results["griffin_lim_64"].get(k)) for k in SHOWN) + " |")
    projected = {name: arm for name, arm in arms.items() if "scores_projected" in arm}
    if projected:
        lines += ["", "The same arms sampled with the recipe's mel projection (`sampling.mel_projection`):", "",
                  "| arm | parameters | " + " | ".join(SHOWN) + " |", "|---|---|" + "---|" * len(SHOWN)]
        lines += [f"| {name} | {arm['parameters']:,} | " + " | ".join(_cell(arm["scores_projected"].get(k)) for k in SHOWN)
                  + " |" for name, arm in projected.items()]
    for name, arm in arms.items():
        if "fit" in arm:
            fit = arm["fit"]
            lines.append(f"\n`{name}` is `{arm['fitted']}` with its 6-step grid fitted by `zoo fit-grid` (4 training crops "
                         f"of 0.5 s, {fit['evaluations']} trials, {fit['seconds']:.0f} s; band MRSTFT on those crops "
                         f"{fit['before']:.4f} -> {fit['after']:.4f}): t = {[round(t, 4) for t in fit['grid']]}.")
    lines += ["", "Lower is better for mrstft_band, mrstft and mel_l1; higher for PESQ-WB and STOI.", "",
              f"Reproduce: `{results['command']}`"]
    return "\n".join(lines)


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {list(ARMS)}")
    parser.add_argument("--minutes", type=float, default=6.0, help="training budget of each arm (wall clock)")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--n", type=int, default=8, help="held-out utterances scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs/audio_ablation")
    parser.add_argument("--out", default="benchmarks/results/audio_ablation")
    parser.add_argument("--reuse", action="store_true", help="keep the arms the results file already has")
    parser.add_argument("--prepare-minutes", type=float, default=20.0,
                        help="minutes of speech to prepare when .data/audio/tuxpaint.npz is missing")
    args = parser.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown or not arms or args.minutes <= 0 or args.n < 1:
        raise SystemExit(f"audio_ablation: arms of {list(ARMS)} (got {arms}), --minutes > 0, --n >= 1")
    arms = [a for a in ARMS if a in arms or any(FITTED.get(b) == a for b in arms)]  # a fitted arm needs its base
    recipe_path = "recipes/audio/diffwave.yaml"
    if not DATA.is_file():
        print(f"preparing {DATA} ({args.prepare_minutes:g} minutes of speech)", flush=True)
        prepare("tuxpaint", DATA, minutes=args.prepare_minutes, heldout_minutes=min(args.prepare_minutes / 4, 5.0))
    results = {"recipe": recipe_path, "preset": args.preset, "minutes": args.minutes, "n": args.n, "seed": args.seed,
               "device": describe_device("cpu"), "arms": {}}
    earlier = Path(f"{args.out}.json")
    if args.reuse and earlier.is_file():
        before = json.loads(earlier.read_text())
        if all(before.get(k) == results[k] for k in ("recipe", "preset", "minutes", "n", "seed")):
            results["arms"] = {k: v for k, v in before["arms"].items() if (Path(args.runs) / k / "model").is_dir()}
            results["griffin_lim_64"] = before["griffin_lim_64"]
    done = [a for a in ARMS if a in results["arms"]]
    results["command"] = (f"python benchmarks/audio_ablation.py --arms {','.join(a for a in ARMS if a in arms or a in done)}"
                          f" --minutes {args.minutes:g} --preset {args.preset} --n {args.n}" +
                          "".join(f" --{k} {getattr(args, k)}" for k in ("out", "runs")
                                  if getattr(args, k) != parser.get_default(k)))
    for name in arms:
        if name in results["arms"]:
            continue
        out = Path(args.runs) / name
        start = time.perf_counter()
        if name not in FITTED and args.reuse and (out / "model").is_dir():
            model, entry = load_folder(out / "model"), {"overrides": TRAINED[name]}
        elif name in FITTED:
            base = Path(args.runs) / FITTED[name]
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(base, out)
            fit = fit_folder(out / "model", seed=args.seed)
            model = load_folder(out / "model")
            entry = {"fitted": FITTED[name], "fit": fit}
        else:
            shutil.rmtree(out, ignore_errors=True)
            recipe = load_recipe(recipe_path, [f"preset={args.preset}", f"optim.max_minutes={args.minutes:g}",
                                               "optim.steps=10000000", "log.progress=false", "sampling.n=1",
                                               f"seed={args.seed}", *TRAINED[name]])
            model = train(recipe, out)
            entry = {"overrides": TRAINED[name], "seconds": round(time.perf_counter() - start, 1)}
        data = AudioData(**model.config["data"])
        scores, projected, baseline = score(model, data, args.n, args.seed)
        run = json.loads((out / "model" / "training" / "run.json").read_text())["segments"][-1]
        results["arms"][name] = {**entry, "steps": run["steps"], "parameters": count_parameters(out / "model" / "model.safetensors"),
                                 "scores": scores, "scores_projected": projected}
        results["griffin_lim_64"] = baseline
        print(f"{name}: {run['steps']} steps, " + ", ".join(f"{k} {_cell(scores.get(k))}" for k in SHOWN), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n")
    Path(f"{args.out}.md").write_text(table(results) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
