import textwrap

import pytest
import torch

import zoo
from tests.helpers import gen
from zoo.model import ZooModel
from zoo.train import load_recipe, train

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_RECIPE = textwrap.dedent("""
    name: tiny
    modality: protein
    network: {architecture: protein/transformer, params: {hidden: 16, depth: 1, heads: 2}}
    diffusion: {schedule: {name: EDM}, prediction: edm, sigma_data: 10.0, prior: zero_com}
    objective: {weighting: edm, time_sampling: lognormal}
    data: {name: ideal, params: {crop: [20, 40]}}
    optim: {batch_size: 4, steps: 6, warmup_steps: 1}
    sampling: {sampler: dpmpp_2m, steps: 3, timesteps: karras, n: 1}
    log: {every: 2, checkpoint_every: 3, progress: false}
""")


@pytest.fixture(scope="module")
def model():
    m = ZooModel.from_config({
        "name": "protein/test", "modality": "protein", "architecture": "protein/transformer",
        "network": {"hidden": 16, "depth": 1, "heads": 2}, "schedule": {"name": "EDM"}, "prediction": "edm",
        "sigma_data": 10.0, "prior": "zero_com", "sample_shape": [64, 4, 3],
        "sampling": {"sampler": "dpmpp_2m", "steps": 3, "timesteps": "karras"}, "data": {"name": "ideal"}})
    with torch.no_grad():
        for p in m.network.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=gen(p.numel())))
    return m


def test_chains_of_different_lengths_in_one_batch_are_centred_and_padded(model):
    x = model.sample(3, length=[10, 20, 15], generator=gen(0))
    assert x.shape == (3, 20, 4, 3) and torch.isfinite(x).all()
    for chain, length in zip(x, (10, 20, 15)):
        assert (chain[length:] == 0).all()
        assert chain[:length].reshape(-1, 3).mean(0).abs().max() < 1e-3  # zero centre of mass over real atoms
    torch.testing.assert_close(model.sample(2, length=12, generator=gen(1)), model.sample(2, length=[12, 12],
                                                                                        generator=gen(1)))


@pytest.mark.parametrize("length, message", [(1.5, "integer"), ([10, 20], "one integer or 3"), (1, "at least 2")])
def test_bad_lengths_are_named(model, length, message):
    with pytest.raises(ValueError, match=message):
        model.sample(3, length=length)


def test_a_masked_zero_centred_recipe_trains_saves_and_loads(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    trained = train(load_recipe(recipe), tmp_path / "run")
    loaded = zoo.load(str(tmp_path / "run" / "model"))
    assert loaded.config["prior"] == "zero_com" and loaded.sample_shape == (40, 4, 3)
    torch.testing.assert_close(loaded.sample(2, length=25, generator=gen(2)), trained.sample(2, length=25, generator=gen(2)))


def test_evaluation_tells_an_untrained_model_from_real_chains(model):
    from modalities.protein.data import dataset
    from modalities.protein.evaluation import evaluate

    result = evaluate(model, dataset("ideal"), n=4, steps=3)
    real = result["real_chains"]
    assert result["protocol"] == "protein-backbone-eval/1" and result["n"] == 4
    assert real["bonds_within"] == 1.0 and real["angles_within"] == 1.0 and real["break_free"] == 1.0
    assert real["clash_rate"] == 0.0 and real["rg_ratio"] > 0
    assert result["bonds_within"] < 0.5 and result["break_free"] < 1.0  # random weights: no protein geometry
    assert result["phi_psi_kl"] > real["phi_psi_kl"]
    assert result["equivariance_error"] > 1e-3 and "not computed" in result["designability"]
    assert result["seconds_per_100_residues"] > 0
