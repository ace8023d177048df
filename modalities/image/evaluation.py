"""The image evaluation suite, protocol ``image-eval/1``, offline on a CPU.

- samples: ``n`` images, labels ``0, 1, ..., K-1, 0, 1, ...`` for class-conditional models, at
  the model's guidance, sampler and steps (``zoo.evaluation.draw``, batches of 100); seconds per
  image and NFE;
- ``class_accuracy`` and ``fd_local`` (FD (local classifier): the Frechet distance between the
  samples' and the test set's features in a classifier trained here, never called FID);
  beside them, the same numbers for ``n`` real training images (the floor at this ``n``);
- ``memorised_fraction`` and ``nn_distance_median`` against the training set, beside held-out
  real images' values;
- ``bits_per_dim`` (``likelihood``): test NLL of the first ``NLL_N`` uniformly dequantised test
  images through the core's probability-flow ODE (``zoo.core.log_likelihood``, dopri5 at rtol and
  atol ``NLL_TOLERANCE``, ``NLL_PROBES`` Hutchinson probe; the results say them as ``nll_rtol``,
  ``nll_atol``, ``nll_probes``).  Pixel models only: a consistency model has no probability-flow
  ODE, and a latent model's ODE gives a density of its latents, not of pixels (that needs a
  density for its decoder), so both say "not computed" and why;
- an autoencoder (``task: autoencoder``) is scored on test reconstructions instead: PSNR, L1 and
  the same classifier numbers; a latent model reports its autoencoder's as well (its ceiling).
"""
from __future__ import annotations

import functools
import math

import torch

from zoo import core
from zoo.evaluation import describe_device, draw, model_device, ode_progress

from . import metrics
from .classifier import load_classifier
from .data import CLASSES, to_model

__all__ = ["PROTOCOL", "evaluate", "likelihood", "sample_metrics", "preview"]

PROTOCOL = "image-eval/1"
DEFAULT_N = 1000
BATCH = 100
NLL_N = 64  # test images in the likelihood (the first of the test split)
NLL_BATCH = 50
NLL_TOLERANCE = 1e-4  # dopri5 rtol and atol of the likelihood ODE
NLL_PROBES = 1  # Rademacher probes of the Hutchinson divergence


def _draw(model, n: int, seed: int, **options) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """n samples in batches of ``BATCH`` (one generator), their labels, and how they were made."""
    labels = model.balanced_labels(n)
    x, how = draw(model, n, batch=BATCH, seed=seed, per_sample={"cond": labels}, **options)
    return x, labels, {"seconds_per_image": how["seconds"] / n, "device": how["device"], "sampler": how["sampler"],
                       "steps": how["steps"], "nfe": how["nfe"]}


def _classifier_scores(classifier, images, labels, reference_stats) -> dict:
    features = metrics.classifier_features(classifier, images)
    out = {"fd_local": metrics.frechet_distance(*metrics.feature_statistics(features), *reference_stats)}
    if labels is not None:
        out["class_accuracy"] = metrics.class_accuracy(classifier, images, labels)
    return out


def _reconstruction_scores(model, classifier, images, labels, reference_stats) -> dict:
    """PSNR (peak-to-peak 2), L1 and the classifier scores of the autoencoder's reconstructions of ``images``."""
    reconstructions = torch.cat([model.reconstruct(chunk) for chunk in images.split(BATCH)])
    error = reconstructions - images
    return {"psnr": float(10 * torch.log10(4.0 / error.pow(2).mean())), "l1": float(error.abs().mean()),
            **_classifier_scores(classifier, reconstructions, labels, reference_stats)}


