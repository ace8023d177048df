"""DiffWave speed: zoo's audio/diffwave against lmnt's reference implementation, same size, one run.

lmnt's DiffWave is on PyPI (``pip install --no-deps diffwave``); both networks are built at the
paper's base size (30 residual layers x 64 channels, 80 mels, hop 256) with random weights:
speed does not depend on the weights.  Measured, as ratios zoo / lmnt:

- synthesis: seconds of audio from a mel, batch 1, at 6 steps (DiffWave's fast schedule) and at
  50 steps (the training schedule); lmnt's loop is its ``inference.predict`` algorithm, calling
  its network as it does (mel upsampling and projections recomputed at every step); zoo's is
  ``AudioModel.vocode`` (conditioner computed once, the core's ``ddpm`` sampler, chunked);
- training throughput in audio-seconds per second: forward, backward, AdamW step on crops of
  62 frames (15,872 samples), fp32 and with autocast (bf16 for zoo, lmnt's own fp16 AMP on CUDA;
  on the CPU both use bf16 autocast).

``--release NAME`` adds a row for a released vocoder at its own size and sampling defaults (e.g. the CPU
preset's 12 x 32 network and its fitted 6-step grid) against lmnt at the base size, the size of lmnt's
published checkpoint.

    python benchmarks/audio.py                 # CPU: 1 s of audio, 6 steps; training batch 4
    python benchmarks/audio.py --only synthesis --release audio/diffwave    # the release beside lmnt's base size
    python benchmarks/audio.py --seconds 5 --full --batch 16 --device cuda   # the GPU protocol
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from modalities.audio.frontend import DEFAULT
from modalities.audio.model import FAST_BETAS, AudioModel
from zoo.evaluation import describe_device

TRAINING_BETAS = np.linspace(1e-4, 0.05, 50)
CROP = 62 * 256


def zoo_model(device):
    config = {"name": "audio/diffwave-bench", "modality": "audio", "architecture": "audio/diffwave", "network": {},
              "schedule": {"name": "DDPM", "betas": TRAINING_BETAS.tolist()}, "prediction": "eps", "sample_shape": [CROP],
              "sampling": {"sampler": "ddpm", "steps": 6, "timesteps": "fast"}, "frontend": dict(DEFAULT),
              "data": {"name": "none"}}
    return AudioModel.from_config(config).to(device).eval()


def lmnt_model(device):
    from diffwave.model import DiffWave
    from diffwave.params import AttrDict, params

    return DiffWave(AttrDict(params)).to(device).eval()


@torch.no_grad()
def lmnt_predict(model, mel, betas):
    """lmnt's inference.predict loop (fast or full schedule), on an in-memory model."""
    train_cum = np.cumprod(1 - TRAINING_BETAS)
    alpha = 1 - betas
    alpha_cum = np.cumprod(alpha)
    labels = []
    for s in range(len(betas)):  # each inference level at its fractional training step
        for t in range(len(TRAINING_BETAS) - 1):
            if train_cum[t + 1] <= alpha_cum[s] <= train_cum[t]:
                labels.append(t + (train_cum[t] ** 0.5 - alpha_cum[s] ** 0.5) / (train_cum[t] ** 0.5 - train_cum[t + 1] ** 0.5))
                break
    labels = labels or list(range(len(betas)))
    audio = torch.randn(mel.shape[0], 256 * mel.shape[-1], device=mel.device)
    for n in range(len(alpha) - 1, -1, -1):
        eps = model(audio, mel, torch.tensor([labels[n]], device=mel.device, dtype=torch.float32)).squeeze(1)
        audio = (audio - betas[n] / (1 - alpha_cum[n]) ** 0.5 * eps) / alpha[n] ** 0.5
        if n > 0:
            audio += ((1 - alpha_cum[n - 1]) / (1 - alpha_cum[n]) * betas[n]) ** 0.5 * torch.randn_like(audio)
        audio = audio.clamp(-1, 1)
    return audio


