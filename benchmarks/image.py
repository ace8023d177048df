"""Image U-Net speed: zoo's image/unet against diffusers' UNet2DModel at ddpm-cifar10-32's widths, one run.

Both networks are built with random weights (speed does not depend on them) at the widths of
google/ddpm-cifar10-32: 3x32x32 images, 128 base channels, channel multipliers (1, 2, 2, 2), two
residual blocks per level, attention at 16x16.  zoo's U-Net is ADM-style: its scale-shift norm
gives each residual block's embedding projection twice the outputs, 38.3M parameters against
35.7M (``--peer-scale-shift`` builds diffusers the same way, 38.3M, for equal work).  Measured,
in images per second, with ratios zoo / diffusers:

- training: forward, MSE to the noise, backward, AdamW step at batch ``--train-batch`` (128 in the
  protocol), fp32 and bf16 autocast, the same noising loop for both (DDPM linear table, T=1000,
  integer steps); ``--warmup`` iterations excluded, CUDA synchronised around each timed one;
- sampling: batch ``--sample-batch`` (256 in the protocol), 20 DPM-Solver++ (2M) steps, fp32 and
  bf16 autocast.  zoo: ``zoo.core.sample(Denoiser(net, DDPM linear, "eps"), x_T, sampler="dpmpp_2m",
  steps=20)``; diffusers: ``DPMSolverMultistepScheduler`` (its defaults: dpmsolver++, order 2,
  linear betas 1e-4..0.02) with 20 steps, calling the UNet2DModel in the usual loop.  Both make
  20 network evaluations per sample; the warm-up is ``--warmup`` 2-step sampling runs each.

The two networks' timed iterations alternate, so that other load on a shared machine hits both alike.

``--channels-last`` puts both networks and their inputs in channels_last; ``--compile`` wraps the
zoo network (only) in ``torch.compile`` (warm-up then includes compilation).

    OMP_NUM_THREADS=1 python benchmarks/image.py --train-batch 8 --sample-batch 4 --iters 2   # CPU, about 3 minutes
    python benchmarks/image.py --device cuda --channels-last --compile --iters 20   # the GPU protocol
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from modalities.image.networks import unet
from zoo import core
from zoo.evaluation import describe_device

STEPS = 20
DIFFUSERS_CONFIG = {"sample_size": 32, "in_channels": 3, "out_channels": 3, "block_out_channels": (128, 256, 256, 256),
                    "layers_per_block": 2,
                    "down_block_types": ("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                    "up_block_types": ("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D")}


def networks(device, args):
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    zoo = unet(in_channels=3, channels=128, channel_mult=(1, 2, 2, 2), num_res_blocks=2, attention_resolutions=(16,))
    peer = UNet2DModel(**DIFFUSERS_CONFIG, **({"resnet_time_scale_shift": "scale_shift"} if args.peer_scale_shift else {}))
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    return zoo.to(device, memory_format=fmt), peer.to(device, memory_format=fmt)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rates(fns, images, iters, device):
    """Images per second of each callable (one call = ``images`` images) over ``iters`` calls each,
    the calls alternating so that background load on a shared machine hits them alike."""
    seconds = [0.0] * len(fns)
    for _ in range(iters):
        for i, fn in enumerate(fns):
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            seconds[i] += time.perf_counter() - start
    return [images * iters / s for s in seconds]


def autocast(device, precision):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def train_step(forward, params, args, device, precision):
    """forward(x_t (B, 3, 32, 32), steps (B,) long) -> eps prediction; returns one AdamW training step."""
    opt = torch.optim.AdamW(params, lr=1e-4)
    alpha2 = core.schedules.DDPM().alphas_cumprod.to(device, torch.float32)
    x0 = (torch.rand(args.train_batch, 3, 32, 32, device=device) * 2 - 1).contiguous(memory_format=args.fmt)

    def step():
        t = torch.randint(0, 1000, (args.train_batch,), device=device)
        eps = torch.randn_like(x0)
        a2 = alpha2[t].view(-1, 1, 1, 1)
        with autocast(device, precision):
            loss = F.mse_loss(forward(a2.sqrt() * x0 + (1 - a2).sqrt() * eps, t).float(), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def zoo_sampler(net, args, device):
    denoiser = core.Denoiser(net, core.schedules.from_config({"name": "DDPM"}), "eps")

    def run(steps=STEPS):
        x_T = torch.randn(args.sample_batch, 3, 32, 32, device=device).contiguous(memory_format=args.fmt)
        x, info = core.sample(denoiser, x_T, sampler="dpmpp_2m", steps=steps, return_info=True)
        assert info.nfe == steps
        return x
    return run


def diffusers_sampler(net, args, device):
    from diffusers import DPMSolverMultistepScheduler

    scheduler = DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4,
                                            beta_end=0.02, algorithm_type="dpmsolver++", solver_order=2)

    @torch.no_grad()
    def run(steps=STEPS):
        scheduler.set_timesteps(steps, device=device)
        x = torch.randn(args.sample_batch, 3, 32, 32, device=device).contiguous(memory_format=args.fmt)
        x = x * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            x = scheduler.step(net(x, t).sample.float(), t, x).prev_sample
        return x
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--sample-batch", type=int, default=256)
    parser.add_argument("--iters", type=int, default=10, help="timed training steps / sampling runs")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations before each measurement")
    parser.add_argument("--channels-last", action="store_true", help="channels_last networks and inputs (both)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the zoo network")
    parser.add_argument("--peer-scale-shift", action="store_true",
                        help="build diffusers with resnet_time_scale_shift='scale_shift' (zoo's parameter count)")
    parser.add_argument("--only", choices=["train", "sample"], help="run one half of the benchmark")
    args = parser.parse_args(argv)
    args.fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    import diffusers

    zoo, peer = networks(device, args)
    sizes = sum(p.numel() for p in zoo.parameters()), sum(p.numel() for p in peer.parameters())
    zoo_call = torch.compile(zoo) if args.compile else zoo
    where = describe_device(device)
    flags = [f for f, on in (("channels_last", args.channels_last), ("zoo compiled", args.compile)) if on]
    print(f"U-Net at ddpm-cifar10-32 widths: zoo {sizes[0]:,} parameters, diffusers {sizes[1]:,}; {where}; "
          f"torch {torch.__version__}, diffusers {diffusers.__version__}; {', '.join(flags) or 'eager, contiguous'}")
    rows = []
    if args.only != "train":
        runs = zoo_sampler(zoo_call, args, device), diffusers_sampler(peer, args, device)
        zoo_call.eval(), peer.eval()
        for precision in ("fp32", "bf16"):
            with autocast(device, precision):
                for _ in range(args.warmup):  # warm-up (and compilation) without paying 20 steps
                    for run in runs:
                        run(steps=2)
                b, a = rates(runs, args.sample_batch, args.iters, device)
            rows.append((f"sample, {STEPS} DPM-Solver++(2M) steps, batch {args.sample_batch}", precision, a, b))
    if args.only != "sample":
        zoo_call.train(), peer.train()
        for precision in ("fp32", "bf16"):
            steps = (train_step(lambda x, t: zoo_call(x, t.float()), zoo.parameters(), args, device, precision),
                     train_step(lambda x, t: peer(x, t).sample, peer.parameters(), args, device, precision))
            for _ in range(args.warmup):
                for step in steps:
                    step()
            b, a = rates(steps, args.train_batch, args.iters, device)
            rows.append((f"train, batch {args.train_batch}", precision, a, b))
    print(f"images/s ({args.iters} timed iterations after {args.warmup} warm-up):")
    print("| work | precision | diffusers img/s | zoo img/s | zoo / diffusers |")
    print("|---|---|---|---|---|")
    for work, precision, a, b in rows:
        name = "bf16 autocast" if precision == "bf16" else precision
        print(f"| {work} | {name} | {a:.2f} | {b:.2f} | {b / a:.2f}x |")


if __name__ == "__main__":
    main()
