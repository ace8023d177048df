"""task: consistency recipes: distillation from a released teacher, training from scratch, resume, errors."""
import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo import core
from zoo.train import load_recipe, train
from zoo.train.consistency import ConsistencyObjective

RECIPE = "recipes/toy2d/ring8-cm.yaml"
SMOKE = ["preset=smoke", "log.every=2", "log.checkpoint_every=3"]


def test_distillation_writes_a_consistency_model_that_samples_in_one_step(tmp_path):
    model = train(load_recipe(RECIPE, SMOKE), tmp_path)
    assert model.is_consistency and isinstance(model.denoiser(), core.consistency.Consistency)
    loaded = zoo.load(str(tmp_path / "model"))
    assert loaded.config["consistency"]["teacher"] == "toy2d/ring8" and loaded.config["task"] == "consistency"
    x, info = loaded.sample(16, steps=1, return_info=True, generator=torch.Generator().manual_seed(0))
    assert info.sampler == "consistency" and info.nfe == 1 and torch.isfinite(x).all()
    # started from the teacher's weights: the first layer moved only a little in 6 steps
    teacher = zoo.load("toy2d/ring8").network.state_dict()
    for key, value in loaded.network.state_dict().items():
        assert (value - teacher[key]).abs().max() < 0.05, key


def test_a_resumed_distillation_matches_an_uninterrupted_one_target_network_included(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    smoke = [*SMOKE, "optim.lr_schedule=constant"]  # so that stopping at step 3 changes no learning rate
    train(load_recipe(RECIPE, smoke), full)
    train(load_recipe(RECIPE, [*smoke, "optim.steps=3"]), cut)
    assert any(k.startswith("target.") for k in load_file(cut / "checkpoint.safetensors"))
    train(load_recipe(RECIPE, smoke), cut, resume=True)
    a, b = load_file(full / "checkpoint.safetensors"), load_file(cut / "checkpoint.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        if not key.startswith(("rng", "optim")):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)


def test_consistency_training_from_scratch_grows_its_grid(tmp_path):
    recipe = load_recipe(RECIPE, [*SMOKE, "consistency.mode=training", "consistency.target_decay=0",
                                  "consistency.intervals=lognormal", "consistency.weighting=inverse_gap",
                                  "consistency.s0=4", "consistency.s1=16", "optim.steps=9", "init=null"])
    model = train(recipe, tmp_path)
    assert model.config["consistency"] == {"mode": "training", "scale": 1.0, "points": 17}
    objective = ConsistencyObjective(recipe.consistency, recipe.diffusion, model, model.network, model.network,
                                     torch.device("cpu"), total_steps=recipe.optim.steps, seed=recipe.seed)
    assert [len(objective.grid(k)) for k in (0, 2, 5, 8)] == [5, 5, 9, 17]
    assert objective.extra_state == {}  # target = the student without gradient


@pytest.mark.parametrize("overrides, message", [
    (["consistency.teacher=null"], "needs consistency.teacher"),
    (["consistency.solver=ddpm"], "stochastic"),
    (["consistency.points=1"], "points >= 2"),
    (["consistency.target_decay=1.0"], "target_decay"),
    (["consistency.distance=lpips"], "consistency.distance"),
])
def test_bad_consistency_settings_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_recipe(RECIPE, [*SMOKE, *overrides])


def test_a_teacher_with_another_schedule_or_an_init_of_another_architecture_is_refused(tmp_path):
    with pytest.raises(ValueError, match="same one"):
        train(load_recipe(RECIPE, [*SMOKE, "diffusion.schedule.beta_schedule=cosine"]), tmp_path / "a")
    with pytest.raises(ValueError, match="init: 'toy2d/ring8'"):
        train(load_recipe(RECIPE, [*SMOKE, "network.params.hidden=64"]), tmp_path / "b")
    with pytest.raises(ValueError, match="unconditional"):
        train(load_recipe(RECIPE, [*SMOKE, "consistency.guidance=2.0"]), tmp_path / "c")
