import pytest
from torch import nn

import zoo
from zoo import architectures, registry
from zoo.modality import Modality, Release


def test_list_models_with_wildcards_modality_and_pretrained():
    released = ["audio/diffwave", "audio/diffwave-digits", "image/fashion", "image/fashion-cm", "image/fashion-dit",
                "image/fashion-flow", "image/fashion-ldm",
                "image/mnist", "pointcloud/furniture", "pointcloud/shapes", "protein/backbone", "toy2d/checkerboard",
                "toy2d/moons", "toy2d/ring8", "toy2d/ring8-cm", "toy2d/swissroll"]
    assert zoo.list_models(pretrained=True) == released
    architectures = ["image/dit", "image/latent", "image/unet", "image/vae", "pointcloud/transformer",
                     "protein/transformer", "toy2d/mlp"]
    assert zoo.list_models() == sorted(released + architectures)  # audio/diffwave is an architecture too
    assert zoo.list_models("*/m*") == ["image/mnist", "toy2d/mlp", "toy2d/moons"]
    assert zoo.list_models(["*ring*", "*moon*"], pretrained=True) == ["toy2d/moons", "toy2d/ring8", "toy2d/ring8-cm"]
    assert zoo.list_models(modality="audio", pretrained=True) == ["audio/diffwave", "audio/diffwave-digits"]
    assert zoo.list_models(modality="images") == []
    assert zoo.list_models("toy2d/unicorn") == []


def test_every_release_names_a_hub_repo_revision_and_an_embedded_copy():
    for name, entry in registry.releases().items():
        assert entry.architecture in registry.architectures(entry.modality)
        assert entry.repo_id.count("/") == 1 and entry.revision
        assert (zoo.names.embedded_folder(entry) / "config.yaml").is_file()
    on_disk = {f"{p.parent.name}/{p.name}" for p in zoo.hub.MODEL_CARDS.glob("*/*") if p.is_dir()}
    assert on_disk == set(registry.releases())


def test_register_checks_names_and_duplicates():
    @zoo.register("testmod/net")
    def net(width: int = 2) -> nn.Module:
        return nn.Linear(width, width)

    try:
        assert architectures.build_network("testmod/net", {"width": 3}).in_features == 3
        with pytest.raises(ValueError, match="has no parameter"):
            architectures.build_network("testmod/net", {"depth": 3})
        with pytest.raises(ValueError, match="already registered"):
            zoo.register("testmod/net")(lambda: nn.Identity())
        with pytest.raises(ValueError, match="names are '<modality>/<name>'"):
            zoo.register("flat")
    finally:
        architectures._ARCHITECTURES.pop("testmod/net", None)


def test_a_modality_is_checked_when_declared_and_registered(monkeypatch):
    toy2d = registry.modality("toy2d")
    with pytest.raises(ValueError, match="releases 'image/x', a model of another modality"):
        Modality(**{**toy2d.__dict__, "releases": (Release("image/x", "image/unet", "org/x"),)})
    with pytest.raises(ValueError, match="folder_format '.gif' is not one of"):
        Modality(**{**toy2d.__dict__, "folder_format": ".gif"})
    with pytest.raises(ValueError, match="samples are written as"):
        toy2d.format(".gif")
    with pytest.raises(ValueError, match="takes a zoo.modality.Modality"):
        registry.add_modality(object())
    with pytest.raises(ValueError, match="already registered"):
        registry.add_modality(Modality(**{**toy2d.__dict__, "releases": ()}))
    twice = Modality(**{**toy2d.__dict__, "name": "toy2d-copy", "releases": (
        Release("toy2d-copy/ring8", "toy2d/mlp", "someone/else"),)})
    monkeypatch.setitem(registry._ADDED, "toy2d-copy", twice)
    monkeypatch.setitem(registry._LOADED, "toy2d-copy", twice)
    assert "toy2d-copy/ring8" in registry.releases()


def test_unknown_modality_and_architecture():
    with pytest.raises(ValueError, match="unknown modality 'sound'"):
        registry.modality("sound")
    with pytest.raises(ValueError, match="unknown architecture 'sound/net'"):
        architectures.build_network("sound/net", {})


def test_an_architecture_is_found_before_its_modality_was_imported():
    """A fresh process that builds a model straight from a config loads the architecture's modality itself."""
    import subprocess
    import sys

    code = ("import sys, zoo.architectures as a; assert 'modalities.toy2d' not in sys.modules; "
            "net = a.build_network('toy2d/mlp', {}); print(type(net).__name__, 'modalities.toy2d' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] == "True"
    with pytest.raises(ValueError, match="unknown architecture 'nope/mlp'"):
        architectures.build_network("nope/mlp", {})
