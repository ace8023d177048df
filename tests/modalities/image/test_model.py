import pytest
import torch

from modalities.image.model import ImageModel
from zoo import hub

UNET = {"in_channels": 1, "resolution": 8, "channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1,
        "attention_resolutions": [4], "head_channels": 8, "num_classes": 10}
VAE = {"in_channels": 1, "resolution": 8, "channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1}


def config(architecture="image/unet", network=None, **extra):
    return {"name": "image/test", "modality": "image", "architecture": architecture, "network": network or UNET,
            "schedule": {"name": "DDPM"}, "prediction": "eps", "sample_shape": [1, 8, 8],
            "sampling": {"sampler": "dpmpp_2m", "steps": 3, "guidance": 2.0}, "data": {"name": "digits"},
            "null_cond": {"label": 10}, **extra}


def trained(cfg, steps=30):
    """A tiny model that has moved away from its zero-initialised output, so labels matter."""
    torch.manual_seed(0)
    model = ImageModel.from_config(cfg)
    optimizer = torch.optim.Adam(model.network.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        labels = torch.randint(0, 10, (16,), generator=g)
        x = labels.float()[:, None, None, None].expand(16, *cfg["sample_shape"]) / 5 - 1  # class k = grey level
        loss = model.loss({"x": x, "cond": {"label": labels}}).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def model():
    return trained(config())


def test_image_models_know_their_classes_and_image_shape(model):
    assert isinstance(model, ImageModel) and model.num_classes == 10 and model.image_shape == (1, 8, 8)
    assert model.class_names == tuple(str(d) for d in range(10)) and not model.is_latent and not model.is_autoencoder
    with pytest.raises(ValueError, match="no autoencoder to reconstruct with"):
        model.reconstruct(torch.zeros(1, 1, 8, 8))


def test_sample_takes_integer_labels_and_returns_clamped_images(model):
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    labels = torch.arange(6) % 10
    x = model.sample(6, cond=labels, generator=g())
    assert x.shape == (6, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    # the default guidance is the config's; an explicit scale changes the samples; 1 is conditional only
    assert torch.equal(x, model.sample(6, cond=labels, guidance=2.0, generator=g()))
    assert not torch.allclose(x, model.sample(6, cond=labels, guidance=1.0, generator=g()))
    assert torch.equal(model.sample(6, cond=3, generator=g()), model.sample(6, cond=torch.full((6,), 3), generator=g()))
    assert torch.equal(model.sample(6, cond={"label": labels}, generator=g()), x)
    unguided = model.sample(6, generator=g())  # no labels: the null class
    assert unguided.shape == (6, 1, 8, 8)


def test_static_thresholding_is_a_sampling_default_that_can_be_switched_off(model):
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    labels = torch.arange(6)
    plain = model.sample(6, cond=labels, generator=g())
    clipped = ImageModel.from_config({**model.config, "sampling": {**model.config["sampling"], "clip_x0": [-1.0, 1.0]}})
    clipped.load_state_dict(model.state_dict())
    assert torch.equal(clipped.sample(6, cond=labels, generator=g(), clip_x0=False), plain)
    assert not torch.equal(clipped.sample(6, cond=labels, generator=g()), plain)
    assert torch.equal(clipped.sample(6, cond=labels, generator=g()), model.sample(6, cond=labels, generator=g(),
                                                                                   clip_x0=(-1.0, 1.0)))


@pytest.mark.parametrize("cond, message", [
    (torch.tensor([0.5, 1.0]), "must be integers"),
    (torch.tensor([0, 10]), r"0\.\.9, got 0\.\.10"),
    (torch.tensor([0, 1, 2]), r"shape \(2,\) for n=2, got \(3,\)"),
    ({"mel": torch.zeros(2)}, "keys \\['mel'\\]"),
])
def test_bad_labels_are_named(model, cond, message):
    with pytest.raises(ValueError, match=message):
        model.sample(2, cond=cond)


def test_an_unconditional_model_refuses_labels():
    cfg = config(network={**UNET, "num_classes": 0})
    del cfg["null_cond"]
    model = ImageModel.from_config(cfg)
    assert model.num_classes == 0
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(2, cond=torch.tensor([1, 2]))


def test_save_and_load_give_the_same_samples(model, tmp_path):
    hub.save(model, tmp_path / "m", samples=10)
    loaded = hub.load_folder(tmp_path / "m")
    assert isinstance(loaded, ImageModel)  # the modality's model_class
    g = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    labels = torch.arange(4)
    assert torch.equal(model.sample(4, cond=labels, generator=g()), loaded.sample(4, cond=labels, generator=g()))
    assert (tmp_path / "m" / "samples" / "samples.png").is_file()


def test_a_latent_model_samples_latents_and_decodes_them():
    network = {"backbone": "image/dit", "autoencoder": VAE,
               "backbone_params": {"in_channels": 4, "resolution": 4, "patch_size": 1, "hidden": 16, "depth": 1,
                                   "heads": 2, "num_classes": 10}}
    model = ImageModel.from_config(config("image/latent", network, sample_shape=[4, 4, 4]))
    torch.manual_seed(0)
    vae = model.network.autoencoder
    state = {k: torch.randn_like(v) * 0.1 for k, v in vae.state_dict().items()}
    model.network.set_autoencoder(state, 2.5)
    assert model.is_latent and model.image_shape == (1, 8, 8) and float(model.network.latent_scale) == 2.5
    z = torch.randn(3, 4, 4, 4)
    torch.testing.assert_close(model.network.decode(z), vae.decode(z / 2.5))
    x = model.sample(3, cond=torch.tensor([1, 2, 3]), generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    assert not any(p.requires_grad for p in vae.parameters())


def test_an_autoencoder_model_samples_its_prior_and_reconstructs():
    cfg = config("image/vae", VAE, task="autoencoder")
    del cfg["null_cond"]
    model = ImageModel.from_config(cfg)
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 1, 8, 8)
    assert model.reconstruct(x).shape == (5, 1, 8, 8)
    with pytest.raises(ValueError, match="autoencoder"):
        model.sample(2, cond=torch.tensor([1, 2]))
