"""The one training loop, for every modality, on one process or many (DistributedDataParallel).

Every random draw of step k (the data batch, the times, the noise, condition dropout) comes
from a generator seeded with (seed, k) that produces the whole global batch; each process takes
its slice.  So a run resumed from a checkpoint continues exactly, and N processes with batch B
each train the same model as one process with batch N * B.
"""
from __future__ import annotations

import copy
import csv
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from omegaconf import OmegaConf
from tqdm import tqdm

from .. import core, runs
from ..evaluation import describe_device
from ..files import atomic_write, write_yaml
from ..folder import load_folder, read_config
from ..loading import load
from ..model import ZooModel
from ..names import resolve
from ..registry import modality as load_modality
from ..saving import draw_samples, save
from .checkpoint import (checkpoint_metadata, checkpoint_recipe, checkpoint_seconds, checkpoint_step, load_checkpoint,
                         save_checkpoint)
from .config import to_yaml
from .consistency import consistency_config
from .objectives import make_objective
from .pairs import CoupledData

__all__ = ["train", "lr_at", "model_config", "STATE", "NETWORK_KEYS"]

CHECKPOINT = "checkpoint.safetensors"
STATE = "training/state.safetensors"  # in a model folder: what --continue restores the optimizer from
# the model config keys that say what the network is and computes: a continued run must keep them all
NETWORK_KEYS = ("modality", "task", "architecture", "network", "schedule", "prediction", "sigma_data", "prior",
                "consistency", "frontend", "null_cond", "class_names")
# keys a resumed run may change: how long it runs, how it reports and how its samples are drawn
RESUMABLE_CHANGES = ("optim.steps", "optim.max_minutes", "log.", "device", "compile", "sampling.")


def lr_at(step: int, optim, warmup: int | None = None) -> float:
    """Learning rate of step ``step`` (0-based, counted from the run's first step) of a run of
    ``optim.steps``: linear warm-up over ``warmup`` steps (default ``optim.warmup_steps``), then constant /
    cosine / linear decay."""
    warmup = optim.warmup_steps if warmup is None else warmup
    if step < warmup:
        return optim.lr * (step + 1) / warmup
    if optim.lr_schedule == "constant":
        return optim.lr
    progress = (step - warmup) / max(1, optim.steps - warmup)
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
        **({"prior": _prior_config(recipe, data)} if recipe.diffusion.prior != "isotropic" else {}),
        "sample_shape": list(data.sample_shape),
        "sampling": {"sampler": recipe.sampling.sampler, "steps": recipe.sampling.steps,
                     "timesteps": recipe.sampling.timesteps, "guidance": recipe.sampling.guidance,
                     "clip_x0": None if recipe.sampling.clip_x0 is None else list(recipe.sampling.clip_x0),
                     **({"potentials": OmegaConf.to_container(recipe.sampling.potentials)}
                        if recipe.sampling.potentials is not None else {})},
        "data": data.config(),
        **data.model_config(),  # e.g. a null condition, a front end
        **({"consistency": consistency_config(recipe.consistency)} if recipe.task == "consistency" else {}),
    }


def _prior_config(recipe, data):
    """The config's ``prior``: a name, or a conditional prior's settings (its floor and the data's statistics)."""
    if recipe.diffusion.prior != core.priors.CONDITIONAL:
        return recipe.diffusion.prior
    return {"name": core.priors.CONDITIONAL, "floor": recipe.diffusion.prior_floor, **data.prior_settings()}


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


