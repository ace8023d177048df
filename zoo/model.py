"""ZooModel: a network bound to its diffusion settings, ready to sample.

The model's config is plain data (see ``zoo.hub`` for the folder it lives in)::

    format_version: 1
    modality: toy2d
    architecture: toy2d/mlp
    network: {hidden: 256, ...}          # the architecture's parameters
    schedule: {name: DDPM, ...}          # zoo.core.schedules config
    prediction: eps
    sigma_data: 0.5
    sample_shape: [2]                    # one sample's shape
    sampling: {sampler: unipc, steps: 20, timesteps: null}
    data: {name: ring8, ...}             # what it was trained on
    consistency: {scale: 1.0, ...}       # consistency models only (zoo.core.consistency)
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from . import core
from .architectures import build_network

__all__ = ["ZooModel", "FORMAT_VERSION"]

FORMAT_VERSION = 1


class ZooModel(nn.Module):
    """network: the backbone ``net(x, noise_label, **cond)``; config: as in the module docstring."""

    def __init__(self, network: nn.Module, config: dict):
        super().__init__()
        self.network = network
        self.config = copy.deepcopy(dict(config))
        self.schedule = core.schedules.from_config(self.config["schedule"])
        if self.config.get("prediction") not in core.PREDICTIONS:
            raise ValueError(f"config prediction {self.config.get('prediction')!r} is not one of {core.PREDICTIONS}")

    origin = None  # where zoo.load found it (zoo.names.Resolved); None for a model built here

    @classmethod
    def from_config(cls, config: dict) -> "ZooModel":
        """A model of this class with freshly initialised weights (``Modality.model_class.from_config``
        builds a modality's own subclass)."""
        return cls(build_network(config["architecture"], dict(config.get("network", {}))), config)

    @property
    def name(self) -> str:
        return self.config.get("name", self.config["architecture"])

    @property
    def sample_shape(self) -> tuple:
        return tuple(self.config["sample_shape"])

    @property
    def card(self) -> str:
        """The model card (README.md) of the folder this model was loaded from ("" if none)."""
        path = self.origin.path / "README.md" if self.origin is not None else None
        return path.read_text() if path is not None and path.is_file() else ""

    def loss(self, batch: dict, **objective) -> torch.Tensor:
        """Per-example training loss (B,) of a batch as a data set yields it (``zoo.modality.Batch``:
        x (B, *sample_shape), optional cond {name: (B, ...)}, mask (B, N), noise (B, *sample_shape));
        ``objective``: options of ``zoo.core.objectives.loss`` (weighting, target, t, noise, generator, ...)."""
        unknown = sorted(set(batch) - {"x", "cond", "mask", "noise", "null_cond"})
        if "x" not in batch or unknown:
            raise ValueError(f"a batch has the keys x (the clean samples), cond, mask, noise and null_cond; "
                             f"got {sorted(batch)}")
        x, mask = batch["x"], batch.get("mask")
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"batch['x'] has shape {tuple(x.shape)}; {self.name} takes (B, *{self.sample_shape})")
        cond = {**(batch.get("cond") or {}), **({} if mask is None else {"mask": mask})}
        prior = self.prior(batch.get("cond"), mask)
        if "noise" in batch:
            objective = {"noise": batch["noise"], **objective}
        return core.objectives.loss(self.denoiser(prior), x, cond=cond, mask=mask, **objective)

    @property
    def num_classes(self) -> int:
        """Classes of a class-conditional model (its null class is this index); 0 if unconditional."""
        return int(self.config.get("null_cond", {}).get("label", 0))

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of a class-conditional model's classes (the config's ``class_names``), else ()."""
        return tuple(self.config.get("class_names") or ())

    def labels(self, cond, n: int) -> torch.Tensor | None:
        """``cond`` (an int or class name, a sequence of them, an integer tensor (n,), or
        ``{"label": ...}``) as a checked (n,) int64 tensor; None stays None."""
        if cond is None:
            return None
        if isinstance(cond, dict):
            if set(cond) != {"label"}:
                raise ValueError(f"a class-conditional model's condition is {{'label': (n,) ints}}, got keys {sorted(cond)}")
            cond = cond["label"]
        if not self.num_classes:
            raise ValueError(f"{self.name} is unconditional: it takes no class labels")
        if isinstance(cond, str):
            cond = self.class_index(cond)
        elif isinstance(cond, (list, tuple)):
            cond = [self.class_index(c) if isinstance(c, str) else c for c in cond]
        labels = torch.as_tensor(cond)
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"class labels must be integers, got dtype {labels.dtype}")
        labels = labels.long().expand(n) if labels.ndim == 0 else labels.long()
        if labels.shape != (n,):
            raise ValueError(f"class labels must have shape ({n},) for n={n}, got {tuple(labels.shape)}")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"class labels must lie in 0..{self.num_classes - 1}, got {labels.min()}..{labels.max()}")
        return labels

    def balanced_labels(self, n: int) -> torch.Tensor | None:
        """(n,) labels 0, 1, ..., K-1, 0, 1, ... of a class-conditional model (in a grid of K columns,
        column k holds class k); None for an unconditional one."""
        return torch.arange(n) % self.num_classes if self.num_classes else None

    def class_index(self, name: str) -> int:
        """The index of class ``name``: one of ``class_names``, or an index written as a string ("3")."""
        if name.strip().lstrip("-").isdigit():
            return int(name)
        if name not in self.class_names:
            known = ", ".join(self.class_names) if self.class_names else "none: give class indices"
            raise ValueError(f"unknown class {name!r} for {self.name}; its classes: {known}")
        return self.class_names.index(name)

    @property
    def is_consistency(self) -> bool:
        """Whether this is a consistency model (its denoiser's x0 is the consistency function)."""
        return "consistency" in self.config

    def prior(self, cond: dict | None = None, mask: torch.Tensor | None = None):
        """The noise prior of the config's ``prior`` for a batch (``zoo.core.priors``): on the elements ``mask``
        (B, N) marks real; a conditional prior's std comes from ``cond`` through :meth:`prior_std`."""
        spec = self.config.get("prior", "isotropic")
        if isinstance(spec, dict):
            return core.priors.from_config(spec, mask, self.prior_std(cond or {}, spec))
        return core.priors.from_name(spec, mask)

    def prior_std(self, cond: dict, settings: dict) -> torch.Tensor:
        """A conditional prior's standard deviation (B, ...) from the network's condition ``cond`` and the
        prior's ``settings`` (the config's ``prior``); model classes that support one override this."""
        raise ValueError(f"{type(self).__name__} has no conditional prior; its config asks for {settings!r}")

    def denoiser(self, prior=None) -> core.Denoiser:
        """The core denoiser over this model's network (a consistency model's: its consistency function)."""
        den = core.Denoiser(self.network, self.schedule, self.config["prediction"],
                            prior=prior or self.prior(),
                            sigma_data=self.config.get("sigma_data", 0.5))
        if self.is_consistency:
            return core.consistency.Consistency(den, sigma_data=den.sigma_data,
                                                scale=self.config["consistency"].get("scale", 1.0))
        return den

    def noise(self, n: int, generator: torch.Generator | None = None, prior=None, shape: tuple | None = None
              ) -> torch.Tensor:
        """x_T for n samples: sigma(t_max) times a draw of the prior (default: the config's), shape
        (n, *shape) (default: (n, *sample_shape); sets may be drawn with another number of elements)."""
        param = next(self.network.parameters())
        z = (prior or self.denoiser().prior).noise(torch.empty((n, *(shape or self.sample_shape))), generator)
        return (z * float(self.schedule.sigma(self.schedule.t_max))).to(param.device, param.dtype)

    @torch.no_grad()
    def sample(self, n: int = 16, *, steps: int | None = None, sampler: str | None = None, timesteps=None,
               guidance: float | None = None, cond: dict | None = None, generator: torch.Generator | None = None,
               x_T: torch.Tensor | None = None, callback=None, return_info: bool = False, clip_x0=None,
               inpaint: tuple[torch.Tensor, torch.Tensor] | None = None, mask: torch.Tensor | None = None,
               guide=None, **options):
        """Draw ``n`` samples of shape (n, *sample_shape) with the model's sampling defaults.

        guidance: classifier-free guidance scale for conditional models (uses ``cond`` and the
        null condition of the config's ``null_cond``; default: the config's ``sampling.guidance``
        when ``cond`` is given).
        clip_x0: ``(low, high)`` static thresholding of the x0 prediction at every step, ``False``
        for none; default: the config's ``sampling.clip_x0``.
        inpaint: ``(known, mask)``, a known part held exact (``core.guidance.Inpaint``): known
        (n, *sample_shape) or the shape of ``x_T`` (or a function of the predicted x0 returning
        it), mask broadcastable to it, 1 where known.
        mask: (n, N), 1 for the real elements of variable-length sets (residues, points): the noise
        is drawn from the config's prior on them and the network gets ``mask=`` (never dropped by
        guidance); padding stays zero.
        guide: ``f(denoiser) -> denoiser``, a guidance wrapper of the caller's (e.g. a
        ``core.guidance.Potential``), put around the denoiser before inpainting (which has the last
        word on the known part) and thresholding."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        defaults = self.config.get("sampling", {})
        if guidance is None and cond:
            guidance = defaults.get("guidance")
        if mask is not None:
            length = self.sample_shape[0] if x_T is None else x_T.shape[1]
            if tuple(mask.shape) != (n, length):
                raise ValueError(f"mask must have shape ({n}, {length}), got {tuple(mask.shape)}")
            mask = mask.to(next(self.network.parameters()).device)
        prior = self.prior(cond, mask)
        den = self.denoiser(prior)
        sets = {} if mask is None else {"mask": mask}  # network keyword arguments that guidance must not drop
        if guidance is not None and guidance != 1.0:
            if not cond:
                raise ValueError("guidance needs cond= (the condition to guide toward)")
            null = self.config.get("null_cond")
            if not null:
                raise ValueError(f"{self.name} has no null condition in its config, so it cannot use guidance")
            uncond = {k: torch.full_like(v, null[k]) for k, v in cond.items()}
            den, cond = core.guidance.ClassifierFree(den, guidance, {**cond, **sets}, {**uncond, **sets}), None
        elif sets:
            cond = {**(cond or {}), **sets}
        if guide is not None:
            den = guide(den)
        if inpaint is not None:  # after the guide: the known part is held whatever the guide does
            den = core.guidance.Inpaint(den, *inpaint)
        clip_x0 = defaults.get("clip_x0") if clip_x0 is None else clip_x0
        if clip_x0:
            den = core.guidance.Threshold(den, *clip_x0)
        if x_T is None:
            x_T = self.noise(n, generator, prior=prior)
        was_training = self.training
        self.eval()
        try:
            return core.sample(den, x_T, sampler=sampler or defaults.get("sampler", "unipc"),
                               steps=steps or defaults.get("steps", 20),
                               timesteps=timesteps if timesteps is not None else defaults.get("timesteps"),
                               generator=generator, callback=callback, cond=cond, return_info=return_info, **options)
        finally:
            self.train(was_training)
