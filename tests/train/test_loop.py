import csv
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

import zoo
from tests.helpers import write_tiny_clips
from zoo import core, hub
from zoo.train import load_recipe, train
from zoo.train.loop import lr_at
from zoo.train.pairs import make_pairs

RECIPE = "recipes/toy2d/ring8.yaml"
SMOKE = ["preset=smoke", "optim.steps=60", "log.checkpoint_every=30", "log.every=20"]


def steps_logged(out):
    with open(out / "log.csv") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


def test_smoke_run_writes_everything_and_loads(tmp_path):
    model = train(load_recipe(RECIPE, SMOKE), tmp_path)
    for name in ("checkpoint.safetensors", "log.csv", "recipe.yaml", "model/config.yaml", "model/model.safetensors",
                 "model/training/recipe.yaml", "model/samples/samples.png"):
        assert (tmp_path / name).is_file(), name
    assert steps_logged(tmp_path) == [20, 40, 60]
    loaded = zoo.load(str(tmp_path / "model"))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    torch.testing.assert_close(loaded.sample(8, generator=g1), model.sample(8, generator=g2))


def test_loss_falls(tmp_path):
    train(load_recipe(RECIPE, ["preset=smoke", "optim.steps=300", "log.every=50", "log.checkpoint_every=300",
                               "optim.lr_schedule=constant"]), tmp_path)
    with open(tmp_path / "log.csv") as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    assert sum(losses[-2:]) / 2 < 0.8 * losses[0]


KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from zoo.train import load_recipe, train
    recipe = load_recipe(sys.argv[1], sys.argv[3:])
    def hook(step, info):
        if step == int(os.environ["KILL_AT"]):
            os.kill(os.getpid(), signal.SIGKILL)
    train(recipe, sys.argv[2], on_step=hook)
