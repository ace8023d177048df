"""Few-step generation (issue 9) end to end: distil, reflow, latent-distil, quality versus NFE.

    python benchmarks/few_step.py images --out DIR [--preset smoke] [--device cuda] [--pairs 50000]
    python benchmarks/few_step.py toy2d --out DIR        # ring8, on a CPU (about 45 minutes on 1 thread)

images: stages, each a `zoo` command logged to DIR/log.txt (a failed stage is logged and the next runs):
1. `zoo train recipes/image/fashion-cm.yaml`   consistency distillation of image/fashion (guided)
2. `zoo couple image/fashion`                   reflow pairs of the teacher's guided ODE (dpmpp_2m, 35 steps)
3. `zoo train recipes/image/fashion-flow.yaml` the reflowed rectified flow
4. `zoo nfe` teacher, CM and flow at NFE 1, 2, 4, 8, 16, 35 (local-classifier FD, class accuracy, time)
5. trajectory straightness of the teacher's ODE and of the flow (zoo.core.flows.straightness)
6. `zoo train recipes/image/fashion-lcm.yaml`  latent consistency distillation of image/fashion-ldm
7. `zoo nfe` LDM teacher and LCM
Each model folder and the reports are packed into DIR as they are done (tar files), so a run cut
short still returns what it finished.  The recipes' optim.max_minutes bound the training stages.

toy2d: trains ring8-cm (consistency distillation of toy2d/ring8), ring8-flow (a 1-rectified flow) and
ring8-reflow (the 2-rectified flow on 100,000 pairs of the first), then `zoo nfe` for all of them
and the straightness of each flow's trajectories before and after reflow.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "few_step"
NFES = "1,2,4,8,16,35"


def _run(log, *args) -> bool:
    command = [sys.executable, "-m", "zoo.cli", *map(str, args)]
    start = time.perf_counter()
    log.write(f"\n$ zoo {' '.join(map(str, args))}\n")
    log.flush()
    done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    log.write(f"[exit {done.returncode} after {time.perf_counter() - start:.1f} s]\n")
    log.flush()
    return done.returncode == 0


def _pack(out: Path, name: str, paths: list[Path]) -> None:
    with tarfile.open(out / f"{name}.tar", "w") as tar:
        for path in paths:
            if path.exists():
                tar.add(path, arcname=path.name)


def _flow_straightness(names: dict, n: int, device: str = "cpu") -> dict:
    """Straightness (zoo.core.flows) of each model's ODE trajectories from the same noise; class-conditional
    models draw balanced classes, with their default classifier-free guidance if they have one."""
    import torch

    from zoo import core, hub

    out = {}
    for label, name in names.items():
        model = hub.load(name, device=device)
        x_T = model.noise(n, torch.Generator().manual_seed(0))
        den, cond = model.denoiser(), None
        labels = model.balanced_labels(n)
        if labels is not None:
            cond = {"label": labels.to(x_T.device)}
            guidance = model.config.get("sampling", {}).get("guidance")
            if guidance is not None:
                uncond = {"label": torch.full_like(cond["label"], model.num_classes)}
                den, cond = core.guidance.ClassifierFree(den, guidance, cond, uncond), None
        measured = core.flows.straightness(den, x_T, steps=100, cond=cond)
        out[label] = {"straightness": measured["straightness"], "relative": measured["relative"]}
    out["how"] = (f"{n} trajectories from the same noise, 100 Euler steps uniform in t from 1 to 0 (class-conditional: "
                  f"balanced classes, the model's default guidance)")
    return out


def toy2d(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    toy = ROOT / "runs" / "toy2d"
    pairs = toy / "ring8-pairs.npz"
    with open(out / "log.txt", "a") as log:
        _run(log, "train", "recipes/toy2d/ring8-cm.yaml", "--out", toy / "ring8-cm")
        _run(log, "train", "recipes/toy2d/ring8-flow.yaml", "--out", toy / "ring8-flow")
        _run(log, "couple", toy / "ring8-flow" / "model", "-n", 100000, "--sampler", "heun", "--steps", 64,
             "--batch", 10000, "-o", pairs)
        _run(log, "train", "recipes/toy2d/ring8-reflow.yaml", f"data.pairs={pairs}", f"init={toy / 'ring8-flow' / 'model'}",
             "--out", toy / "ring8-reflow")
        _run(log, "nfe", "toy2d/ring8", "toy2d/ring8", toy / "ring8-cm" / "model", toy / "ring8-flow" / "model",
             toy / "ring8-reflow" / "model", "--labels", "teacher (unipc; logsnr),teacher (unipc; trailing),"
             "consistency model,1-rectified flow (euler),2-rectified flow: reflow (euler)",
             "--timesteps", ",trailing,,,", "--title", "ring8: teacher, consistency distillation, rectified flow, reflow",
             "--nfe", args.nfe, "-n", args.n, "--out", out / "ring8")
        result = _flow_straightness({"teacher toy2d/ring8 (DDPM, probability-flow ODE)": "toy2d/ring8",
                                     "1-rectified flow (ring8-flow)": str(toy / "ring8-flow" / "model"),
                                     "2-rectified flow (ring8-reflow)": str(toy / "ring8-reflow" / "model")}, 4000)
        (out / "straightness.json").write_text(json.dumps(result, indent=1))
        log.write(json.dumps(result, indent=1) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["images", "toy2d"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--preset", help="images: recipe preset for every training stage (smoke: a quick check)")
    parser.add_argument("--device", default="cuda", help="images: where to train and sample (default cuda)")
    parser.add_argument("--pairs", type=int, default=50000, help="images: reflow pairs")
    parser.add_argument("-n", type=int, default=None, help="samples per NFE point (default 1000 images, 4000 points)")
    parser.add_argument("--nfe", default=NFES)
    args = parser.parse_args()
    if args.what == "toy2d":
        args.n = args.n or 4000
        return toy2d(args)
    return images(args)


def images(args) -> int:
    args.n = args.n or 1000
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    preset = [f"preset={args.preset}"] if args.preset else []
    pairs = RUNS / "fashion-pairs.npz"
    reports = out / "reports"
    reports.mkdir(exist_ok=True)
    with open(out / "log.txt", "a") as log:
        log.write(f"few_step.py {vars(args)}\n")
        if _run(log, "train", "recipes/image/fashion-cm.yaml", *preset, "--out", RUNS / "fashion-cm"):
            _pack(out, "fashion-cm", [RUNS / "fashion-cm" / "model"])
        if _run(log, "couple", "image/fashion", "-n", args.pairs, "--sampler", "dpmpp_2m", "--steps", 35,
                "--batch", 1000, "--device", args.device, "-o", pairs):
            if _run(log, "train", "recipes/image/fashion-flow.yaml", *preset, f"data.pairs={pairs}",
                    "--out", RUNS / "fashion-flow"):
                _pack(out, "fashion-flow", [RUNS / "fashion-flow" / "model"])
        _run(log, "nfe", "image/fashion", "image/fashion", RUNS / "fashion-cm" / "model", RUNS / "fashion-flow" / "model",
             "--labels", "teacher (dpmpp_2m; logsnr),teacher (dpmpp_2m; trailing),consistency model,reflowed flow (euler)",
             "--timesteps", ",trailing,,",
             "--title", "Fashion-MNIST: teacher, consistency distillation, reflow", "--nfe", args.nfe, "-n", args.n,
             "--device", args.device, "--out", reports / "fashion")
        try:
            result = _flow_straightness({"teacher image/fashion (DDPM, probability-flow ODE)": "image/fashion",
                                         "fashion-flow (reflowed rectified flow)": str(RUNS / "fashion-flow" / "model")},
                                        min(args.n, 1000), args.device)
            (reports / "straightness.json").write_text(json.dumps(result, indent=1))
            log.write(json.dumps(result, indent=1) + "\n")
        except Exception as error:  # a report stage must not cost the stages after it
            log.write(f"straightness failed: {error!r}\n")
        _pack(out, "reports", [reports])
        if _run(log, "train", "recipes/image/fashion-lcm.yaml", *preset, "--out", RUNS / "fashion-lcm"):
            _pack(out, "fashion-lcm", [RUNS / "fashion-lcm" / "model"])
        _run(log, "nfe", "image/fashion-ldm", "image/fashion-ldm", RUNS / "fashion-lcm" / "model",
             "--labels", "LDM teacher (dpmpp_2m; logsnr),LDM teacher (dpmpp_2m; trailing),latent consistency model",
             "--timesteps", ",trailing,",
             "--title", "Fashion-MNIST latents: LDM teacher and LCM", "--nfe", args.nfe, "-n", args.n,
             "--device", args.device, "--out", reports / "fashion-ldm")
        _pack(out, "reports", [reports])
    return 0


if __name__ == "__main__":
    sys.exit(main())
