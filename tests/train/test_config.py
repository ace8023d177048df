import pytest

from zoo.train import load_recipe

RECIPE = "recipes/toy2d/ring8.yaml"


def test_defaults_recipe_and_overrides_merge_in_order():
    cfg = load_recipe(RECIPE, ["optim.lr=3e-4", "seed=7"])
    assert cfg.optim.lr == 3e-4 and cfg.seed == 7
    assert cfg.network.architecture == "toy2d/mlp" and cfg.ema.decay == 0.999
    assert cfg.objective.norm == "l2"  # a schema default the recipe does not set


def test_preset_sits_between_recipe_and_overrides():
    smoke = load_recipe(RECIPE, ["preset=smoke"])
    assert smoke.optim.steps == 60 and smoke.network.params.hidden == 64
    again = load_recipe(RECIPE, ["preset=smoke", "optim.steps=10"])
    assert again.optim.steps == 10


@pytest.mark.parametrize("overrides, message", [
    (["optim.lrr=0.1"], "lrr"),
    (["optim.lr=fast"], "optim.lr"),
    (["optim.steps=1.5"], "optim.steps"),
    (["precision=fp8"], "precision = 'fp8' is not one of"),
    (["diffusion.prediction=noise"], "diffusion.prediction"),
    (["diffusion.schedule.name=Cosine"], "unknown schedule 'Cosine'"),
    (["sampling.sampler=dpm++"], "unknown sampler"),
    (["preset=huge"], "unknown preset 'huge'"),
    (["sampling.clip_x0=[1.0,-1.0]"], r"sampling.clip_x0 must be \[low, high\] with low < high"),
    (["task=segmentation"], "task = 'segmentation' is not one of"),
    (["optim.steps=0"], "optim.steps must be >= 1"),
    (["ema.decay=1.0"], "ema.decay"),
    (["seed"], "key=value"),
    (["objective.stft_weight=-0.1"], "objective.stft_weight must be >= 0"),
    (["objective.stft_ffts=[]"], r"objective.stft_ffts a list of FFT sizes >= 4, got 0.0 and \[\]"),
    (["sampling.mel_projection={iterations: 8}"], "sampling.mel_projection needs a mel to project onto: audio vocoders "
                                                  "only, not modality 'toy2d'"),
])
def test_bad_values_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_recipe(RECIPE, overrides)


def test_missing_required_value_is_named(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nmodality: toy2d\ndata: {name: ring8}\n")
    with pytest.raises(ValueError, match="network.architecture"):
        load_recipe(path)


def test_unknown_top_level_key_in_file_is_named(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nmodality: toy2d\nnetwork: {architecture: toy2d/mlp}\ndata: {name: ring8}\nlearning_rate: 3\n")
    with pytest.raises(ValueError, match="learning_rate"):
        load_recipe(path)


def test_missing_file():
    with pytest.raises(ValueError, match="does not exist"):
        load_recipe("recipes/toy2d/nope.yaml")