def likelihood(model, images: torch.Tensor, *, n: int = NLL_N, seed: int = 0, rtol: float = NLL_TOLERANCE,
               atol: float = NLL_TOLERANCE, probes: int = NLL_PROBES) -> dict:
    """Bits per dimension of the first ``n`` of ``images`` ((N, C, H, W) uint8), each uniformly
    dequantised (``to_model`` with uniform noise), under the model's probability-flow ODE
    (``zoo.core.log_likelihood``, Hutchinson divergence with ``probes`` Rademacher probes, dopri5
    at ``rtol``/``atol``; a class-conditional model with the null class: its unconditional
    density).  bits/dim = -log p(x) / (D ln 2) + 7, the 7 = log2(256 / 2) of 256 bins of width 2/256.

    Returns ``bits_per_dim``, ``bits_per_dim_se``, ``nll_n``, ``nll_ode_nfe`` (network evaluations,
    each with a backward pass) and the settings ``nll_rtol``, ``nll_atol``, ``nll_probes``; for a
    model without a pixel probability-flow ODE, ``bits_per_dim`` is "not computed: <why>"."""
    if model.is_consistency:
        return {"bits_per_dim": "not computed: a consistency model defines no probability-flow ODE"}
    if model.is_latent:
        return {"bits_per_dim": "not computed: a latent model's pixel likelihood needs a density for its decoder"}
    if model.is_autoencoder:
        return {"bits_per_dim": "not computed: an autoencoder is not a diffusion model"}
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"likelihood takes uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if not isinstance(n, int) or not 1 <= n <= len(images):
        raise ValueError(f"n must be an integer in 1..{len(images)}, got {n!r}")
    generator = torch.Generator().manual_seed(seed)
    images = images[:n]
    x = to_model(images, torch.rand(images.shape, generator=generator))
    param = next(model.network.parameters())
    denoiser = model.denoiser()
    nats, nfe = [], 0
    chunks = x.split(NLL_BATCH)
    with ode_progress(f"{model.name}: likelihood of {len(x)} images", len(chunks)) as advance:
        for i, chunk in enumerate(chunks):
            logp, info = core.log_likelihood(denoiser, chunk.to(param.device, param.dtype), method="hutchinson",
                                             num_probes=probes, rtol=rtol, atol=atol, generator=generator,
                                             return_info=True, callback=functools.partial(advance, part=i))
            nats.append(logp.cpu())
            nfe += info["nfe"]
    bpd = core.bits_per_dim(torch.cat(nats), x[0].numel(), offset=7.0)  # 256 bins of width 2/256
    se = float(bpd.std() / math.sqrt(len(bpd))) if len(bpd) > 1 else float("nan")
    return {"bits_per_dim": float(bpd.mean()), "bits_per_dim_se": se, "nll_n": len(bpd), "nll_ode_nfe": nfe,
            "nll_rtol": rtol, "nll_atol": atol, "nll_probes": probes}


@torch.no_grad()
def evaluate(model, data, *, n: int | None = None, seed: int = 0, steps: int | None = None, sampler: str | None = None,
             timesteps=None, guidance: float | None = None) -> dict:
    """The ``image-eval/1`` metrics of ``model`` on ``data`` (its ``ImageData``), as a flat dict with
    a ``real_images`` block of the same metrics for real images (see the module docstring).

    n: samples (default 1000); steps, sampler, timesteps, guidance: sampling options (default the
    model's).  An autoencoder draws no samples: it takes none of those options."""
    n = n or DEFAULT_N
    given = [k for k, v in (("steps", steps), ("sampler", sampler), ("timesteps", timesteps), ("guidance", guidance))
             if v is not None]
    if model.is_autoencoder and given:
        raise ValueError(f"{model.name} is an autoencoder, scored on test reconstructions: it takes no "
                         f"{', '.join(given)}")
    classifier = load_classifier(data.name)
    test_images, test_labels = data.images["test"], data.labels["test"]
    test = to_model(test_images)
    reference_stats = metrics.feature_statistics(metrics.classifier_features(classifier, test))
    generator = torch.Generator().manual_seed(seed)
    train_index = torch.randperm(len(data.labels["train"]), generator=generator)[:n]
    real = to_model(data.images["train"][train_index])
    real_labels = data.labels["train"][train_index] if model.num_classes or model.is_autoencoder else None
    result = {"protocol": PROTOCOL, "n": n, "seed": seed, "data": data.name, "local_metric": True,
              "classifier_test_accuracy": metrics.class_accuracy(classifier, test, test_labels)}
    floor = _classifier_scores(classifier, real, real_labels, reference_stats)
    if model.is_autoencoder:
        result.update(steps=0, sampler=None, device=describe_device(model_device(model)),
                      **_reconstruction_scores(model, classifier, test[:n], test_labels[:n], reference_stats))
        result["real_images"] = floor
        return result
    options = {k: v for k, v in (("steps", steps), ("sampler", sampler), ("timesteps", timesteps),
                                  ("guidance", guidance)) if v is not None}
    samples, labels, how = _draw(model, n, seed, **options)
    result.update(how)
    result["timesteps"] = timesteps if timesteps is not None else model.config.get("sampling", {}).get("timesteps")
    if model.num_classes:
        result["guidance"] = guidance if guidance is not None else model.config.get("sampling", {}).get("guidance")
    result.update(_classifier_scores(classifier, samples, labels, reference_stats))
    train = to_model(data.images["train"])
    memory = metrics.memorisation(samples, train, test[:n])
    result.update(memorised_fraction=memory["memorised_fraction"], nn_distance_median=memory["nn_distance_median"])
    floor.update(memorised_fraction=memory["reference_memorised_fraction"],
                 nn_distance_median=memory["reference_nn_distance_median"])
    result.update(likelihood(model, test_images, n=min(NLL_N, len(test_images)), seed=seed))
    result["real_images"] = floor
    if model.is_latent:  # the autoencoder bounds what the latent model can reach
        result["autoencoder_reconstructions"] = _reconstruction_scores(model, classifier, test[:n], test_labels[:n],
                                                                       reference_stats)
    return result