def _step_batch(data, step: int, *, optim, objective, prior, seed: int, schedule, world: int, rank: int,
                noise_shape: tuple | None = None):
    """The slice of step ``step``'s global batch (``optim.batch_size``) that belongs to ``rank``: x, t,
    noise, the network's keyword arguments and the mask of real elements (a :class:`zoo.modality.Batch`'s
    ``mask``, or None: the noise is drawn on it and it reaches the network, never dropped; a batch's own
    ``noise`` (coupled pairs, e.g. reflow) is used instead of a fresh draw).  ``objective``: the
    recipe's objective section (time sampling, condition dropout); ``prior(cond, mask)``: the model's prior
    for the batch (``ZooModel.prior``); ``noise_shape``: one example's
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
        noise = prior(batch.get("cond"), mask).noise(batch["x"], g)
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


def train(recipe, out_dir, *, resume: bool = False, continue_from: str | None = None, on_step=None) -> ZooModel:
    """Train ``recipe`` (a validated DictConfig, see ``load_recipe``) into ``out_dir``.

    Writes ``checkpoint.safetensors`` (every ``log.checkpoint_every`` steps and at the end),
    ``log.csv``, ``samples/`` and, at the end, ``model/`` (a model folder with the EMA weights, its
    training record ``training/run.json`` and training state ``training/state.safetensors``).
    ``continue_from``: a model name or folder whose training this run continues for ``optim.steps``
    more steps, as one more segment of its record (see ``_start_from``).  ``on_step(step, info)`` is
    called after every step on every process.  Returns the EMA model.
    """
    out = Path(out_dir)
    if resume and continue_from is not None:
        raise ValueError("--resume continues the run in --out, which knows what it continued; pass it without --continue")
    ctx = _Distributed(recipe.device)
    try:
        return _train(recipe, out, ctx, resume, continue_from, on_step)
    finally:
        ctx.close()


def _train(recipe, out: Path, ctx: _Distributed, resume: bool, continue_from: str | None, on_step) -> ZooModel:
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
    source = _continued_folder(continue_from, model) if continue_from is not None else None
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
    seconds_before = 0.0
    if resume:
        if not checkpoint.is_file():
            raise ValueError(f"--resume: no checkpoint at {checkpoint}")
        _check_resume(checkpoint_recipe(checkpoint), recipe, checkpoint)
        start, _ = load_checkpoint(checkpoint, network=net, ema=ema.network, optimizer=optimizer, extra=extra)
        seconds_before = checkpoint_seconds(checkpoint)
        segment = checkpoint_metadata(checkpoint, "segment", {"first_step": 0, "start": "scratch"})
        history = checkpoint_metadata(checkpoint, "history")
        if ctx.main:
            _truncate_csv(out / "log.csv", start)
    elif checkpoint.exists():
        if source is not None:
            raise ValueError(f"{out} already holds a run; a continued run needs a folder of its own: choose another --out "
                             f"(without --out it goes to the first free runs/<modality>/<name>-cont<k>)")
        raise ValueError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    elif source is not None:
        (start, segment), history = _start_from(source, recipe, net, optimizer, extra), source.record
        if ctx.main and (source.path / "training" / "log.csv").is_file():
            out.mkdir(parents=True, exist_ok=True)  # one history: the log goes on from the model's
            shutil.copyfile(source.path / "training" / "log.csv", out / "log.csv")
            _truncate_csv(out / "log.csv", start)
    else:
        start, segment, history = 0, {"first_step": 0, "start": "scratch"}, None
    first = segment["first_step"]
    end = first + recipe.optim.steps
    warmup = {"scratch": recipe.optim.warmup_steps, "state": 0, "warm": recipe.optim.warm_start_steps}[segment["start"]]
    saved = {"segment": segment, "history": history}
    autocast = torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=recipe.precision == "bf16")
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
        write_yaml(out / "recipe.yaml", OmegaConf.to_container(recipe))
    log_path = out / "log.csv"
    bar = tqdm(total=recipe.optim.steps, initial=start - first, disable=not (ctx.main and recipe.log.progress),
               desc=recipe.name, dynamic_ncols=True)
    clock, window_start = time.perf_counter(), start
    segment_start, last_loss = clock, float("nan")
    net.train()
    done = start
    for step in range(start, end):
        lr = lr_at(step - first, recipe.optim, warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, t, noise, cond, mask = _step_batch(data, step, optim=recipe.optim, objective=recipe.objective,
                                              prior=model.prior, seed=recipe.seed, schedule=model.schedule,
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
        if done % recipe.log.every == 0 or done == end:
            mean_loss = last_loss = ctx.mean(loss.detach())
            rate = (done - window_start) / max(time.perf_counter() - clock, 1e-9)
            clock, window_start = time.perf_counter(), done
            if ctx.main:
                _append_csv(log_path, {"step": done, "loss": mean_loss, "lr": lr, "grad_norm": float(grad_norm),
                                       "steps_per_s": rate})
                bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}")
        bar.update(1)
        out_of_time = _out_of_time(recipe, ctx, done, end, seconds_before + time.perf_counter() - segment_start)
        if done % recipe.log.checkpoint_every == 0 or done == end or out_of_time:
            if ctx.main:
                save_checkpoint(checkpoint, step=done, network=net, ema=ema.network, optimizer=optimizer,
                                recipe_yaml=recipe_yaml, seconds=seconds_before + time.perf_counter() - segment_start,
                                extra=extra, metadata=saved)
            ctx.barrier()
        if ctx.main and recipe.log.sample_every and done % recipe.log.sample_every == 0:
            _dump_samples(ema, adapter, recipe, out / "samples" / f"step_{done:07d}")
        if on_step is not None:
            on_step(done, {"loss": loss.detach(), "network": net, "ema": ema, "rank": ctx.rank})
        if out_of_time:
            break
    bar.close()
    if ctx.main:
        seconds = round(seconds_before + time.perf_counter() - segment_start, 1)
        run = runs.record(history, {
            "device": describe_device(ctx.device), "processes": ctx.world, "precision": recipe.precision,
            "first_step": first, "last_step": done, "steps": done - first, "seconds": seconds, "date": runs.now(),
            "commit": runs.project_commit(), "torch": torch.__version__, "final_loss": last_loss,
            **{k: v for k, v in segment.items() if k not in ("first_step",)},
            **({"stopped": f"time limit: optim.max_minutes = {recipe.optim.max_minutes} reached after step {done} "
                           f"of {end}"} if done < end else {})})
        folder = out / "model"
        if log_path.exists():
            (folder / "training").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log_path, folder / "training" / "log.csv")
        save_checkpoint(folder / STATE, step=done, network=net, ema=None, optimizer=optimizer, recipe_yaml=recipe_yaml,
                        seconds=seconds, extra=extra, moments_dtype=torch.bfloat16)
        save(ema, folder, samples=recipe.sampling.n, recipe=OmegaConf.to_container(recipe), training=run,
             seed=recipe.seed)
    ctx.barrier()
    return ema


@dataclass(frozen=True)
class _Source:
    """The model folder a run continues: the name it was given, its path, its record (run.json or None)."""

    name: str
    path: Path
    record: dict | None


def _continued_folder(name: str, model: ZooModel) -> _Source:
    """Load the weights of model ``name`` (a released name or a folder) into ``model``, after checking
    that it is the network the recipe trains (every key of ``NETWORK_KEYS`` the same)."""
    found = resolve(name)
    config = read_config(found.path)
    ours = model.config
    _refuse_another_network(f"--continue {name}", config, ours, NETWORK_KEYS)
    notes = [f"{k}: {config.get(k)!r} -> {ours.get(k)!r}" for k in ("data", "sample_shape") if config.get(k) != ours.get(k)]
    if notes:
        logging.getLogger("zoo").info("continuing %s with other data settings (%s)", name, "; ".join(notes))
    model.network.load_state_dict(load_folder(found.path).network.state_dict())
    record = found.path / "training" / "run.json"
    return _Source(name, found.path, json.loads(record.read_text()) if record.is_file() else None)


def _start_from(source: _Source, recipe, net: torch.nn.Module, optimizer, extra: dict) -> tuple[int, dict]:
    """Where a continued run starts: (first step, its segment's start entry).

    With the folder's training state (``STATE``, written by the run that made it, at the same step as its
    record) the network and the optimizer continue from it (``start: state``); otherwise the network
    starts from the folder's EMA weights with a fresh optimizer and ``optim.warm_start_steps`` of
    learning-rate warm-up (``start: warm``).  Either way the step count, and with it the data order,
    goes on from the record's last step."""
    parts = runs.segments(source.record)
    last = parts[-1]["last_step"] if parts else 0
    state = source.path / STATE
    entry = {"continued": source.name}
    if state.is_file() and parts:
        step = checkpoint_step(state)
        if step == last:
            step, _ = load_checkpoint(state, network=net, ema=None, optimizer=optimizer, extra=extra)
            for group in optimizer.param_groups:  # this recipe's optimizer settings, the state's moments
                group.update(betas=tuple(recipe.optim.betas), weight_decay=recipe.optim.weight_decay)
            return step, {"first_step": step, "start": "state", **entry}
        logging.getLogger("zoo").info("%s: its training state is of step %d, its record ends at %d; "
                                      "starting with a fresh optimizer", state, step, last)
    return last, {"first_step": last, "start": "warm", **entry}


def _init_from(model: ZooModel, name: str) -> None:
    """Start ``model``'s network from the weights of model ``name`` (a name or folder) of the same architecture."""
    source = load(name)
    _refuse_another_network(f"init: {name!r}", source.config, model.config, ("architecture", "network"))
    model.network.load_state_dict(source.network.state_dict())


def _refuse_another_network(what: str, theirs: dict, ours: dict, keys) -> None:
    """A ValueError naming each of ``keys`` in which model config ``theirs`` differs from this recipe's ``ours``."""
    differ = [f"{k}: {theirs.get(k)!r} there, {ours.get(k)!r} in this recipe" for k in keys if theirs.get(k) != ours.get(k)]
    if differ:
        raise ValueError(f"{what}: the recipe trains another network; it differs in " + "; ".join(differ))


def _out_of_time(recipe, ctx: _Distributed, done: int, end: int, seconds: float) -> bool:
    """Whether ``optim.max_minutes`` is spent, decided at log steps and agreed by every process."""
    limit = recipe.optim.max_minutes
    if not limit or done % recipe.log.every or done >= end:
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
