import pytest
from torch import nn

import zoo
from zoo import registry


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
        assert (zoo.hub.MODEL_CARDS / name / "config.yaml").is_file()
    on_disk = {f"{p.parent.name}/{p.name}" for p in zoo.hub.MODEL_CARDS.glob("*/*") if p.is_dir()}
    assert on_disk == set(registry.releases())


def test_register_checks_names_and_duplicates():
    @zoo.register("testmod/net")
    def net(width: int = 2) -> nn.Module:
        return nn.Linear(width, width)

    try:
        assert registry.build_network("testmod/net", {"width": 3}).in_features == 3
        with pytest.raises(ValueError, match="has no parameter"):
            registry.build_network("testmod/net", {"depth": 3})
        with pytest.raises(ValueError, match="already registered"):
            zoo.register("testmod/net")(lambda: nn.Identity())
        with pytest.raises(ValueError, match="names are '<modality>/<name>'"):
            zoo.register("flat")
        with pytest.raises(ValueError, match="already released"):
            registry.release("toy2d/ring8", architecture="toy2d/mlp", repo_id="someone/else")
    finally:
        registry._ARCHITECTURES.pop("testmod/net", None)


def test_unknown_modality_and_architecture():
    with pytest.raises(ValueError, match="unknown modality 'sound'"):
        registry.modality("sound")
    with pytest.raises(ValueError, match="unknown modality 'sound'"):
        registry.build_network("sound/net", {})
