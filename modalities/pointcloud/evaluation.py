"""The point-cloud evaluation suite, protocol ``pointcloud-eval/1``.

- references: the first ``n`` clouds of the held-out split (``data.reference("test")``: N fixed
  surface points each, normalised as the model's data), n = the whole split by default;
- samples: ``n`` clouds of the model's N points; a class-conditional model is asked for the
  references' classes (the same class proportions), at its guidance, sampler and steps;
- MMD-CD, COV-CD and 1-NNA-CD (``metrics``; Chamfer is the squared-distance sum of the two mean
  nearest-neighbour terms, computed exactly), JSD of the 28^3 clouds-per-voxel occupancy, and an
  approximate EMD (Sinkhorn on point subsamples of the first ``emd_n`` clouds, named
  ``*_emd_approx``); for class-conditional models also the 1-NNA-CD within each class, averaged,
  and ``class_accuracy_nn``: the share of samples whose nearest reference (Chamfer) has the class
  they were asked for (a 1-NN classifier on the held-out clouds, as no point-cloud classifier ships);
- beside them (``real_clouds``) the same numbers for the first ``n`` training clouds against the
  same references: what a perfect model scores at this n (1-NNA near 50%);
- shape completion on the first ``completion_n`` references: the half with the largest x
  (``model.crop``, N/2 points) is held fixed and the other N/2 points are generated (the reference's
  class given to a conditional model); reported as the Chamfer distance of the completed cloud to
  the whole reference, beside the partial cloud alone and another held-out cloud of the same class;
- sampling speed: samples per second at batch ``batch`` on the evaluation device;
- likelihood (``likelihood``): the negative log-likelihood of the first ``likelihood_n`` held-out
  clouds, each cut to its first ``likelihood_points`` points (default all N; a uniform surface
  sample, as every stored cloud is), in nats per point (``-log p(x) / N``), by the probability-flow ODE
  (``zoo.core.log_likelihood``: dopri5 at ``likelihood_rtol``/``likelihood_atol``, Hutchinson
  divergence with ``likelihood_probes`` Rademacher probe(s) seeded ``seed``) under the model's own
  prior; a class-conditional model is given each cloud's true class, without guidance (the
  conditional model's own ODE: a guided one has no likelihood).  Small and loose by default so that
  a CPU computes it in minutes; the settings are result keys.
"""
from __future__ import annotations

import torch

from zoo import core
from zoo.evaluation import describe_device, draw, model_device, ode_progress

from . import metrics
from .model import crop

__all__ = ["PROTOCOL", "evaluate", "likelihood", "sample_metrics", "preview"]

PROTOCOL = "pointcloud-eval/1"
BATCH = 50
DEFAULT_EMD_N = 100
EMD_POINTS = 512  # the approximate EMD's subsample size
DEFAULT_COMPLETION_N = 64
# the likelihood's defaults: 2 held-out clouds of all 2048 points took 43 ODE evaluations (each a forward and a
# backward pass) and 278 (shapes) and 257 (furniture) CPU-seconds on one CPU thread; peak memory 1.5 GB
LIKELIHOOD_N = 2
LIKELIHOOD_PROBES = 1
LIKELIHOOD_TOLERANCE = 1e-3


def _draw(model, labels: torch.Tensor | None, n: int, seed: int, batch: int, **options) -> tuple[torch.Tensor, dict]:
    """n samples (n, N, 3) on the CPU in float32 (``zoo.evaluation.draw``: one generator seeded ``seed``),
    and how they were made."""
    samples, how = draw(model, n, batch=batch, seed=seed, per_sample={"cond": labels}, **options)
    return samples, {k: how[k] for k in ("sampler", "steps", "nfe", "samples_per_second", "batch", "device")}


