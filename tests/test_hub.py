import dataclasses
import json
import socket

import pytest
import torch
from safetensors.torch import load_file, save_file

import zoo
from tests.hub_server import HubError
from zoo import hub as hub_module
from zoo import registry
from zoo.modality import Release
from zoo.files import read_yaml, write_yaml
from zoo.model import ZooModel

CONFIG = {
    "name": "toy2d/tiny", "modality": "toy2d", "architecture": "toy2d/mlp", "network": {"hidden": 16, "depth": 1},
    "schedule": {"name": "DDPM"}, "prediction": "eps", "sigma_data": 0.5, "sample_shape": [2],
    "sampling": {"sampler": "ddim", "steps": 5, "timesteps": None}, "data": {"name": "ring8"},
}


def tiny():
    torch.manual_seed(0)
    return ZooModel.from_config(CONFIG)


def test_save_load_round_trip(tmp_path):
    model = tiny()
    zoo.save(model, tmp_path / "m")
    again = zoo.load(str(tmp_path / "m"))
    for (k, a), (_, b) in zip(model.network.state_dict().items(), again.network.state_dict().items()):
        assert torch.equal(a, b), k
    x = model.sample(6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(again.sample(6, generator=torch.Generator().manual_seed(1)), x)
    assert x.shape == (6, 2) and again.config["format_version"] == 1
    assert zoo.load(f"local-dir:{tmp_path / 'm'}").name == "toy2d/tiny"


def test_weights_are_checked_key_by_key(tmp_path):
    zoo.save(tiny(), tmp_path / "m")
    weights = load_file(tmp_path / "m" / "model.safetensors")
    dropped = sorted(weights)[0]
    del weights[dropped]
    weights["extra.bias"] = torch.zeros(3)
    save_file(weights, tmp_path / "m" / "model.safetensors")
    with pytest.raises(ValueError, match=f"missing \\['{dropped}'\\], unexpected \\['extra.bias'\\]"):
        zoo.load(str(tmp_path / "m"))


def test_configs_are_data(tmp_path):
    zoo.save(tiny(), tmp_path / "m")
    config = read_yaml(tmp_path / "m" / "config.yaml")
    write_yaml(tmp_path / "m" / "config.yaml", {**config, "format_version": 99})
    with pytest.raises(ValueError, match="format_version 99"):
        zoo.load(str(tmp_path / "m"))
    write_yaml(tmp_path / "m" / "config.yaml", {**config, "prediction": "${oc.env:HOME}"})
    with pytest.raises(ValueError, match="interpolation"):
        zoo.load(str(tmp_path / "m"))
    write_yaml(tmp_path / "m" / "config.yaml", {**config, "architecture": "toy2d/evil"})
    with pytest.raises(ValueError, match="unknown architecture 'toy2d/evil'"):
        zoo.load(str(tmp_path / "m"))


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown model 'toy2d/unicorn'"):
        zoo.load("toy2d/unicorn")
    with pytest.raises(ValueError, match="neither a released model name"):
        zoo.load("unicorn")


def test_sample_input_errors():
    model = tiny()
    with pytest.raises(ValueError, match="positive integer"):
        model.sample(0)
    with pytest.raises(ValueError, match="null condition"):
        model.sample(4, guidance=2.0, cond={"label": torch.zeros(4, dtype=torch.long)})


def test_config_keys_are_checked(tmp_path):
    zoo.save(tiny(), tmp_path / "m")
    config = read_yaml(tmp_path / "m" / "config.yaml")
    write_yaml(tmp_path / "m" / "config.yaml", {**config, "on_load": "import os"})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['on_load'\]"):
        zoo.load(str(tmp_path / "m"))
    write_yaml(tmp_path / "m" / "config.yaml", {k: v for k, v in config.items() if k != "schedule"})
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['schedule'\]"):
        zoo.load(str(tmp_path / "m"))
    write_yaml(tmp_path / "m" / "config.yaml", {**config, "network": {"hidden": 32, "depth": 1}})
    with pytest.raises(ValueError, match=r"wrong shape \[.*\(16,\) for \(32,\)"):
        zoo.load(str(tmp_path / "m"))


def test_corrupted_weights_are_a_clear_error(tmp_path):
    zoo.save(tiny(), tmp_path / "m")
    data = (tmp_path / "m" / "model.safetensors").read_bytes()
    (tmp_path / "m" / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="model.safetensors: not a readable safetensors file"):
        zoo.load(str(tmp_path / "m"))
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="has no model.safetensors"):
        zoo.load(str(tmp_path / "m"))


