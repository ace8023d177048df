"""What an image model card says about the data, the intended use and the limits (``card``)."""
from __future__ import annotations

from zoo.modality import CardFacts, MetricDoc

from .data import CLASSES, SOURCES

# how the zoo turns each source into a model's data (the sources themselves: data.SOURCES)
PADDED = {"fashion": "The 28 x 28 images are zero-padded to 32 x 32 (so a U-Net can halve them three times).",
          "mnist": "The 28 x 28 images are zero-padded to 32 x 32 (so a U-Net can halve them three times)."}
# what the CPU-trained checkpoints visibly get wrong (see their sample grids)
SEEN = {
    "image/unet": "Some samples keep speckle noise or a grey background (an undertrained network's error at high "
                  "noise levels); static thresholding (the default `clip_x0`) removes most of it.",
    "image/dit": "The pixel DiT shows the 4 x 4 patch grid and blurry shapes: transformers need far more steps than "
                 "this CPU run had.",
    "image/latent": "Samples are as sharp as the autoencoder allows (see the autoencoder_reconstructions column) and "
                    "classes with fine texture (shirt, pullover, coat) are often confused.",
}
HUB_DATASETS = {"fashion": ("zalando-datasets/fashion_mnist",), "mnist": ("ylecun/mnist",), "digits": ()}

METRICS = {
    "class_accuracy": ("local: share of guided samples the local classifier assigns to the class they were asked "
                       "for (real_images column: as many real training images, with their labels)", True),
    "fd_local": ("FD (local classifier): Frechet distance between samples and the test set in the feature space "
                 "(128-d) of a classifier trained here; not FID, not comparable with published FIDs (real_images "
                 "column: as many real training images, the floor at this n)", False),
    "bits_per_dim": ("test-set negative log-likelihood, bits/dim, by the probability-flow ODE (`zoo.core."
                     "log_likelihood`, dopri5) with a Hutchinson divergence, uniformly dequantised 8-bit pixels "
                     "(class-conditional models: the null class, the unconditional density); tolerances and probes in "
                     "the protocol line; `python benchmarks/image_likelihood.py NAME` re-measures it alone.  Pixel "
                     "models only: a consistency model has no probability-flow ODE and a latent model's is a density "
                     "of latents, not pixels", False),
    "bits_per_dim_se": ("standard error of bits_per_dim over the test images used", False),
    "nll_n": ("test images in the likelihood estimate (the first of the test split)", None),
    "nll_ode_nfe": ("network evaluations, each with a backward pass, the adaptive ODE solver took for them", None),
    "memorised_fraction": ("share of samples whose nearest training image is < 1/3 the distance of the second "
                           "nearest (pixel L2; Yoon et al. 2023); real_images column: held-out test images", False),
    "nn_distance_median": ("median pixel-space L2 distance from a sample to its nearest training image (real_images "
                           "column: held-out test images)", True),
    "seconds_per_image": ("sampling wall time per image at batch 100 on the evaluation device", False),
    "classifier_test_accuracy": ("the local classifier's accuracy on the whole test set", True),
    "psnr": ("autoencoder: peak signal-to-noise ratio of test reconstructions, dB", True),
    "l1": ("autoencoder: mean absolute error of test reconstructions in [-1, 1] units", False),
}
INDEXED = ("fd_local", "class_accuracy", "bits_per_dim", "memorised_fraction", "psnr")
# result keys that describe the protocol, with the phrase the card's protocol line gets ("": left out of the table)
PROTOCOL_SETTINGS = {
    "nll_rtol": (" (bits/dim: the first {nll_n} test images, probability-flow ODE by dopri5 at rtol {nll_rtol:g} and "
                 "atol {nll_atol:g}, {nll_probes} Hutchinson probe(s))"),
    "nll_atol": "",
    "nll_probes": "",
}


def _image_shape(config: dict) -> tuple:
    """(C, H, W) of the images a model with ``config`` makes (a latent model: its autoencoder's)."""
    if config["architecture"] == "image/latent":
        vae = config["network"]["autoencoder"]
        return (vae["in_channels"], vae["resolution"], vae["resolution"])
    return tuple(config["sample_shape"])


