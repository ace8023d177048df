import pytest
import torch

from modalities.image import data as image_data
from modalities.image import evaluation
from zoo.model import ZooModel

UNET = {"in_channels": 1, "resolution": 8, "channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1,
        "attention_resolutions": [4], "head_channels": 8, "num_classes": 10}


@pytest.fixture(scope="module")
def digits():
    return image_data.dataset("digits")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ZooModel.from_config({
        "name": "image/test", "modality": "image", "architecture": "image/unet", "network": UNET,
        "schedule": {"name": "DDPM"}, "prediction": "eps", "sample_shape": [1, 8, 8],
        "sampling": {"sampler": "dpmpp_2m", "steps": 2, "guidance": 2.0}, "data": {"name": "digits"},
        "null_cond": {"label": 10}}).eval()


def test_a_model_that_copies_its_training_images_is_caught(model, digits, monkeypatch):
    """Samples that are training images, with the labels asked for: perfect class accuracy, an FD at
    the real-image floor, and every sample flagged as memorised while held-out images are not."""
    train = image_data.to_model(digits.images["train"])
    by_class = {k: train[digits.labels["train"] == k] for k in range(10)}

    def copy(n, *, cond=None, generator=None, return_info=False, **options):
        x = torch.stack([by_class[int(k)][i // 10] for i, k in enumerate(cond)])
        info = type("Info", (), {"sampler": "copy", "ts": [0, 1], "nfe": 0})()
        return (x, info) if return_info else x
    monkeypatch.setattr(model, "sample", copy)
    monkeypatch.setattr(evaluation, "_nll", lambda *a: {})
    result = evaluation.evaluate(model, digits, n=100)
    assert result["protocol"] == "image-eval/1" and result["n"] == 100
    assert result["class_accuracy"] > 0.95
    assert result["memorised_fraction"] == 1.0 and result["nn_distance_median"] == 0.0
    assert result["real_images"]["memorised_fraction"] < 0.2 and result["real_images"]["nn_distance_median"] > 1.0
    assert result["fd_local"] < 3 * result["real_images"]["fd_local"] + 1.0


def test_an_untrained_model_scores_badly_and_its_nll_is_in_bits(model, digits):
    result = evaluation.evaluate(model, digits, n=20, nll_n=4, steps=2)
    assert result["sampler"] == "dpmpp_2m" and result["steps"] == 2 and result["guidance"] == 2.0
    assert result["fd_local"] > 5 * result["real_images"]["fd_local"]
    assert result["class_accuracy"] < 0.5 < result["classifier_test_accuracy"]
    # a network outputting zero noise: a broad density, many bits per dimension
    assert 7.0 < result["bits_per_dim"] < 40.0 and result["nll_n"] == 4 and result["nll_ode_nfe"] > 0


def test_preview_puts_class_k_in_column_k(model):
    x, settings = evaluation.preview(model, 20, seed=0)
    assert x.shape == (20, 1, 8, 8) and settings["guidance"] == 2.0 and "class k in column k" in settings["what"]


def test_a_latent_model_reports_its_autoencoder_and_no_pixel_likelihood(digits):
    vae = {"in_channels": 1, "resolution": 8, "channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1}
    network = {"backbone": "image/dit", "autoencoder": vae,
               "backbone_params": {"in_channels": 4, "resolution": 4, "patch_size": 1, "hidden": 16, "depth": 1,
                                   "heads": 2, "num_classes": 10}}
    torch.manual_seed(0)
    model = ZooModel.from_config({
        "name": "image/latent-test", "modality": "image", "architecture": "image/latent", "network": network,
        "schedule": {"name": "DDPM"}, "prediction": "eps", "sample_shape": [4, 4, 4],
        "sampling": {"sampler": "dpmpp_2m", "steps": 2, "guidance": 2.0}, "data": {"name": "digits"},
        "null_cond": {"label": 10}}).eval()
    result = evaluation.evaluate(model, digits, n=20)
    assert result["bits_per_dim"].startswith("not computed")
    ae = result["autoencoder_reconstructions"]
    assert set(ae) == {"psnr", "l1", "fd_local", "class_accuracy"} and ae["psnr"] < 20  # an untrained autoencoder