""")


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_weights(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    train(load_recipe(RECIPE, SMOKE), full)
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, RECIPE, str(killed), *SMOKE],
                          env={**os.environ, "KILL_AT": "45"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    assert steps_logged(killed) == [20, 40]  # killed after step 45; last checkpoint at 30
    train(load_recipe(RECIPE, SMOKE), killed, resume=True)
    assert steps_logged(killed) == [20, 40, 60]
    for name in ("model/model.safetensors", "checkpoint.safetensors"):
        a, b = load_file(full / name), load_file(killed / name)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key


def test_resume_guards(tmp_path):
    train(load_recipe(RECIPE, SMOKE), tmp_path)
    with pytest.raises(ValueError, match="already holds a run"):
        train(load_recipe(RECIPE, SMOKE), tmp_path)
    with pytest.raises(ValueError, match="optim.lr"):
        train(load_recipe(RECIPE, SMOKE + ["optim.lr=0.5"]), tmp_path, resume=True)
    with pytest.raises(ValueError, match="no checkpoint"):
        train(load_recipe(RECIPE, SMOKE), tmp_path / "empty", resume=True)
    # steps may grow, and sampling settings (dumps and the model's defaults) do not touch the weights
    longer = train(load_recipe(RECIPE, SMOKE + ["optim.steps=70", "sampling.steps=7"]), tmp_path, resume=True)
    assert longer is not None and steps_logged(tmp_path)[-1] == 70


def test_a_time_limit_stops_at_a_log_step_saves_the_model_and_resumes(tmp_path, monkeypatch):
    import zoo.train.loop as loop

    clock = iter(range(0, 10**6, 1))  # one second per reading of the clock
    monkeypatch.setattr(loop.time, "perf_counter", lambda: float(next(clock)))
    limited = SMOKE + ["optim.max_minutes=0.5"]
    train(load_recipe(RECIPE, limited), tmp_path)
    logged = steps_logged(tmp_path)
    assert logged[-1] < 60 and logged[-1] % 20 == 0  # stopped early, at a log step
    run = json.loads((tmp_path / "model" / "training" / "run.json").read_text())
    (segment,) = run["segments"]
    assert segment["steps"] == segment["last_step"] == logged[-1] and "time limit" in segment["stopped"]
    assert load_file(tmp_path / "checkpoint.safetensors")  # the checkpoint of the last step done
    monkeypatch.setattr(loop.time, "perf_counter", lambda: 0.0)  # time stands still: no limit is reached
    train(load_recipe(RECIPE, SMOKE + ["optim.max_minutes=1"]), tmp_path, resume=True)
    assert steps_logged(tmp_path)[-1] == 60


def test_learning_rate_schedule():
    cfg = load_recipe(RECIPE, ["optim.lr=1.0", "optim.warmup_steps=10", "optim.steps=110",
                               "optim.lr_schedule=cosine", "optim.min_lr_ratio=0.1"]).optim
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.55)  # halfway through the cosine
    assert lr_at(110, cfg) == pytest.approx(0.1)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, overrides, out, results):
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    recipe = load_recipe(RECIPE, overrides)

    def keep(step, info):
        if step == recipe.optim.steps:
            save_file({k: v.detach().clone() for k, v in info["network"].state_dict().items()},
                      os.path.join(results, f"rank{rank}.safetensors"))
    train(recipe, out, on_step=keep)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_doubled_batch(tmp_path):
    overrides = ["preset=smoke", "optim.steps=25", "optim.batch_size=128", "log.checkpoint_every=25"]
    mp.spawn(_ddp_worker, args=(2, _free_port(), overrides, str(tmp_path / "ddp"), str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key  # replicas stay identical
    single = train(load_recipe(RECIPE, overrides), tmp_path / "single")
    one = load_file(tmp_path / "single" / "checkpoint.safetensors")
    for key in rank0:
        torch.testing.assert_close(rank0[key], one[f"network.{key}"], rtol=0, atol=1e-5)
    assert single is not None


@pytest.mark.parametrize("recipe", sorted(str(p) for p in __import__("pathlib").Path("recipes").glob("*/*.yaml")))
def test_every_recipe_has_a_smoke_preset_that_trains(recipe, tmp_path):
    overrides = ["preset=smoke"]
    if "/audio/" in recipe:  # a few synthetic clips stand in for the prepared speech file
        overrides.append(f"data.params.path={write_tiny_clips(tmp_path / 'clips.npz')}")
    if recipe.endswith("image/fashion-ldm.yaml"):  # latent diffusion needs its autoencoder trained first
        train(load_recipe("recipes/image/fashion-vae.yaml", ["preset=smoke"]), tmp_path / "vae")
        overrides.append(f"data.params.latent={tmp_path / 'vae' / 'model'}")
    if load_recipe(recipe, overrides).data.pairs is not None:  # reflow: pairs of the released teacher, few and quick
        teacher = {"toy2d": "toy2d/ring8", "image": "image/fashion"}[load_recipe(recipe, overrides).modality]
        pairs = make_pairs(zoo.load(teacher), 8, tmp_path / "pairs.npz", sampler="euler", steps=2, progress=False)
        overrides += [f"data.pairs={pairs}", f"init={teacher}"]
    model = train(load_recipe(recipe, overrides), tmp_path / "run")
    x, _ = hub.draw_samples(model, 2)
    assert torch.isfinite(x).all()
    assert (tmp_path / "run" / "model" / "README.md").is_file()


@pytest.mark.parametrize("diffusion, objective", [
    ("{schedule: {name: EDM}, prediction: edm}", "{time_sampling: lognormal, weighting: edm}"),
    ("{schedule: {name: RectifiedFlow}, prediction: flow}", "{time_sampling: logit_normal}"),
    ("{schedule: {name: VP}, prediction: v}", "{weighting: min_snr}"),
])
def test_other_schedules_and_parameterizations_train(tmp_path, diffusion, objective):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: alt\nmodality: toy2d\nnetwork: {{architecture: toy2d/mlp, params: {{hidden: 32, depth: 1}}}}\n"
                      f"data: {{name: moons}}\ndiffusion: {diffusion}\nobjective: {objective}\n"
                      f"optim: {{steps: 40, batch_size: 64}}\nlog: {{progress: false, every: 10}}\n")
    model = train(load_recipe(recipe), tmp_path / "run")
    with open(tmp_path / "run" / "log.csv") as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    assert all(torch.isfinite(torch.tensor(losses))) and torch.isfinite(model.sample(16, steps=4)).all()


class MaskedSets:
    """Variable-length sets of 3-D points (B, 5, 3), the last ones padding, with class labels."""

    def batch(self, n, generator):
        lengths = torch.randint(2, 6, (n,), generator=generator)
        mask = (torch.arange(5)[None] < lengths[:, None]).float()
        x = torch.randn(n, 5, 3, generator=generator) * mask[..., None]
        return {"x": x, "mask": mask, "cond": {"label": torch.zeros(n, dtype=torch.long)}, "null_cond": {"label": 1}}


def test_masked_batches_draw_zero_centred_noise_on_the_real_elements_and_keep_the_mask():
    from zoo import core
    from zoo.train.loop import _step_batch

    recipe = load_recipe(RECIPE, ["diffusion.prior=zero_com", "objective.cond_dropout=1.0", "optim.batch_size=8"])
    denoiser = core.Denoiser(torch.nn.Identity(), core.schedules.DDPM(), "eps")
    x, t, noise, cond, mask = _step_batch(MaskedSets(), 3, **_sections(recipe, denoiser), world=1, rank=0)
    real = mask[..., None]
    torch.testing.assert_close((noise * real).sum(1), torch.zeros(8, 3), atol=1e-6, rtol=0)
    assert torch.equal(noise * (1 - real), torch.zeros_like(noise)) and noise.abs().sum() > 0
    assert torch.equal(cond["mask"], mask) and (cond["label"] == 1).all()  # labels dropped, the mask never
    halves = [_step_batch(MaskedSets(), 3, **_sections(recipe, denoiser), world=2, rank=r) for r in (0, 1)]
    torch.testing.assert_close(torch.cat([h[2] for h in halves]), noise)  # two processes draw the same batch
    assert torch.equal(torch.cat([h[4] for h in halves]), mask)
    with pytest.raises(ValueError, match="diffusion.prior = 'gaussian' is not one of"):
        load_recipe(RECIPE, ["diffusion.prior=gaussian"])


def test_a_batch_that_carries_its_noise_is_trained_on_that_noise():
    """Reflow pairs: the data set gives the noise each sample came from, and the loop uses it."""
    from zoo.train.loop import _step_batch

    class Pairs:
        def batch(self, n, generator):
            x = torch.randn(n, 2, generator=generator)
            return {"x": x, "noise": -x}

    recipe = load_recipe("recipes/toy2d/ring8.yaml", ["preset=smoke"])
    denoiser = zoo.model.ZooModel.from_config({
        "architecture": "toy2d/mlp", "network": {"hidden": 8, "depth": 1}, "schedule": {"name": "RectifiedFlow"},
        "prediction": "flow", "sample_shape": [2]}).denoiser()
    x, t, noise, cond, mask = _step_batch(Pairs(), 3, **_sections(recipe, denoiser), world=1, rank=0)
    torch.testing.assert_close(noise, -x)
    assert cond == {} and mask is None and t.shape == (recipe.optim.batch_size,)


def _sections(recipe, denoiser) -> dict:
    """The recipe sections ``_step_batch`` takes."""
    return dict(optim=recipe.optim, objective=recipe.objective, seed=recipe.seed, schedule=denoiser.schedule,
                prior=lambda cond, mask: core.priors.from_name(recipe.diffusion.prior, mask))