def test_save_writes_a_hub_ready_folder(tmp_path):
    model = tiny()
    recipe = {"name": "tiny", "modality": "toy2d", "optim": {"steps": 3}}
    run = {"device": "CPU, 1 thread", "processes": 1, "precision": "fp32", "steps": 3, "seconds": 1.5,
           "final_loss": 0.5, "torch": torch.__version__}
    folder = zoo.save(model, tmp_path / "m", samples=50, recipe=recipe, training=run)
    assert read_yaml(folder / "training" / "recipe.yaml") == recipe
    manifest = json.loads((folder / "samples" / "manifest.json").read_text())
    assert manifest["files"][0]["file"] == "samples.png" and manifest["files"][0]["nfe"] == 5
    assert (folder / "samples" / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (folder / "README.md").read_text()
    assert "library_name: zoo" in card and "| 1 | CPU, 1 thread | 1 | fp32 | 0-3 |" in card  # a legacy record: one segment


# ---- names, the Hub and the embedded copies -------------------------------------------------------------

RELEASED = ["audio/diffwave", "audio/diffwave-digits", "image/fashion", "image/fashion-cm", "image/fashion-dit",
            "image/fashion-flow", "image/fashion-ldm",
            "image/mnist", "pointcloud/furniture", "pointcloud/shapes", "protein/backbone", "toy2d/checkerboard",
            "toy2d/moons", "toy2d/ring8", "toy2d/ring8-cm", "toy2d/swissroll"]


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection and DNS lookup fails; the attempts are recorded."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_every_released_model_loads_from_its_embedded_copy_without_network(no_network, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://huggingface.co")
    assert zoo.list_models(pretrained=True) == RELEASED
    for name in RELEASED:
        model = zoo.load(name, endpoint="https://huggingface.co")
        assert model.origin.source == "embedded" and "network disabled" in model.origin.note
        assert model.origin.path == hub_module.MODEL_CARDS / name
        x, _ = hub_module.draw_samples(model, 1, steps=2)  # a vocoder resynthesizes the reference in its folder
        assert torch.isfinite(x).all()
    assert no_network  # it did try the Hub, and the failure cost nothing