_TEST_STATISTICS: dict = {}


def _test_statistics(classifier, data) -> tuple:
    """Feature mean and covariance of the test set (computed once per data set and process: a sweep asks often)."""
    key = (data.name, data.path)
    if key not in _TEST_STATISTICS:
        _TEST_STATISTICS[key] = metrics.feature_statistics(metrics.classifier_features(classifier, to_model(data.images["test"])))
    return _TEST_STATISTICS[key]


@torch.no_grad()
def sample_metrics(model, data, *, n: int | None = None, seed: int = 0, steps: int | None = None,
                   sampler: str | None = None, timesteps=None, guidance: float | None = None) -> dict:
    """The metrics of ``evaluate`` that depend on how samples are drawn (``fd_local``, ``class_accuracy``,
    seconds per image, NFE), for quality-versus-steps sweeps; no likelihood, no memorisation."""
    n = n or DEFAULT_N
    classifier = load_classifier(data.name)
    reference_stats = _test_statistics(classifier, data)
    options = {k: v for k, v in (("steps", steps), ("sampler", sampler), ("timesteps", timesteps),
                                  ("guidance", guidance)) if v is not None}
    samples, labels, how = _draw(model, n, seed, **options)
    how["seconds_per_sample"] = how.pop("seconds_per_image")  # the zoo's name across modalities
    return {"protocol": PROTOCOL, "n": n, "seed": seed, **how, **_classifier_scores(classifier, samples, labels,
                                                                                    reference_stats)}


def preview(model, n: int, *, seed: int = 0, steps: int | None = None) -> tuple[torch.Tensor, dict]:
    """n samples for cards and ``zoo demo`` at the model's defaults (``steps``: another number of
    sampler steps) and how they were made: a class-conditional model draws class k in column k
    (``io.write`` puts K columns in its grid)."""
    generator = torch.Generator().manual_seed(seed)
    if model.is_autoencoder:
        return model.sample(n, generator=generator), {"sampler": "decoder", "steps": 1, "nfe": 1, "seed": seed,
                                                      "what": f"{n} decoded draws from the autoencoder's N(0, I) prior "
                                                              "(an autoencoder of latent diffusion is not a generator)"}
    labels = model.balanced_labels(n)
    x, info = model.sample(n, cond=labels, steps=steps, generator=generator, return_info=True)
    settings = {"sampler": info.sampler, "steps": len(info.ts) - 1, "nfe": info.nfe, "seed": seed}
    if labels is not None:
        names = CLASSES.get(model.config["data"]["name"], ())
        guidance = model.config.get("sampling", {}).get("guidance")
        settings["guidance"] = guidance
        distilled = (model.config.get("consistency") or {}).get("guidance")
        how = (f"guidance {guidance}" if guidance is not None else
               f"no guidance at sampling (distilled from its teacher guided at {distilled:g})" if distilled else
               "no guidance at sampling")
        settings["what"] = f"{n} samples, class k in column k ({', '.join(names)}), {how}"
    return x, settings
