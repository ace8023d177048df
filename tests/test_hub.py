import pytest
import torch
from safetensors.torch import load_file, save_file

import zoo
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
