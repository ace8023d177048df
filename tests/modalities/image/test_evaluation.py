import math

import pytest
import torch
from torch import nn

from modalities.image import data as image_data
from modalities.image import evaluation
from modalities.image.model import ImageModel

pytestmark = pytest.mark.usefixtures("one_thread")

UNET = {"in_channels": 1, "resolution": 8, "channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1,
        "attention_resolutions": [4], "head_channels": 8, "num_classes": 10}


@pytest.fixture(scope="module")
def digits():
    return image_data.dataset("digits")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ImageModel.from_config({
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
    monkeypatch.setattr(evaluation, "likelihood", lambda *a, **k: {})
    result = evaluation.evaluate(model, digits, n=100)
    assert result["protocol"] == "image-eval/1" and result["n"] == 100
    assert result["device"] == "CPU, 1 thread" and "threads" not in result  # zoo.evaluation.describe_device
    assert result["class_accuracy"] > 0.95
    assert result["memorised_fraction"] == 1.0 and result["nn_distance_median"] == 0.0
    assert result["real_images"]["memorised_fraction"] < 0.2 and result["real_images"]["nn_distance_median"] > 1.0
    assert result["fd_local"] < 3 * result["real_images"]["fd_local"] + 1.0


def test_an_untrained_model_scores_badly_and_its_nll_is_in_bits(model, digits, monkeypatch):
    monkeypatch.setattr(evaluation, "NLL_N", 4)
    result = evaluation.evaluate(model, digits, n=20, steps=2)
    assert result["sampler"] == "dpmpp_2m" and result["steps"] == 2 and result["guidance"] == 2.0
    assert result["fd_local"] > 5 * result["real_images"]["fd_local"]
    assert result["class_accuracy"] < 0.5 < result["classifier_test_accuracy"]
    # a network outputting zero noise: a broad density, many bits per dimension
    assert 7.0 < result["bits_per_dim"] < 40.0 and result["nll_n"] == 4 and result["nll_ode_nfe"] > 0
    # the protocol of the likelihood is in the results
    assert (result["nll_rtol"], result["nll_atol"], result["nll_probes"]) == (1e-4, 1e-4, 1)


def test_evaluate_takes_the_guidance_scale_and_the_same_settings_give_the_same_numbers(model, digits, monkeypatch):
    monkeypatch.setattr(evaluation, "likelihood", lambda *a, **k: {})
    guided = evaluation.evaluate(model, digits, n=20, steps=2)
    assert evaluation.evaluate(model, digits, n=20, steps=2)["fd_local"] == guided["fd_local"]
    asked, sample = [], model.sample

    def spy(*args, **options):
        asked.append(options.get("guidance"))
        return sample(*args, **options)
    monkeypatch.setattr(model, "sample", spy)
    plain = evaluation.evaluate(model, digits, n=20, steps=2, guidance=0.0)
    assert plain["guidance"] == 0.0 and asked == [0.0]
    row = evaluation.sample_metrics(model, digits, n=20, steps=2, guidance=0.0)
    assert row["fd_local"] == plain["fd_local"] and row["nfe"] == 2 and row["seconds_per_sample"] > 0
    assert asked == [0.0, 0.0] and "threads" not in row and row["device"] == "CPU, 1 thread"


class GaussianEps(nn.Module):
    """The exact noise prediction for data N(0, s^2 I): E[eps | x_t] = sigma x_t / (alpha^2 s^2 + sigma^2)."""

    def __init__(self, schedule, s: float):
        super().__init__()
        self.schedule, self.s = schedule, s
        self.unused = nn.Parameter(torch.zeros(()))  # a parameter, for the device and dtype

    def forward(self, x, noise_label, label=None):
        alpha, sigma = self.schedule.alpha_sigma(self.schedule.t_of_noise_label(noise_label.double()))
        alpha, sigma = (v.to(x.dtype).reshape(-1, *[1] * (x.ndim - 1)) for v in (alpha, sigma))
        return sigma * x / (alpha**2 * self.s**2 + sigma**2)


def test_the_likelihood_of_an_exact_gaussian_denoiser_is_the_gaussian_density_in_bits_per_dim():
    s = 0.5
    cfg = {"name": "image/gauss", "modality": "image", "architecture": "image/unet", "network": UNET,
           "schedule": {"name": "VP"}, "prediction": "eps", "sample_shape": [1, 4, 4], "data": {"name": "digits"}}
    model = ImageModel.from_config(cfg)
    model.network = GaussianEps(model.schedule, s)
    images = torch.randint(0, 256, (3, 1, 4, 4), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    result = evaluation.likelihood(model, images, n=3, seed=5, rtol=1e-6, atol=1e-6)
    x = image_data.to_model(images, torch.rand(images.shape, generator=torch.Generator().manual_seed(5)))
    nats = torch.distributions.Normal(0.0, s).log_prob(x.double()).flatten(1).sum(1)
    bpd = -nats / (16 * math.log(2)) + 7.0  # 7 = log2(256 / 2): 256 bins of width 2/256
    assert result["bits_per_dim"] == pytest.approx(float(bpd.mean()), abs=1e-4)
    assert result["bits_per_dim_se"] == pytest.approx(float(bpd.std() / math.sqrt(3)), abs=1e-4)
    assert result["nll_n"] == 3 and result["nll_rtol"] == 1e-6 and result["nll_probes"] == 1
    with pytest.raises(ValueError, match="uint8 images"):
        evaluation.likelihood(model, x, n=3)
    with pytest.raises(ValueError, match=r"n must be an integer in 1\.\.3"):
        evaluation.likelihood(model, images, n=4)


def test_preview_puts_class_k_in_column_k(model):
    x, settings = evaluation.preview(model, 20, seed=0)
    assert x.shape == (20, 1, 8, 8) and settings["guidance"] == 2.0 and "class k in column k" in settings["what"]


def test_a_latent_model_reports_its_autoencoder_and_no_pixel_likelihood(digits):
    vae = {"in_channels": 1, "resolution": 8, "channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1}
    network = {"backbone": "image/dit", "autoencoder": vae,
               "backbone_params": {"in_channels": 4, "resolution": 4, "patch_size": 1, "hidden": 16, "depth": 1,
                                   "heads": 2, "num_classes": 10}}
    torch.manual_seed(0)
    model = ImageModel.from_config({
        "name": "image/latent-test", "modality": "image", "architecture": "image/latent", "network": network,
        "schedule": {"name": "DDPM"}, "prediction": "eps", "sample_shape": [4, 4, 4],
        "sampling": {"sampler": "dpmpp_2m", "steps": 2, "guidance": 2.0}, "data": {"name": "digits"},
        "null_cond": {"label": 10}}).eval()
    result = evaluation.evaluate(model, digits, n=20)
    assert result["bits_per_dim"] == "not computed: a latent model's pixel likelihood needs a density for its decoder"
    assert "nll_rtol" not in result
    ae = result["autoencoder_reconstructions"]
    assert set(ae) == {"psnr", "l1", "fd_local", "class_accuracy"} and ae["psnr"] < 20  # an untrained autoencoder


def test_an_autoencoder_is_scored_on_reconstructions_and_refuses_sampling_options(digits):
    vae = {"in_channels": 1, "resolution": 8, "channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1}
    torch.manual_seed(0)
    model = ImageModel.from_config({
        "name": "image/vae-test", "modality": "image", "architecture": "image/vae", "task": "autoencoder",
        "network": vae, "schedule": {"name": "DDPM"}, "prediction": "eps", "sample_shape": [1, 8, 8],
        "data": {"name": "digits"}}).eval()
    result = evaluation.evaluate(model, digits, n=20)
    assert result["steps"] == 0 and result["device"] == "CPU, 1 thread" and result["psnr"] < 20
    for option in ({"guidance": 2.0}, {"steps": 4}):
        with pytest.raises(ValueError, match="autoencoder, scored on test reconstructions"):
            evaluation.evaluate(model, digits, n=20, **option)
