"""The modality contract: everything the zoo layer knows about a modality, declared once.

A modality is one :class:`Modality` value.  The zoo layer (``zoo load``, ``sample``, ``eval``,
``demo``, cards, training) calls only what it declares, never probes for attributes and never
names a modality.  A package makes its modality known through the ``zoo.modalities`` entry-point
group, naming the value (``toy2d = "modalities.toy2d:MODALITY"``), or at run time with
``zoo.registry.add_modality(MODALITY)``.  ``tests/test_modality_contract.py`` runs every
registered modality and each of its released models through the contract.

Shapes: ``S`` is one sample's shape (``Modality`` models give it as ``config["sample_shape"]``);
a batch of n samples is ``(n, *S)``; variable-length sets (residues, points) carry a mask ``(n, N)``
with 1 for real elements, where N is the first axis of ``S``.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, TypedDict

import torch

from .model import ZooModel

__all__ = ["Modality", "Release", "SampleFormat", "DataSource", "Metric", "MetricDoc", "CardFacts", "Defaults",
           "Command", "CliHooks", "Batch", "Dataset", "PICTURE", "LINK", "default_preview", "Preview"]

# how a card or the demo page shows a sample file: an HTML template with {src} (the file) and {alt} (what it is)
PICTURE = '<img src="{src}" alt="{alt}">'
LINK = '<a href="{src}">{alt}</a>'


class Batch(TypedDict, total=False):
    """What ``Dataset.batch(n, generator)`` returns.

    x: (n, *S) clean samples (required).  cond: the network's keyword arguments, each (n, ...)
    (e.g. ``{"label": (n,) int64}``).  mask: (n, N), 1 for the real elements of variable-length
    sets; the training loop draws the noise on it and passes it to the network as ``mask=``
    (guidance and condition dropout never drop it).  noise: (n, *S), the noise ``x`` was made
    from (coupled pairs for reflow), used instead of a fresh draw.  null_cond: the value of each
    ``cond`` key that stands for "no condition" (classifier-free dropout swaps it in)."""

    x: torch.Tensor
    cond: dict
    mask: torch.Tensor
    noise: torch.Tensor
    null_cond: dict


class Dataset:
    """A modality's training and evaluation data (``Modality.dataset(name, **params)``).

    Subclasses set ``sample_shape`` (S) and implement ``batch`` and ``config``; ``model_config``
    and ``init_network`` default to nothing."""

    sample_shape: tuple = ()

    def batch(self, n: int, generator: torch.Generator) -> Batch:
        """n training examples drawn with ``generator`` (see :class:`Batch`)."""
        raise NotImplementedError

    def config(self) -> dict:
        """Plain data that rebuilds this data set: ``Modality.dataset(**config())``."""
        raise NotImplementedError

    def model_config(self) -> dict:
        """Keys this data adds to the config of a model trained on it (e.g. ``null_cond``, a front end)."""
        return {}

    def prior_settings(self) -> dict:
        """What a conditional prior (``diffusion.prior: conditional``) needs from the data, recorded in the
        model config's ``prior`` (e.g. a vocoder's reference frame energy); data sets without one refuse."""
        raise ValueError(f"{type(self).__name__} supports no conditional prior")

    def init_network(self, network: torch.nn.Module) -> None:
        """Give a freshly built network what it takes from the data (e.g. a frozen autoencoder)."""


@dataclass(frozen=True)
class Release:
    """A released model: its name ``<modality>/<name>[.<tag>]``, the architecture it builds, the Hub
    repo and revision that hold its weights, and the copy shipped with the package (``embedded``;
    None: ``model_cards/<name>/`` of this distribution)."""

    name: str
    architecture: str
    repo_id: str
    revision: str = "main"
    embedded: Path | None = None

    @property
    def modality(self) -> str:
        return self.name.split("/")[0]


@dataclass(frozen=True)
class SampleFormat:
    """One file format of samples.

    write(x, path, *, model, title="", mask=None) -> list[Path]: write samples x (n, *S) of ``model``
    (its config gives rates, class names, ...) to ``path`` (its folder exists); returns the files written (one, or one
    per sample, ``stem_000.ext`` ... when ``per_sample``).  ``zoo demo`` also passes ``labels=`` (n,) class indices
    with a class-conditional model's samples, so that a preview can name each cell's class (a format that shows
    no classes ignores them).  read(path) -> (n, *S) float tensor: the
    samples back from one written file, or None when the file is a picture of them (a preview).
    embed: how cards and ``zoo demo`` show the file (:data:`PICTURE`, :data:`LINK` or an HTML template).
    precision: the largest absolute difference a write-read round trip may make (0: exact; a 16-bit
    WAV file, 2**-15; a PDB file's 3 decimals, 5e-4), checked by the contract test; clip: the range
    (low, high) the file holds, values outside are clipped to it (None: any value)."""

    suffix: str
    write: Callable[..., list[Path]]
    read: Callable[[Path], torch.Tensor] | None = None
    embed: str = LINK
    per_sample: bool = False
    precision: float = 0.0
    clip: tuple[float, float] | None = None


@dataclass(frozen=True)
class DataSource:
    """A data set a recipe's ``data.name`` may name: what it is, its licence, and how to get it."""

    name: str
    description: str
    licence: str
    install: str = ""  # e.g. "apt-get install dataset-fashion-mnist"; "" when nothing needs installing


@dataclass(frozen=True)
class Metric:
    """A metric by its key in the evaluation's results, with its label and direction."""

    key: str
    label: str
    lower_is_better: bool

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b``."""
        return a < b if self.lower_is_better else a > b


@dataclass(frozen=True)
class MetricDoc:
    """What a card says of a metric: what it measures and whether higher is better (None: neither)."""

    what: str
    higher_is_better: bool | None = None


@dataclass(frozen=True)
class CardFacts:
    """What a model card says that the folder cannot: given by ``Modality.card(config)``.

    Data: ``sources`` (each with its licence) and ``data_note`` (how the model's data was made from
    them).  Hub metadata: licence of the weights, tags, pipeline tag, model-index task, Hub
    dataset ids.  Use: intended use, limitations, the Python example (run after
    ``model = zoo.load(NAME)``) and the shell one.  Metrics: what each key of
    the evaluation measures (the card's order), the keys sent to the Hub's model-index, and
    ``protocol_settings``: keys of the evaluation's results that describe the protocol rather than
    measure the model, each with the phrase the card's protocol line gets (``str.format`` over
    the results; "" to only leave the key out of the table).  ``sampling_note``: what the modality's own
    sampling settings do, added to the card's sampling line ("" for none)."""

    sources: tuple[DataSource, ...] = ()
    data_note: str = ""
    license: str = "apache-2.0"
    tags: tuple[str, ...] = ()
    pipeline_tag: str | None = None
    task: str = "unconditional-generation"
    datasets: tuple[str, ...] = ()
    intended_use: str = "Research on diffusion models."
    limitations: tuple[str, ...] = ()
    example: str = "x = model.sample(4)"
    command: str = ""  # the card's shell example, with {name} and {suffix}; "": zoo sample {name} -o samples{suffix}
    metrics: Mapping[str, MetricDoc] = field(default_factory=dict)
    indexed_metrics: tuple[str, ...] = ()
    protocol_settings: Mapping[str, str] = field(default_factory=dict)
    sampling_note: str = ""


@dataclass(frozen=True)
class Defaults:
    """Sampling sizes the modality chooses so that a default ``zoo sample`` of any of its released
    models finishes within a minute on 2 CPU cores in 4 GB, and ``zoo demo`` in a few seconds.
    n: ``zoo sample``'s -n; demo_n: samples per model in ``zoo demo``; steps, demo_steps: sampler
    steps there (None: the model's own default)."""

    n: int = 16
    demo_n: int = 16
    steps: int | None = None
    demo_steps: int | None = None


@dataclass(frozen=True)
class Command:
    """A subcommand a modality adds to ``zoo`` (``zoo NAME ...``).

    add_arguments(parser): its arguments (with ``loads_model``, the zoo adds MODEL and the loading
    options first); run(args, load) -> exit code, where ``load(args)`` returns the ZooModel the
    arguments name (None when it does not load a model)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Callable | None], int]
    loads_model: bool = True


def _no_arguments(parser) -> None:
    return None


def _no_options(model, args) -> dict:
    return {}


def _no_runner(model, args, out, generator, options):
    return None


@dataclass(frozen=True)
class CliHooks:
    """How a modality extends ``zoo sample`` and adds commands.

    sample_arguments(group): add the modality's own ``zoo sample`` flags to its argument group.
    sample_options(model, args) -> dict: extra keyword arguments for ``model.sample`` from those
    flags (e.g. ``{"length": 100}``); a flag that does not fit the model is a ValueError.
    sample_runner(model, args, out, generator, options) -> str | None: a sampling mode of its own
    (e.g. vocoding a recording): writes the files to ``out`` and returns the line to print, or
    None to leave the sampling to the zoo.  ``options``: steps, sampler, timesteps the user gave.
    commands: subcommands of its own."""

    sample_arguments: Callable[[argparse._ArgumentGroup], None] = _no_arguments
    sample_options: Callable[[ZooModel, argparse.Namespace], dict] = _no_options
    sample_runner: Callable[..., str | None] = _no_runner
    commands: tuple[Command, ...] = ()


Preview = Callable[..., tuple[torch.Tensor, dict]]


def default_preview(model: ZooModel, n: int, *, seed: int = 0, steps: int | None = None) -> tuple[torch.Tensor, dict]:
    """n samples (n, *S) with the model's defaults (class k in column k for class-conditional
    models), and how they were made: sampler, steps, nfe, seed (and ``what``, a caption)."""
    labels = model.balanced_labels(n)
    x, info = model.sample(n, steps=steps, cond=labels, generator=torch.Generator().manual_seed(seed), return_info=True)
    return x, {"sampler": info.sampler, "steps": len(info.ts) - 1, "nfe": info.nfe, "seed": seed}


def _unsupported_metrics(model, data, **options) -> dict:
    raise ValueError(f"the {model.config['modality']} modality declares no quick sample metrics")


def _no_smoke_datasets(folder: Path) -> dict:
    raise ValueError("this modality declares no smoke data sets")


@dataclass(frozen=True)
class Modality:
    """A modality, declared once (see the module docstring).

    name: the ``<modality>`` of model and architecture names.
    model_class: the ZooModel subclass its models load as (``model_class.from_config(config)``).
    dataset(name, **params) -> Dataset: a data set by the name a recipe's ``data.name`` gives.
    sources: the data sets it knows, with licences.  prepare(source, out, **options) -> Path:
    ``zoo data prepare`` (None: nothing to prepare).
    formats: the sample file formats; the first is the preview format of cards and ``zoo demo``.
    folder_format: the suffix of ``zoo sample -o DIR/`` (None: the first format).
    preview(model, n, *, seed=0, steps=None) -> (x (n, *S), how): samples for a folder's
    ``samples/`` and the demo (a vocoder has nothing to sample without a mel), ``how`` as in
    :func:`default_preview`; a class-conditional model's in the order of ``model.balanced_labels(n)``.
    defaults: ``zoo sample`` and ``zoo demo`` sizes.
    evaluate(model, data, *, n=None, seed=0, steps=None, sampler=None, timesteps=None,
    guidance=None) -> dict: the full suite (results with ``protocol``, ``n``, ``steps``, ``seed``,
    ``device`` as ``zoo.evaluation.describe_device`` writes it); an option the suite cannot take
    is a ValueError.
    sample_metrics(model, data, *, n, seed, steps, sampler, timesteps) -> dict: quick metrics of n
    samples (seconds on a CPU; ``zoo nfe`` sweeps them), with ``nfe`` and ``seconds_per_sample``;
    nfe_metrics: the ones ``zoo nfe`` plots.
    smoke_datasets(folder) -> {source name: Dataset}: a small instance of each data set it reads,
    built in seconds from the installed packages (scratch files go under ``folder``; a source whose
    package is missing is left out): the contract test draws a batch of each through ``loss`` and
    scores released models on the one they were trained on.
    primary: the metric that says which of two models is better (``zoo release --if-better``, the card's
    caveat); primary_by_protocol: {protocol name (without its version): metric} where a modality judges
    models of different kinds by different protocols (a vocoder and an unconditional model);
    ``primary_for(protocol)`` picks.
    likelihood: the key of the results that holds the likelihood through the core's probability-flow
    ODE (e.g. bits per dimension), or the string "not computed: <why>" (a consistency model has no ODE).
    card(config) -> CardFacts.  cli: flags and commands.  releases: its released models."""

    name: str
    dataset: Callable[..., Dataset]
    formats: tuple[SampleFormat, ...]
    evaluate: Callable[..., dict]
    primary: Metric
    card: Callable[[dict], CardFacts]
    model_class: type = ZooModel
    sources: tuple[DataSource, ...] = ()
    prepare: Callable[..., Path] | None = None
    folder_format: str | None = None
    preview: Preview = default_preview
    defaults: Defaults = Defaults()
    likelihood: str | None = None
    sample_metrics: Callable[..., dict] = _unsupported_metrics
    nfe_metrics: tuple[Metric, ...] = ()
    smoke_datasets: Callable[[Path], Mapping[str, Dataset]] = _no_smoke_datasets
    cli: CliHooks = CliHooks()
    releases: tuple[Release, ...] = ()
    primary_by_protocol: Mapping[str, Metric] = field(default_factory=dict)

    def __post_init__(self):
        if not self.formats:
            raise ValueError(f"modality {self.name!r} declares no sample formats")
        suffixes = [f.suffix for f in self.formats]
        if self.folder_format is not None and self.folder_format not in suffixes:
            raise ValueError(f"modality {self.name!r}: folder_format {self.folder_format!r} is not one of {suffixes}")
        for entry in self.releases:
            if entry.modality != self.name:
                raise ValueError(f"modality {self.name!r} releases {entry.name!r}, a model of another modality")

    def primary_for(self, protocol: str | None) -> Metric:
        """The metric that decides between two models evaluated by ``protocol`` (e.g. "toy2d-eval/1")."""
        return self.primary_by_protocol.get(str(protocol).split("/")[0], self.primary)

    def format(self, suffix: str) -> SampleFormat:
        """The sample format of a file suffix (".png"); an unknown suffix is a ValueError."""
        for entry in self.formats:
            if entry.suffix == suffix.lower():
                return entry
        raise ValueError(f"{self.name} samples are written as {[f.suffix for f in self.formats]}, not {suffix!r}")

    @property
    def preview_format(self) -> SampleFormat:
        return self.formats[0]

    def source(self, name: str) -> DataSource | None:
        """The declared data source of that name, or None."""
        return next((s for s in self.sources if s.name == name), None)
