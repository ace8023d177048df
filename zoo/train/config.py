"""Recipes: omegaconf YAML checked against structured configs.

``load_recipe(path, ["optim.lr=3e-4", "preset=smoke"])`` merges, in order, the schema's
defaults, the YAML file, the named preset (a block under ``presets:`` in the same file) and the
command-line overrides.  An unknown or misspelled key, a value of the wrong type, a missing
required value or a value outside its choices is a ValueError that names the key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .. import core

__all__ = ["Recipe", "load_recipe", "validate", "to_yaml"]


@dataclass
class NetworkConfig:
    architecture: str = MISSING  # "<modality>/<architecture>", a registered one
    params: Dict[str, Any] = field(default_factory=dict)


@dataclass
class DiffusionConfig:
    schedule: Dict[str, Any] = field(default_factory=lambda: {"name": "DDPM"})  # zoo.core.schedules config
    prediction: str = "eps"
    sigma_data: float = 0.5
    prior: str = "isotropic"  # or "zero_com": noise with zero centre of mass (translation-invariant coordinates)
    # or "conditional": noise N(0, diag(s)) with s from the condition (PriorGrad; the data set supplies the statistics
    # it needs), clipped from below at prior_floor, the loss weighted by 1 / s
    prior_floor: float = 0.1


@dataclass
class ObjectiveConfig:
    target: Optional[str] = None  # regression target; None = the prediction itself
    weighting: str = "uniform"
    time_sampling: str = "uniform"
    min_snr_gamma: float = 5.0
    norm: str = "l2"
    cond_dropout: float = 0.0
    p_mean: float = -1.2
    p_std: float = 1.2
    logit_mean: float = 0.0
    logit_std: float = 1.0
    # > 0: add stft_weight times the multi-resolution STFT loss of the predicted x0 (waveforms (B, T) only;
    # zoo.core.objectives.stft_loss) over FFT sizes stft_ffts
    stft_weight: float = 0.0
    stft_ffts: List[int] = field(default_factory=lambda: [512, 1024, 2048])


@dataclass
class DataConfig:
    name: str = MISSING
    params: Dict[str, Any] = field(default_factory=dict)
    # coupled pairs (reflow): an .npz of "x" and "noise" (and "label" for class-conditional data) made
    # by `zoo couple`; batches are drawn from it instead of the data set, which still names the data
    pairs: Optional[str] = None


@dataclass
class ConsistencyConfig:
    """task: consistency (zoo.core.consistency): distil a teacher or train from scratch."""
    mode: str = "distillation"  # distillation (CD) | training (CT)
    teacher: Optional[str] = None  # CD: a model name or folder with the same schedule
    solver: str = "heun"  # CD: the teacher's ODE solver over one interval (any deterministic sampler)
    solver_steps: int = 1
    guidance: Optional[float] = None  # CD: the teacher's classifier-free guidance, baked into the student
    points: int = 18  # grid points (CD); CT: the curriculum grows them from s0 + 1 to s1 + 1
    s0: int = 10
    s1: int = 1280
    placement: str = "karras"  # grid placement (zoo.core.timesteps)
    intervals: str = "uniform"  # how an interval is drawn: uniform | lognormal (iCT: ln s ~ N(p_mean, p_std^2))
    p_mean: float = -1.1
    p_std: float = 2.0
    distance: str = "pseudo_huber"  # l2 | pseudo_huber
    huber_c: Optional[float] = None  # pseudo-Huber c; None: 0.00054 sqrt(dimensions)
    weighting: str = "uniform"  # uniform | inverse_gap (1 / (s_hi - s_lo))
    target_decay: float = 0.95  # EMA decay of the target network; 0: the student without gradient (iCT)
    scale: float = 1.0  # c_skip's scale (1: Song et al. 2023; larger: the skip vanishes sooner, as in LCM)


@dataclass
class OptimConfig:
    lr: float = 1e-3
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    batch_size: int = 256  # global: split evenly over the processes
    steps: int = 10000  # steps of this run (a run continued with --continue adds this many to its model's)
    warmup_steps: int = 0
    # a run continued from a folder without a training state (a fresh optimizer) warms up over this many steps
    warm_start_steps: int = 100
    lr_schedule: str = "constant"  # constant | cosine | linear (after warm-up)
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0  # max gradient norm; 0 = off
    # stop early after this much training time (minutes, summed over resumes), checked at log steps;
    # the model is saved as at that step.  For fixed device budgets: use it with a constant learning rate.
    max_minutes: Optional[float] = None


@dataclass
class EMAConfig:
    decay: float = 0.999
    warmup: bool = True  # decay_eff = min(decay, (1 + step) / (10 + step))


@dataclass
class SamplingConfig:
    sampler: str = "unipc"
    steps: int = 20
    timesteps: Optional[str] = None
    guidance: Optional[float] = None  # classifier-free guidance scale of conditional models' samples
    clip_x0: Optional[List[float]] = None  # [low, high]: static thresholding of x0 while sampling (pixels: [-1, 1])
    mel_projection: Optional[Dict[str, Any]] = None  # audio vocoders: x0 made mel-consistent (modalities/audio/projection.py)
    potentials: Optional[Dict[str, float]] = None  # protein backbones: guidance energies {name: weight} (modalities/protein/potentials.py)
    n: int = 1000  # samples in each dump


@dataclass
class LogConfig:
    every: int = 100  # CSV row and progress-bar refresh
    sample_every: int = 0  # 0: only at the end
    checkpoint_every: int = 1000
    progress: bool = True


@dataclass
class Recipe:
    name: str = MISSING
    modality: str = MISSING
    # "autoencoder": the network's forward(x, noise) is its own loss (zoo.train.objectives); "consistency": a
    # consistency model (section consistency)
    task: str = "diffusion"
    init: Optional[str] = None  # a model name or folder whose weights start the network (same architecture)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    consistency: ConsistencyConfig = field(default_factory=ConsistencyConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    log: LogConfig = field(default_factory=LogConfig)
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    compile: bool = False
    seed: int = 0
    device: str = "auto"
    preset: Optional[str] = None
    notes: str = ""


CHOICES = {
    "task": ("diffusion", "autoencoder", "consistency"),
    "consistency.mode": ("distillation", "training"),
    "consistency.intervals": ("uniform", "lognormal"),
    "consistency.distance": core.consistency.DISTANCES,
    "consistency.weighting": ("uniform", "inverse_gap"),
    "consistency.placement": core.timesteps.PLACEMENTS,
    "precision": ("fp32", "bf16"),
    "optim.lr_schedule": ("constant", "cosine", "linear"),
    "diffusion.prediction": core.PREDICTIONS,
    "diffusion.prior": (*core.priors.NAMES, core.priors.CONDITIONAL),
    "objective.weighting": core.objectives.WEIGHTINGS,
    "objective.time_sampling": core.objectives.TIME_SAMPLING,
    "objective.norm": ("l2", "l1"),
}


def _fail(where: str, error: OmegaConfBaseException):
    first = str(error).splitlines()[0]
    key = error.full_key
    raise ValueError(f"{where}: {first}" + (f" (key: {key})" if key and key not in first else "")) from None


def load_recipe(path, overrides: list[str] | tuple = ()) -> DictConfig:
    """The validated recipe: schema <- YAML <- preset <- ``key=value`` overrides."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"recipe {str(path)!r} does not exist")
    try:
        raw = OmegaConf.load(path)
    except Exception as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from None
    presets = raw.pop("presets", None) or {}
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ValueError(f"overrides are key=value; got {bad}")
    try:
        cli = OmegaConf.from_dotlist(list(overrides))
    except OmegaConfBaseException as error:
        _fail("overrides", error)
    preset = cli.get("preset", raw.get("preset"))
    layers = [(str(path), raw)]
    if preset is not None:
        if preset not in presets:
            raise ValueError(f"{path}: unknown preset {preset!r}; this recipe has {sorted(presets)}")
        layers.append((f"{path} preset {preset}", presets[preset]))
    layers.append(("overrides", cli))
    merged = OmegaConf.structured(Recipe)
    for where, layer in layers:
        try:
            merged = OmegaConf.merge(merged, layer)
        except OmegaConfBaseException as error:
            _fail(where, error)
    validate(merged, str(path))
    return merged