def _set_scores(generated: torch.Tensor, reference: torch.Tensor, device, emd_n: int, seed: int,
                generated_labels: torch.Tensor | None = None, reference_labels: torch.Tensor | None = None) -> dict:
    """MMD/COV/1-NNA-CD, occupancy JSD and the approximate EMD numbers of one set against the references;
    with labels (class-conditional models) also the within-class 1-NNA and the nearest-reference class accuracy."""
    g, r = generated.to(device), reference.to(device)
    gpu = device.type == "cuda"  # bigger chunks of cloud pairs: a GPU has the memory and wants the work
    d_gr = metrics.pairwise_chamfer(g, r, pairs_per_chunk=64 if gpu else None, progress=True)
    d_gg = metrics.pairwise_chamfer(g, g, pairs_per_chunk=64 if gpu else None, progress=True)
    d_rr = metrics.pairwise_chamfer(r, r, pairs_per_chunk=64 if gpu else None, progress=True)
    out = {"mmd_cd": metrics.mmd(d_gr), "cov_cd": metrics.coverage(d_gr), "1nna_cd": metrics.one_nna(d_gg, d_rr, d_gr),
           "jsd": metrics.occupancy_jsd(generated, reference)}
    if generated_labels is not None:
        nearest = reference_labels[d_gr.argmin(1)]
        out["class_accuracy_nn"] = float((nearest == generated_labels).double().mean())
        per_class = []
        for k in reference_labels.unique():
            i, j = (generated_labels == k).nonzero().flatten(), (reference_labels == k).nonzero().flatten()
            if len(i) > 1 and len(j) > 1:
                per_class.append(metrics.one_nna(d_gg[i][:, i], d_rr[j][:, j], d_gr[i][:, j]))
        out["1nna_cd_within_class"] = (sum(per_class) / len(per_class) if per_class else
                                       "not computed: fewer than 2 clouds of every class")
    k = min(emd_n, len(generated))
    d_emd = metrics.pairwise_emd_sinkhorn(g[:k], r[:k], points=min(EMD_POINTS, g.shape[1], r.shape[1]),
                                          generator=torch.Generator().manual_seed(seed), pairs_per_chunk=256 if gpu else None,
                                          progress=True)
    out.update(mmd_emd_approx=metrics.mmd(d_emd), cov_emd_approx=metrics.coverage(d_emd))
    return out


def _completion(model, data, count: int, seed: int, **options) -> dict:
    """Complete the +x half of ``count`` held-out clouds; Chamfer distances to the whole clouds."""
    reference = data.reference("test")[:count]
    labels = data.labels["test"][:count]
    partial = crop(reference)
    cond = labels if model.num_classes else None
    generator = torch.Generator().manual_seed(seed)
    completed = torch.cat([model.complete(partial[i:i + BATCH], cond=None if cond is None else cond[i:i + BATCH],
                                          generator=generator, **options).float().cpu()
                           for i in range(0, count, BATCH)])
    # another held-out cloud of the same class (the next one in the split; any other one without classes)
    all_labels = data.labels["test"]
    other = []
    for i, label in enumerate(labels.tolist()):
        same = [j for j in range(len(all_labels)) if j != i and (not model.num_classes or int(all_labels[j]) == label)]
        other.append(same[0] if same else i)
    others = data.reference("test")[other]
    device = model_device(model)
    cd = lambda a, b: metrics.chamfer(a.to(device), b.to(device)).double().cpu()  # noqa: E731
    completion, alone, another = cd(completed, reference), cd(partial, reference), cd(others, reference)
    return {"completion_n": count, "completion_chamfer": float(completion.mean()),
            "completion_chamfer_se": float(completion.std() / count**0.5),
            "completion_chamfer_partial_alone": float(alone.mean()),
            "completion_chamfer_other_same_class": float(another.mean()),
            "completion_better_than_partial": float((completion < alone).double().mean())}


