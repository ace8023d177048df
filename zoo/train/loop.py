"""The one training loop, for every modality, on one process or many (DistributedDataParallel).

Every random draw of step k (the data batch, the times, the noise, condition dropout) comes
from a generator seeded with (seed, k) that produces the whole global batch; each process takes
its slice.  So a run resumed from a checkpoint continues exactly, and N processes with batch B
each train the same model as one process with batch N * B.
"""
from __future__ import annotations

import copy
import csv
import math
import os
import shutil
import time
from pathlib import Path

import torch
import torch.distributed as dist
from omegaconf import OmegaConf
from tqdm import tqdm

from .. import core
from ..evaluation import describe_device
from ..files import atomic_write, write_yaml
from ..loading import load
from ..model import ZooModel
from ..registry import modality as load_modality
from ..saving import draw_samples, save
from .checkpoint import checkpoint_recipe, checkpoint_seconds, load_checkpoint, save_checkpoint
from .config import to_yaml
from .consistency import consistency_config
from .objectives import make_objective
from .pairs import CoupledData

__all__ = ["train", "lr_at", "model_config"]

CHECKPOINT = "checkpoint.safetensors"
# keys a resumed run may change: how long it runs, how it reports and how its samples are drawn
RESUMABLE_CHANGES = ("optim.steps", "optim.max_minutes", "log.", "device", "compile", "sampling.")


def lr_at(step: int, optim) -> float:
    """Learning rate of step ``step`` (0-based): linear warm-up, then constant / cosine / linear decay."""
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    if optim.lr_schedule == "constant":
        return optim.lr
    progress = (step - optim.warmup_steps) / max(1, optim.steps - optim.warmup_steps)
    low = optim.lr * optim.min_lr_ratio
    if optim.lr_schedule == "cosine":
        return low + (optim.lr - low) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return optim.lr + (low - optim.lr) * min(progress, 1.0)


def model_config(recipe, data) -> dict:
    """The ZooModel config a recipe trains (plain data)."""
    task = {} if recipe.task == "diffusion" else {"task": recipe.task}
    return {**task,
        "name": f"{recipe.modality}/{recipe.name}",
        "modality": recipe.modality,
        "architecture": recipe.network.architecture,
        "network": OmegaConf.to_container(recipe.network.params),
        "schedule": OmegaConf.to_container(recipe.diffusion.schedule),
        "prediction": recipe.diffusion.prediction,
        "sigma_data": recipe.diffusion.sigma_data,
        **({"prior": recipe.diffusion.prior} if recipe.diffusion.prior != "isotropic" else {}),
        "sample_shape": list(data.sample_shape),
        "sampling": {"sampler": recipe.sampling.sampler, "steps": recipe.sampling.steps,
                     "timesteps": recipe.sampling.timesteps, "guidance": recipe.sampling.guidance,
                     "clip_x0": None if recipe.sampling.clip_x0 is None else list(recipe.sampling.clip_x0)},
        "data": data.config(),
        **data.model_config(),  # e.g. a null condition, a front end
        **({"consistency": consistency_config(recipe.consistency)} if recipe.task == "consistency" else {}),
    }