def card(config: dict) -> CardFacts:
    """The card facts of an image model with ``config`` (its config.yaml as a dict)."""
    name = config["data"]["name"]
    classes = tuple(config.get("class_names") or CLASSES.get(name, ()))
    conditional = bool(config.get("null_cond"))
    latent = config["architecture"] == "image/latent"
    autoencoder = config.get("task") == "autoencoder"
    shape = ", ".join(str(d) for d in _image_shape(config))
    guidance = config.get("sampling", {}).get("guidance")
    command = ""  # the zoo's default: zoo sample NAME -o samples.png
    if autoencoder:
        example = f"x = model.sample(16)   # decoded prior samples (16, {shape})\nr = model.reconstruct(x)"
    elif conditional and guidance is None:  # guidance distilled into the network
        example = (f"labels = torch.arange(16) % {len(classes)}   # class k: {', '.join(classes[:3])}, ...\n"
                   f"x = model.sample(16, cond=labels)   # (16, {shape}) in [-1, 1]; guidance is baked in\n"
                   "x = model.sample(16, cond=labels, steps=1)   # one network evaluation")
        command = "zoo sample {name} -o samples{suffix}\nzoo sample {name} --class 3 -n 20 -o grid{suffix}"
    elif conditional:
        example = (f"labels = torch.arange(16) % {len(classes)}   # class k: {', '.join(classes[:3])}, ...\n"
                   f"x = model.sample(16, cond=labels, guidance={float(guidance)!r})   # (16, {shape}) in [-1, 1]")
        command = ("zoo sample {name} -o samples{suffix}\n"
                   f"zoo sample {{name}} --class 3 -n 20 --guidance {guidance:g} -o grid{{suffix}}")
    else:
        example = f"x = model.sample(16)   # (16, {shape}) in [-1, 1]"
    how = ("latent diffusion: the denoiser works on the latents of a small KL autoencoder trained first "
           "(recipe `recipes/image/fashion-vae.yaml`), whose weights are part of this checkpoint; " if latent else "")
    note = "  ".join(part for part in (
        PADDED.get(name, ""),
        "Pixels b (0..255) are mapped to 2 (b + u) / 256 - 1 in [-1, 1], u uniform in [0, 1) (dequantised)."
        if config["data"].get("dequantize", True) else "Pixels b (0..255) are mapped to bin centres in [-1, 1].",
        "The model was trained on the autoencoder's scaled latents of these images." if latent else "",
        f"Classes: {', '.join(f'{i} {c}' for i, c in enumerate(classes))}." if conditional else "",
    ) if part)
    return CardFacts(
        sources=tuple(source for source in SOURCES if source.name == name),
        data_note=note,
        license="apache-2.0",
        datasets=HUB_DATASETS.get(name, ()),
        tags=("image", "class-conditional" if conditional else "unconditional",
              "classifier-free-guidance" if conditional else "image-generation",
              *(("latent-diffusion",) if latent else ())),
        pipeline_tag="unconditional-image-generation",
        task="image-generation",
        intended_use=(f"Research and teaching: class-conditional generation with classifier-free guidance; {how}"
                      "comparing samplers, guidance scales and architectures on small images."),
        limitations=(
            "32 x 32 greyscale images of one small data set; nothing here transfers to natural images.",
            "FD and class accuracy use a small classifier trained here: they rank models of this zoo against "
            "each other and against real images, and are not FID or Inception Score.",
            "Trained with a small compute budget (see Training); compare the metrics with the real-image column.",
            *((SEEN[config["architecture"]],) if config["architecture"] in SEEN and not autoencoder else ()),
        ),
        example=example,
        command=command,
        metrics={key: MetricDoc(what, higher) for key, (what, higher) in METRICS.items()},
        indexed_metrics=INDEXED,
        protocol_settings=PROTOCOL_SETTINGS,
    )