def likelihood(model, data, *, n: int = LIKELIHOOD_N, points: int | None = None, probes: int = LIKELIHOOD_PROBES,
               rtol: float = LIKELIHOOD_TOLERANCE, atol: float = LIKELIHOOD_TOLERANCE, seed: int = 0) -> dict:
    """Negative log-likelihood of the first ``n`` held-out clouds of ``data``, cut to their first ``points``
    points (default: all the data's points), in nats per point (module docstring).  Returns the mean ``nll_nats_per_point``, its standard
    error over the clouds (``nll_nats_per_point_se``; None for one cloud) and the settings:
    ``likelihood_n``, ``likelihood_points``, ``likelihood_method``, ``likelihood_probes``,
    ``likelihood_rtol``, ``likelihood_atol``, ``likelihood_nfe`` (network evaluations, each with a
    backward pass per probe) and ``likelihood_device``."""
    reference = data.reference("test")
    points = reference.shape[1] if points is None else points
    if not isinstance(n, int) or not 1 <= n <= len(reference):
        raise ValueError(f"likelihood n must lie in 1..{len(reference)} (the held-out clouds of {data.name}), got {n!r}")
    if not isinstance(points, int) or not 1 <= points <= reference.shape[1]:
        raise ValueError(f"likelihood points must lie in 1..{reference.shape[1]} (the data's points), got {points!r}")
    if model.is_consistency:
        raise ValueError(f"{model.name} is a consistency model: it has no probability-flow ODE, so no likelihood")
    device = model_device(model)
    dtype = next(model.network.parameters()).dtype
    x0 = reference[:n, :points].to(device, dtype)
    denoiser = model.denoiser()  # the model's prior (fixed-size clouds: no mask)
    if model.num_classes:
        denoiser = denoiser.bind(label=data.labels["test"][:n].to(device))
    was_training = model.training
    model.eval()
    try:
        with ode_progress(f"{model.name}: likelihood of {n} clouds") as advance:
            logp, info = core.log_likelihood(denoiser, x0, method="hutchinson", num_probes=probes, rtol=rtol,
                                             atol=atol, generator=torch.Generator().manual_seed(seed), return_info=True,
                                             callback=advance)
    finally:
        model.train(was_training)
    nll = -logp.double().cpu() / points
    return {"nll_nats_per_point": float(nll.mean()),
            "nll_nats_per_point_se": float(nll.std() / n**0.5) if n > 1 else None,
            "likelihood_n": n, "likelihood_points": points, "likelihood_method": "hutchinson",
            "likelihood_probes": probes, "likelihood_rtol": rtol, "likelihood_atol": atol,
            "likelihood_nfe": info["nfe"], "likelihood_device": describe_device(device)}


def _checked_n(model, data, n: int | None) -> int:
    reference = data.reference("test")
    n = len(reference) if n is None else int(n)
    if not 2 <= n <= len(reference):
        raise ValueError(f"n must lie in 2..{len(reference)} (the held-out clouds of {data.name}), got {n}")
    if tuple(model.sample_shape) != tuple(data.sample_shape):
        raise ValueError(f"{model.name} makes clouds of shape {tuple(model.sample_shape)}, the data has "
                         f"{tuple(data.sample_shape)}")
    return n


def _options(model, steps, sampler, timesteps, guidance) -> dict:
    options = {k: v for k, v in (("steps", steps), ("sampler", sampler), ("timesteps", timesteps)) if v is not None}
    if model.num_classes:
        options["guidance"] = guidance if guidance is not None else model.config.get("sampling", {}).get("guidance")
    elif guidance is not None:
        raise ValueError(f"{model.name} is unconditional: it has no classifier-free guidance to set")
    return options