def timed(fn, device, repeat=1):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def train_throughput(model, step_fn, batch, device, precision, steps):
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4)
    model.train()
    audio = torch.randn(batch, CROP, device=device) * 0.1
    mel = torch.randn(batch, 80, CROP // 256, device=device) - 4
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16

    def one():
        with torch.autocast(device.type, dtype=dtype, enabled=precision != "fp32"):
            loss = step_fn(model, audio, mel)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    seconds = timed(lambda: [one() for _ in range(steps)], device)
    return batch * CROP / 22050 * steps / seconds


def zoo_step(model, audio, mel):
    t = (torch.randint(0, 50, (audio.shape[0],), device=audio.device) + 1) / 50  # DDPM step i sits at t = (i + 1) / 50
    return model.loss({"x": audio, "cond": {"mel": mel}}, t=t, weighting="uniform", norm="l1").mean()


def lmnt_step(model, audio, mel):
    level = torch.tensor(np.cumprod(1 - TRAINING_BETAS), dtype=torch.float32, device=audio.device)
    t = torch.randint(0, 50, (audio.shape[0],), device=audio.device)
    noise = torch.randn_like(audio)
    noisy = level[t, None] ** 0.5 * audio + (1 - level[t, None]) ** 0.5 * noise
    return torch.nn.functional.l1_loss(model(noisy, mel, t).squeeze(1), noise)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=1.0, help="audio to synthesise (default 1 s)")
    parser.add_argument("--full", action="store_true", help="also synthesise with the 50-step training schedule")
    parser.add_argument("--batch", type=int, default=4, help="training batch (crops of 62 frames)")
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", choices=["synthesis", "training"], help="run one half of the benchmark")
    parser.add_argument("--release", help="also time this released vocoder (its own size and sampling defaults)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    zoo, lmnt = zoo_model(device), lmnt_model(device)
    sizes = sum(p.numel() for p in zoo.network.parameters()), sum(p.numel() for p in lmnt.parameters())
    frames = int(args.seconds * 22050 / 256)
    mel = torch.randn(1, 80, frames, device=device) - 4
    where = describe_device(device)
    print(f"DiffWave 30x64: zoo {sizes[0]:,} parameters, lmnt {sizes[1]:,}; {where}; torch {torch.__version__}")
    if args.only != "training":
        synthesis(zoo, lmnt, mel, frames, args, device)
    if args.only != "synthesis":
        training(zoo, lmnt, args, device)


def synthesis(zoo, lmnt, mel, frames, args, device):
    print(f"synthesis of {frames * 256 / 22050:.2f} s of audio, batch 1 (best of {args.repeat}):")
    print("| schedule | NFE | lmnt s | zoo s | zoo speed-up | zoo x real time |")
    print("|---|---|---|---|---|---|")
    schedules = [("fast", FAST_BETAS)] + ([("training", TRAINING_BETAS)] if args.full else [])
    for name, betas in schedules:
        t_lmnt = timed(lambda: lmnt_predict(lmnt, mel, np.asarray(betas)), device, args.repeat)
        t_zoo = timed(lambda: zoo.vocode(mel[0], timesteps=name, sampler="ddpm"), device, args.repeat)
        audio_s = frames * 256 / 22050
        print(f"| {name} | {len(betas)} | {t_lmnt:.3f} | {t_zoo:.3f} | {t_lmnt / t_zoo:.2f}x | {audio_s / t_zoo:.1f} |")
        if name == "fast" and args.release:
            import zoo as library

            released = library.load(args.release, local_files_only=True).to(device).eval()
            size = sum(p.numel() for p in released.network.parameters())
            t_release = timed(lambda: released.vocode(mel[0]), device, args.repeat)
            sampling = released.config["sampling"]
            print(f"| {args.release} ({size:,} parameters, its {sampling['sampler']} {sampling['timesteps']} "
                  f"{sampling['steps']} steps) | {sampling['steps']} | {t_lmnt:.3f} | {t_release:.3f} | "
                  f"{t_lmnt / t_release:.2f}x | {audio_s / t_release:.1f} |")


def training(zoo, lmnt, args, device):
    print(f"\ntraining throughput, audio-seconds per second, batch {args.batch} x {CROP} samples, {args.train_steps} steps:")
    print("| precision | lmnt | zoo | ratio |")
    print("|---|---|---|---|")
    for precision in ("fp32", "bf16" if device.type == "cpu" else "amp"):
        zoo_p = "bf16" if precision == "amp" else precision
        lmnt_p = "fp16" if precision == "amp" else precision
        a = train_throughput(lmnt, lmnt_step, args.batch, device, lmnt_p, args.train_steps)
        b = train_throughput(zoo, zoo_step, args.batch, device, zoo_p, args.train_steps)
        print(f"| {precision} (zoo {zoo_p}, lmnt {lmnt_p}) | {a:.2f} | {b:.2f} | {b / a:.2f}x |")


if __name__ == "__main__":
    main()
