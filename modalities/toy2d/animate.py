"""The picture of diffusion: data dissolving into noise, then the learned reverse process.

``animate(model, data)`` returns frames of a 2-D point cloud under the forward process
``x_t = alpha(t) x0 + sigma(t) eps`` from t = 0 to 1, then the model's sampler walking the same
noise back to data, each labelled with t and the sampler; ``save_gif`` and ``save_strip``
write them with Pillow.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from zoo.files import atomic_write

from .io import _figure, scatter


def _render(points: np.ndarray, title: str, size=(4, 4)) -> Image.Image:
    import matplotlib.pyplot as plt

    fig = _figure(size)
    scatter(fig.add_axes([0.02, 0.02, 0.96, 0.88]), points, title)
    fig.canvas.draw()
    image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB")
    plt.close(fig)
    return image


def trajectories(model, data, *, n: int = 1500, forward_frames: int = 24, steps: int = 24, sampler: str | None = None,
                 seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """(points (n, 2), label) for each frame: the forward process, then the reverse one."""
    gen = torch.Generator().manual_seed(seed)
    x0 = data.sample(n, gen).float()
    eps = torch.randn(n, 2, generator=gen)
    sched = model.schedule
    frames = []
    for t in np.linspace(0.0, sched.t_max, forward_frames):
        alpha, sigma = (float(v) for v in sched.alpha_sigma(float(t)))
        frames.append(((alpha * x0 + sigma * eps).numpy(), f"forward process   t = {t:.2f}"))
    name = sampler or model.config.get("sampling", {}).get("sampler", "unipc")
    x_T = eps * float(sched.sigma(sched.t_max))
    seen = []
    model.sample(n, steps=steps, sampler=name, x_T=x_T, generator=gen,
                 callback=lambda d: seen.append((d["x"].float().cpu().numpy(), d["t"], d["i"])))
    for points, t_step, i in seen:
        frames.append((points, f"reverse: {name}, step {i + 1}/{steps}   t = {t_step:.2f}"))
    return frames


def save_gif(frames, path, *, frame_ms: int = 120, hold_ms: int = 1200) -> Path:
    images = [_render(points, label) for points, label in frames]
    durations = [frame_ms] * len(images)
    durations[-1] = hold_ms
    return atomic_write(path, lambda tmp: images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                                                         duration=durations, loop=0))


def save_strip(frames, path, *, panels: int = 6) -> Path:
    """A still PNG: ``panels`` frames spread evenly over the whole animation, side by side."""
    pick = np.linspace(0, len(frames) - 1, panels).round().astype(int)
    images = [_render(frames[i][0], frames[i][1].replace("   ", "\n"), size=(3, 3.3)) for i in pick]
    strip = Image.new("RGB", (sum(im.width for im in images), images[0].height), "white")
    x = 0
    for im in images:
        strip.paste(im, (x, 0))
        x += im.width
    return atomic_write(path, lambda tmp: strip.save(tmp, format="PNG"))


def add_arguments(parser) -> None:
    """``zoo animate``'s own arguments (the zoo adds MODEL and the loading options)."""
    parser.add_argument("--out", required=True, help="GIF file")
    parser.add_argument("--strip", help="still PNG strip (default: the GIF's name with .png)")
    parser.add_argument("-n", type=int, default=1500, help="points (default 1500)")
    parser.add_argument("--steps", type=int, default=24, help="sampler steps (default 24)")
    parser.add_argument("--sampler", help="sampler name (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)


def run(args, load) -> int:
    """``zoo animate MODEL --out x.gif``: the forward and the learned reverse process of a 2-D model."""
    from .data import dataset

    model = load(args)
    if model.config["modality"] != "toy2d":
        raise ValueError(f"zoo animate draws 2-D point clouds; {args.model} is a {model.config['modality']} model")
    frames = trajectories(model, dataset(**model.config["data"]), n=args.n, steps=args.steps, sampler=args.sampler,
                          seed=args.seed)
    save_gif(frames, args.out)
    strip = Path(args.strip) if args.strip else Path(args.out).with_suffix(".png")
    save_strip(frames, strip)
    print(f"wrote {len(frames)} frames to {args.out} and a strip to {strip}")
    return 0