def test_load_falls_back_to_the_embedded_copy_when_the_hub_is_silent(monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    monkeypatch.setenv("ZOO_HUB_TIMEOUT", "0.3")
    try:
        model = zoo.load("toy2d/ring8", endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}")
    finally:
        silent.close()
    assert model.origin.source == "embedded" and "Timeout" in model.origin.note


def _publish_tiny(tmp_path, hub_server, repo="org/tiny", seed=0, **options):
    torch.manual_seed(seed)
    model = ZooModel.from_config(CONFIG)
    folder = zoo.save(model, tmp_path / f"m{seed}", samples=20)
    done = zoo.publish(folder, repo, endpoint=hub_server.url, **options)
    return model, folder, done


def test_publish_then_load_by_hf_hub_name(tmp_path, hub):
    model, folder, done = _publish_tiny(tmp_path, hub)
    assert len(done.commit) == 40 and set(done.files) >= {"config.yaml", "model.safetensors", "README.md",
                                                           "samples/samples.png", "samples/manifest.json"}
    again = zoo.load("hf-hub:org/tiny", endpoint=hub.url, cache_dir=tmp_path / "cache")
    assert again.origin.source == "hub" and again.origin.revision == done.commit
    for key, value in model.network.state_dict().items():
        assert torch.equal(again.network.state_dict()[key], value), key
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(again.sample(5, generator=gen()), model.sample(5, generator=gen()))
    card = hub.read_file("org/tiny", "README.md").decode()
    assert 'zoo.load("hf-hub:org/tiny")' in card and "library_name: zoo" in card


def test_a_pinned_revision_gets_the_old_weights(tmp_path, hub):
    first, _, one = _publish_tiny(tmp_path, hub, seed=0)
    second, _, two = _publish_tiny(tmp_path, hub, seed=1)
    assert one.commit != two.commit
    cache = tmp_path / "cache"
    latest = zoo.load("hf-hub:org/tiny", endpoint=hub.url, cache_dir=cache)
    pinned = zoo.load(f"hf-hub:org/tiny@{one.commit}", endpoint=hub.url, cache_dir=cache)
    also_pinned = zoo.load("hf-hub:org/tiny", revision=one.commit, endpoint=hub.url, cache_dir=cache)
    key = next(iter(first.network.state_dict()))
    assert torch.equal(latest.network.state_dict()[key], second.network.state_dict()[key])
    assert torch.equal(pinned.network.state_dict()[key], first.network.state_dict()[key])
    assert torch.equal(also_pinned.network.state_dict()[key], first.network.state_dict()[key])
    with pytest.raises(ValueError, match="pins revision"):
        zoo.load(f"hf-hub:org/tiny@{one.commit}", revision="main", endpoint=hub.url, cache_dir=cache)


def test_offline_reload_from_the_cache_makes_no_request(tmp_path, hub, monkeypatch):
    model, _, done = _publish_tiny(tmp_path, hub)
    cache = tmp_path / "cache"
    zoo.load("hf-hub:org/tiny", endpoint=hub.url, cache_dir=cache)
    hub.requests.clear()
    by_flag = zoo.load("hf-hub:org/tiny", endpoint=hub.url, cache_dir=cache, local_files_only=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    by_env = zoo.load("hf-hub:org/tiny", endpoint=hub.url, cache_dir=cache)
    assert hub.requests == []
    assert by_flag.origin.source == by_env.origin.source == "hf-cache" and by_env.origin.revision == done.commit
    with pytest.raises(ValueError, match="not in the Hugging Face cache"):
        zoo.load("hf-hub:org/other", endpoint=hub.url, cache_dir=cache)


def test_hub_errors_are_clear(tmp_path, hub):
    _publish_tiny(tmp_path, hub)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="org/missing is not on the Hub"):
        zoo.load("hf-hub:org/missing", endpoint=hub.url, cache_dir=cache)
    with pytest.raises(ValueError, match="org/tiny has no revision 'v9'"):
        zoo.load("hf-hub:org/tiny@v9", endpoint=hub.url, cache_dir=cache)
    hub.commit("org/tiny", delete=["model.safetensors"], revision="main")
    with pytest.raises(ValueError, match="has no model.safetensors"):
        zoo.load("hf-hub:org/tiny", endpoint=hub.url, cache_dir=cache)
    hub.commit("org/tiny", delete=["config.yaml"], revision="main")
    with pytest.raises(ValueError, match="is not a model folder: it has no config.yaml"):
        zoo.load("hf-hub:org/tiny", endpoint=hub.url, cache_dir=cache)
    with pytest.raises(ValueError, match="hf-hub:<org>/<repo>"):
        zoo.load("hf-hub:tiny", endpoint=hub.url, cache_dir=cache)


def test_corrupted_and_tampered_repos_are_refused(tmp_path, hub):
    _, folder, _ = _publish_tiny(tmp_path, hub)
    hub.put_file("org/tiny", "model.safetensors", b"\x00" * 64)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        zoo.load("hf-hub:org/tiny", endpoint=hub.url, cache_dir=tmp_path / "c1")
    config = (folder / "config.yaml").read_text()
    hub.put_file("org/tiny", "model.safetensors", (folder / "model.safetensors").read_bytes())
    hub.put_file("org/tiny", "config.yaml", config.replace("toy2d/mlp", "toy2d/backdoor").encode())
    with pytest.raises(ValueError, match="unknown architecture 'toy2d/backdoor'"):
        zoo.load("hf-hub:org/tiny", endpoint=hub.url, cache_dir=tmp_path / "c2")
    hub.put_file("org/tiny", "config.yaml", config.replace("prediction: eps", "prediction: ${oc.env:HOME}").encode())
    with pytest.raises(ValueError, match="interpolation"):
        zoo.load("hf-hub:org/tiny", endpoint=hub.url, cache_dir=tmp_path / "c3")


def test_released_name_resolves_cache_then_hub_then_embedded(tmp_path, hub):
    cache = tmp_path / "cache"
    embedded = zoo.load("toy2d/ring8", endpoint=hub.url, cache_dir=cache)
    assert embedded.origin.source == "embedded" and "not on the Hub" in embedded.origin.note
    done = zoo.publish(hub_module.MODEL_CARDS / "toy2d/ring8", "diffusion-zoo/toy2d-ring8", endpoint=hub.url)
    fetched = zoo.load("toy2d/ring8", endpoint=hub.url, cache_dir=cache)
    assert fetched.origin.source == "hub" and fetched.origin.revision == done.commit
    hub.requests.clear()
    cached = zoo.load("toy2d/ring8", endpoint=hub.url, cache_dir=cache)
    assert cached.origin.source == "hf-cache" and hub.requests == []
    info = zoo.info("toy2d/ring8", endpoint=hub.url, cache_dir=cache)
    assert info.source == "hf-cache" and info.parameters == sum(p.numel() for p in cached.network.parameters())
    with pytest.raises(ValueError, match="neither cached nor available"):
        zoo.load("toy2d/ring8", revision="v2", endpoint=hub.url, cache_dir=cache)


def test_publish_keeps_hand_written_prose_and_removes_stale_files(tmp_path, hub):
    _, folder, _ = _publish_tiny(tmp_path, hub)
    card = hub.read_file("org/tiny", "README.md").decode()
    edited = card.replace("## Intended use", "## Story\n\nWritten by hand on the Hub.\n\n## Intended use")
    hub.put_file("org/tiny", "README.md", edited.encode())
    hub.put_file("org/tiny", "samples/old.png", b"stale")
    (folder / "metrics.json").write_text(json.dumps({"protocol": "toy2d-eval/1", "n": 10, "steps": 5, "seed": 0,
                                                     "nfe": 5, "sampler": "ddim", "near_data": 0.5}))
    done = zoo.publish(folder, "org/tiny", endpoint=hub.url)
    card = hub.read_file("org/tiny", "README.md").decode()
    assert "Written by hand on the Hub." in card and "| `near_data` | 0.5 |" in card
    assert done.deleted == ["samples/old.png"]
    with pytest.raises(HubError, match="Entry not found"):
        hub.read_file("org/tiny", "samples/old.png")


def test_publish_to_a_branch_and_dry_run(tmp_path, hub):
    _, folder, _ = _publish_tiny(tmp_path, hub)
    main = hub.head("org/tiny")
    done = zoo.publish(folder, "org/tiny", revision="experiment", endpoint=hub.url)
    assert hub.head("org/tiny", "experiment") == done.commit and hub.head("org/tiny") == main
    hub.requests.clear()
    plan = zoo.publish(folder, "org/new", endpoint=hub.url, dry_run=True)
    assert hub.requests == [] and plan.commit is None and "config.yaml" in plan.files
    assert 'zoo.load("hf-hub:org/new")' in plan.card
    with pytest.raises(ValueError, match="repo_id must be"):
        zoo.publish(folder, "no-org", endpoint=hub.url)
    (folder / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        zoo.publish(folder, "org/tiny", endpoint=hub.url)


def test_a_cached_commit_loads_without_asking_the_hub(tmp_path, hub):
    _, _, done = _publish_tiny(tmp_path, hub)
    cache = tmp_path / "cache"
    zoo.load(f"hf-hub:org/tiny@{done.commit}", endpoint=hub.url, cache_dir=cache)
    hub.requests.clear()
    again = zoo.load(f"hf-hub:org/tiny@{done.commit}", endpoint=hub.url, cache_dir=cache)
    assert again.origin.source == "hf-cache" and hub.requests == []


def test_tagged_release_names_load_their_own_weights(tmp_path, hub, monkeypatch):
    _, _, done = _publish_tiny(tmp_path, hub, repo="org/ring8-tiny")
    toy2d = registry.modality("toy2d")
    tagged = Release("toy2d/tiny.test", "toy2d/mlp", "org/ring8-tiny", done.commit)
    monkeypatch.setitem(registry._LOADED, "toy2d", dataclasses.replace(toy2d, releases=(*toy2d.releases, tagged)))
    assert "toy2d/tiny.test" in zoo.list_models("toy2d/tiny.*", pretrained=True)
    model = zoo.load("toy2d/tiny.test", endpoint=hub.url, cache_dir=tmp_path / "cache")
    assert model.origin.source == "hub" and model.origin.revision == done.commit
    with pytest.raises(ValueError, match="unknown model 'toy2d/tiny.other'"):
        zoo.load("toy2d/tiny.other")


def test_publishing_to_an_unreachable_hub_is_a_connection_error(tmp_path):
    folder = zoo.save(tiny(), tmp_path / "m")
    with pytest.raises(ConnectionError, match="publishing to org/x failed: ConnectError"):
        zoo.publish(folder, "org/x", endpoint="http://127.0.0.1:9")


def test_zoo_model_save_card_and_loss(tmp_path):
    model = tiny()
    folder = zoo.save(model, tmp_path / "m")
    loaded = zoo.load(str(folder))
    assert loaded.card.startswith("---\n") and "# toy2d/tiny" in loaded.card and model.card == ""
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(8, 2, generator=torch.Generator().manual_seed(1))
    t = torch.full((8,), 0.5)
    loss = loaded.loss({"x": x}, t=t, noise=noise)
    den = loaded.denoiser()
    alpha, sigma = loaded.schedule.alpha(t)[:, None].float(), loaded.schedule.sigma(t)[:, None].float()
    with torch.no_grad():
        eps_hat = loaded.network(alpha * x + sigma * noise, loaded.schedule.noise_label(t))
    assert den.prediction == "eps"
    torch.testing.assert_close(loss.detach(), ((eps_hat - noise) ** 2).mean(1), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"batch\['x'\] has shape \(8, 3\)"):
        loaded.loss({"x": torch.zeros(8, 3)})
    with pytest.raises(ValueError, match=r"a batch has the keys x .* got \['y'\]"):
        loaded.loss({"y": x})