def evaluate(model, data, *, n: int | None = None, seed: int = 0, steps: int | None = None, sampler: str | None = None,
             timesteps=None, guidance: float | None = None, emd_n: int = DEFAULT_EMD_N,
             completion_n: int = DEFAULT_COMPLETION_N, batch: int = BATCH, likelihood_n: int = LIKELIHOOD_N,
             likelihood_points: int | None = None) -> dict:
    """Run ``pointcloud-eval/1`` (module docstring) for ``model`` on ``data`` (its ``PointCloudData``).
    ``likelihood_n=0`` leaves the likelihood out; ``guidance`` only for a class-conditional model."""
    n = _checked_n(model, data, n)
    reference, labels = data.reference("test")[:n], data.labels["test"][:n]
    conditional = bool(model.num_classes)
    options = _options(model, steps, sampler, timesteps, guidance)
    samples, how = _draw(model, labels if conditional else None, n, seed, batch, **options)
    device = model_device(model)
    result = {"protocol": PROTOCOL, "normalization": data.normalization, "points": data.points, "n": n, "seed": seed,
              "reference": f"the first {n} clouds of the held-out split of {data.name}", **how}
    result["timesteps"] = timesteps if timesteps is not None else model.config.get("sampling", {}).get("timesteps")
    if conditional:
        result["guidance"] = options["guidance"]
    asked = labels if conditional else None
    result.update(_set_scores(samples, reference, device, emd_n, seed, asked, asked))
    train = data.reference("train")[:n]
    result["real_clouds"] = _set_scores(train, reference, device, emd_n, seed,
                                        data.labels["train"][:n] if conditional else None, asked)
    if completion_n:
        result.update(_completion(model, data, min(completion_n, n), seed, **options))
    if likelihood_n:
        result.update(likelihood(model, data, n=likelihood_n, points=likelihood_points, seed=seed))
    return result


def sample_metrics(model, data, *, n: int | None = None, seed: int = 0, steps: int | None = None,
                   sampler: str | None = None, timesteps=None, guidance: float | None = None) -> dict:
    """The quick metrics of ``zoo nfe``: MMD-CD, COV-CD and 1-NNA-CD of ``n`` samples (default 16)
    against the first ``n`` held-out clouds (asked for their classes), with the NFE and the seconds
    per cloud; no EMD, completion or likelihood."""
    n = _checked_n(model, data, 16 if n is None else n)
    reference, labels = data.reference("test")[:n], data.labels["test"][:n]
    options = _options(model, steps, sampler, timesteps, guidance)
    samples, how = draw(model, n, batch=BATCH, seed=seed, per_sample={"cond": labels if model.num_classes else None},
                        **options)
    g, r = samples.to(model_device(model)), reference.to(model_device(model))
    d_gr, d_gg, d_rr = metrics.pairwise_chamfer(g, r), metrics.pairwise_chamfer(g, g), metrics.pairwise_chamfer(r, r)
    return {"protocol": PROTOCOL, "n": n, "seed": seed, "sampler": how["sampler"], "steps": how["steps"],
            "nfe": how["nfe"], "seconds_per_sample": how["seconds"] / n, "device": how["device"],
            "mmd_cd": metrics.mmd(d_gr), "cov_cd": metrics.coverage(d_gr), "1nna_cd": metrics.one_nna(d_gg, d_rr, d_gr)}


def preview(model, n: int, *, seed: int = 0, steps: int | None = None) -> tuple[torch.Tensor, dict]:
    """n samples for cards and ``zoo demo`` (steps None: the model's own): a class-conditional model
    draws class k in column k, at its guidance; the caption names the classes drawn (every class once
    n reaches their number, else the first n)."""
    generator = torch.Generator().manual_seed(seed)
    labels = model.balanced_labels(n)
    x, info = model.sample(n, cond=labels, steps=steps, generator=generator, return_info=True)
    settings = {"sampler": info.sampler, "steps": len(info.ts) - 1, "nfe": info.nfe, "seed": seed}
    if labels is not None:
        guidance = model.config.get("sampling", {}).get("guidance")
        names = model.class_names or tuple(str(k) for k in range(model.num_classes))
        drawn = (f"{n} samples, class k in column k ({', '.join(names)})" if n >= len(names) else  # every class
                 f"{n} sample{'s' if n != 1 else ''} of class{'es' if n != 1 else ''} {', '.join(names[:n])}")
        settings.update(guidance=guidance, what=f"{drawn}, guidance {guidance}")
    return x, settings