class _Distributed:
    """Process-group setup from torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK)."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "auto":
            device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.owns_group = False
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self.owns_group = True
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def mean(self, value: torch.Tensor) -> float:
        if self.world > 1:
            value = value.detach().clone()
            dist.all_reduce(value)
            value /= self.world
        return float(value)

    def close(self):
        if self.owns_group:
            dist.destroy_process_group()


def _step_batch(data, step: int, *, optim, objective, prior: str, seed: int, schedule, world: int, rank: int,
                noise_shape: tuple | None = None):
    """The slice of step ``step``'s global batch (``optim.batch_size``) that belongs to ``rank``: x, t,
    noise, the network's keyword arguments and the mask of real elements (a :class:`zoo.modality.Batch`'s
    ``mask``, or None: the noise is drawn on it and it reaches the network, never dropped; a batch's own
    ``noise`` (coupled pairs, e.g. reflow) is used instead of a fresh draw).  ``objective``: the
    recipe's objective section (time sampling, condition dropout); ``noise_shape``: one example's
    noise shape when it differs from the data's (an autoencoder's latent)."""
    total = optim.batch_size
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    batch = data.batch(total, g)
    obj = objective
    t = core.objectives.sample_time(schedule, total, obj.time_sampling, generator=g, p_mean=obj.p_mean,
                                    p_std=obj.p_std, logit_mean=obj.logit_mean, logit_std=obj.logit_std)
    mask = batch.get("mask")
    if "noise" in batch:  # coupled pairs (reflow: the noise each sample was generated from)
        noise = batch["noise"]
    elif noise_shape is None:
        noise = core.priors.from_name(prior, mask).noise(batch["x"], g)
    else:
        noise = torch.randn((total, *noise_shape), generator=g)
    cond = batch.get("cond") or {}
    if cond and obj.cond_dropout > 0:
        cond = core.objectives.drop_condition(cond, obj.cond_dropout, null=batch.get("null_cond"), generator=g)
    if mask is not None:
        cond = {**cond, "mask": mask}
    per = total // world
    part = slice(rank * per, (rank + 1) * per)
    return (batch["x"][part], t[part], noise[part], {k: v[part] for k, v in cond.items()},
            None if mask is None else mask[part])


@torch.no_grad()
def _ema_update(ema: torch.nn.Module, net: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), net.parameters()):
        e.lerp_(p.detach().to(e.dtype), 1.0 - decay)
    for e, b in zip(ema.buffers(), net.buffers()):
        e.copy_(b)


def _check_resume(saved_yaml: str, recipe, path: Path) -> None:
    saved = OmegaConf.to_container(OmegaConf.create(saved_yaml))
    now = OmegaConf.to_container(recipe)

    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out
    a, b = flat(saved), flat(now)
    changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and not k.startswith(RESUMABLE_CHANGES))
    if changed:
        raise ValueError(f"cannot resume from {path}: the recipe differs in {changed} "
                         f"(only {list(RESUMABLE_CHANGES)} may change)")


def train(recipe, out_dir, *, resume: bool = False, on_step=None) -> ZooModel:
    """Train ``recipe`` (a validated DictConfig, see ``load_recipe``) into ``out_dir``.

    Writes ``checkpoint.safetensors`` (every ``log.checkpoint_every`` steps and at the end),
    ``log.csv``, ``samples/`` and, at the end, ``model/`` (a model folder with the EMA weights).
    ``on_step(step, info)`` is called after every step on every process.  Returns the EMA model.
    """
    out = Path(out_dir)
    ctx = _Distributed(recipe.device)
    try:
        return _train(recipe, out, ctx, resume, on_step)
    finally:
        ctx.close()


def _train(recipe, out: Path, ctx: _Distributed, resume: bool, on_step) -> ZooModel:
    if recipe.optim.batch_size % ctx.world:
        raise ValueError(f"optim.batch_size {recipe.optim.batch_size} does not split over {ctx.world} processes")
    adapter = load_modality(recipe.modality)
    data = adapter.dataset(recipe.data.name, **OmegaConf.to_container(recipe.data.params))
    if recipe.data.pairs is not None:
        data = CoupledData(data, recipe.data.pairs)
    torch.manual_seed(recipe.seed)
    model = adapter.model_class.from_config(model_config(recipe, data))
    data.init_network(model.network)  # e.g. a latent model's frozen autoencoder
    if recipe.init is not None:
        _init_from(model, recipe.init)
    model = model.to(ctx.device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    net = model.network
    optimizer = torch.optim.AdamW(net.parameters(), lr=recipe.optim.lr, betas=tuple(recipe.optim.betas),
                                  weight_decay=recipe.optim.weight_decay)
    forward = net
    if ctx.world > 1:
        forward = torch.nn.parallel.DistributedDataParallel(net, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)
    if recipe.compile:
        forward = torch.compile(forward)
    objective = make_objective(recipe, model, forward, net, ctx.device)  # the task's loss, chosen once
    extra = objective.extra_state
    recipe_yaml = to_yaml(recipe)
    checkpoint = out / CHECKPOINT
    start, seconds_before = 0, 0.0
    if resume:
        if not checkpoint.is_file():
            raise ValueError(f"--resume: no checkpoint at {checkpoint}")
        _check_resume(checkpoint_recipe(checkpoint), recipe, checkpoint)
        start, _ = load_checkpoint(checkpoint, network=net, ema=ema.network, optimizer=optimizer, extra=extra)
        seconds_before = checkpoint_seconds(checkpoint)
        if ctx.main:
            _truncate_csv(out / "log.csv", start)
    elif checkpoint.exists():
        raise ValueError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    autocast = torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=recipe.precision == "bf16")
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
        write_yaml(out / "recipe.yaml", OmegaConf.to_container(recipe))
    log_path = out / "log.csv"
    bar = tqdm(total=recipe.optim.steps, initial=start, disable=not (ctx.main and recipe.log.progress),
               desc=recipe.name, dynamic_ncols=True)
    clock, window_start = time.perf_counter(), start
    segment_start, last_loss = clock, float("nan")
    net.train()
    done = start
    for step in range(start, recipe.optim.steps):
        lr = lr_at(step, recipe.optim)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, t, noise, cond, mask = _step_batch(data, step, optim=recipe.optim, objective=recipe.objective,
                                              prior=recipe.diffusion.prior, seed=recipe.seed, schedule=model.schedule,
                                              world=ctx.world, rank=ctx.rank, noise_shape=objective.noise_shape)
        x, noise = x.to(ctx.device), noise.to(ctx.device)
        cond = {k: v.to(ctx.device) for k, v in cond.items()}
        mask = None if mask is None else mask.to(ctx.device)
        with autocast:
            loss = objective(step, x, t, noise, cond, mask).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), recipe.optim.grad_clip if recipe.optim.grad_clip > 0
                                                   else float("inf"))
        optimizer.step()
        objective.after_step(net)
        decay = min(recipe.ema.decay, (1 + step) / (10 + step)) if recipe.ema.warmup else recipe.ema.decay
        _ema_update(ema.network, net, decay)
        done = step + 1
        if done % recipe.log.every == 0 or done == recipe.optim.steps:
            mean_loss = last_loss = ctx.mean(loss.detach())
            rate = (done - window_start) / max(time.perf_counter() - clock, 1e-9)
            clock, window_start = time.perf_counter(), done
            if ctx.main:
                _append_csv(log_path, {"step": done, "loss": mean_loss, "lr": lr, "grad_norm": float(grad_norm),
                                       "steps_per_s": rate})
                bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}")
        bar.update(1)
        out_of_time = _out_of_time(recipe, ctx, done, seconds_before + time.perf_counter() - segment_start)
        if done % recipe.log.checkpoint_every == 0 or done == recipe.optim.steps or out_of_time:
            if ctx.main:
                save_checkpoint(checkpoint, step=done, network=net, ema=ema.network, optimizer=optimizer,
                                recipe_yaml=recipe_yaml, seconds=seconds_before + time.perf_counter() - segment_start,
                                extra=extra)
            ctx.barrier()
        if ctx.main and recipe.log.sample_every and done % recipe.log.sample_every == 0:
            _dump_samples(ema, adapter, recipe, out / "samples" / f"step_{done:07d}")
        if on_step is not None:
            on_step(done, {"loss": loss.detach(), "network": net, "ema": ema, "rank": ctx.rank})
        if out_of_time:
            break
    bar.close()
    if ctx.main:
        run = {"device": describe_device(ctx.device), "processes": ctx.world, "precision": recipe.precision,
               "steps": done, "seconds": round(seconds_before + time.perf_counter() - segment_start, 1),
               "final_loss": last_loss, "torch": torch.__version__,
               **({"stopped": f"time limit: optim.max_minutes = {recipe.optim.max_minutes} reached after step {done} "
                             f"of {recipe.optim.steps}"} if done < recipe.optim.steps else {})}
        folder = out / "model"
        if log_path.exists():
            (folder / "training").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log_path, folder / "training" / "log.csv")
        save(ema, folder, samples=recipe.sampling.n, recipe=OmegaConf.to_container(recipe), training=run,
                 seed=recipe.seed)
    ctx.barrier()
    return ema


def _init_from(model: ZooModel, name: str) -> None:
    """Start ``model``'s network from the weights of model ``name`` (a name or folder) of the same architecture."""
    source = load(name)
    same = (source.config["architecture"], source.config.get("network")) == (model.config["architecture"],
                                                                             model.config.get("network"))
    if not same:
        raise ValueError(f"init: {name!r} is a {source.config['architecture']} with {source.config.get('network')}; "
                         f"this recipe trains a {model.config['architecture']} with {model.config.get('network')}")
    model.network.load_state_dict(source.network.state_dict())


def _out_of_time(recipe, ctx: _Distributed, done: int, seconds: float) -> bool:
    """Whether ``optim.max_minutes`` is spent, decided at log steps and agreed by every process."""
    limit = recipe.optim.max_minutes
    if not limit or done % recipe.log.every or done >= recipe.optim.steps:
        return False
    return ctx.mean(torch.tensor(float(seconds >= 60 * limit), device=ctx.device)) > 0


def _dump_samples(model: ZooModel, adapter, recipe, stem: Path) -> None:
    x, settings = draw_samples(model, recipe.sampling.n, seed=recipe.seed)
    stem.parent.mkdir(parents=True, exist_ok=True)
    adapter.preview_format.write(x, stem.with_suffix(adapter.preview_format.suffix), model=model,
                                 title=f"{recipe.name}: {settings.get('sampler')}, {settings.get('steps')} steps")


def _truncate_csv(path: Path, step: int) -> None:
    """Drop the rows a killed run logged after its last checkpoint."""
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    kept = [r for r in rows if int(r["step"]) <= step]

    def write(tmp):
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(kept)
    atomic_write(path, write)


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