def _get(cfg, dotted: str):
    return OmegaConf.select(cfg, dotted)


def validate(cfg: DictConfig, where: str = "recipe") -> None:
    """Required values present, choices respected, schedule and sampler known."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ValueError(f"{where}: missing required value(s) {missing}")
    for key, choices in CHOICES.items():
        value = _get(cfg, key)
        if value not in choices:
            raise ValueError(f"{where}: {key} = {value!r} is not one of {list(choices)}")
    target = cfg.objective.target
    if target is not None and target not in core.PREDICTIONS:
        raise ValueError(f"{where}: objective.target = {target!r} is not one of {list(core.PREDICTIONS)}")
    try:
        core.schedules.from_config(OmegaConf.to_container(cfg.diffusion.schedule))
    except ValueError as error:
        raise ValueError(f"{where}: diffusion.schedule: {error}") from None
    try:
        core.samplers.get(cfg.sampling.sampler)
    except ValueError as error:
        raise ValueError(f"{where}: sampling.sampler: {error}") from None
    for key in ("optim.batch_size", "optim.steps", "sampling.steps", "log.every", "log.checkpoint_every"):
        if _get(cfg, key) < 1:
            raise ValueError(f"{where}: {key} must be >= 1, got {_get(cfg, key)}")
    for key in ("optim.warmup_steps", "optim.warm_start_steps", "log.sample_every"):
        if _get(cfg, key) < 0:
            raise ValueError(f"{where}: {key} must be >= 0, got {_get(cfg, key)}")
    clip = cfg.sampling.clip_x0
    if clip is not None and (len(clip) != 2 or not clip[0] < clip[1]):
        raise ValueError(f"{where}: sampling.clip_x0 must be [low, high] with low < high, got {list(clip)}")
    if cfg.sampling.mel_projection is not None and cfg.modality != "audio":
        raise ValueError(f"{where}: sampling.mel_projection needs a mel to project onto: audio vocoders only, "
                         f"not modality {cfg.modality!r}")
    if cfg.sampling.potentials is not None and cfg.modality != "protein":
        raise ValueError(f"{where}: sampling.potentials are energies of protein backbones, not of modality {cfg.modality!r}")
    if not cfg.objective.stft_weight >= 0 or not cfg.objective.stft_ffts or min(cfg.objective.stft_ffts) < 4:
        raise ValueError(f"{where}: objective.stft_weight must be >= 0 and objective.stft_ffts a list of FFT sizes >= 4, "
                         f"got {cfg.objective.stft_weight} and {list(cfg.objective.stft_ffts)}")
    if not 0.0 < cfg.diffusion.prior_floor <= 1.0:
        raise ValueError(f"{where}: diffusion.prior_floor must lie in (0, 1], got {cfg.diffusion.prior_floor}")
    if not 0.0 <= cfg.ema.decay < 1.0:
        raise ValueError(f"{where}: ema.decay must lie in [0, 1), got {cfg.ema.decay}")
    if cfg.optim.max_minutes is not None and not cfg.optim.max_minutes > 0:
        raise ValueError(f"{where}: optim.max_minutes must be > 0 (or null), got {cfg.optim.max_minutes}")
    c = cfg.consistency
    if cfg.task == "consistency":
        if c.mode == "distillation" and not c.teacher:
            raise ValueError(f"{where}: consistency.mode = distillation needs consistency.teacher (a model name or folder)")
        if c.points < 2 or c.solver_steps < 1 or not 1 <= c.s0 <= c.s1:
            raise ValueError(f"{where}: consistency needs points >= 2, solver_steps >= 1 and 1 <= s0 <= s1, got points="
                             f"{c.points}, solver_steps={c.solver_steps}, s0={c.s0}, s1={c.s1}")
        if not 0.0 <= c.target_decay < 1.0:
            raise ValueError(f"{where}: consistency.target_decay must lie in [0, 1), got {c.target_decay}")
        try:
            if core.samplers.get(c.solver).stochastic:
                raise ValueError(f"{c.solver!r} is stochastic; the teacher's solver must be an ODE solver")
        except ValueError as error:
            raise ValueError(f"{where}: consistency.solver: {error}") from None
    if not cfg.optim.lr > 0:
        raise ValueError(f"{where}: optim.lr must be > 0, got {cfg.optim.lr}")


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)
