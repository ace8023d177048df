import pytest
import torch

from tests.helpers import gen, noise, oracle
from zoo import core
from zoo.core import schedules

F64 = torch.float64
DETERMINISTIC = [n for n in core.samplers.names() if not core.samplers.get(n).stochastic]
STOCHASTIC = [n for n in core.samplers.names() if core.samplers.get(n).stochastic]


def test_every_required_sampler_is_registered():
    required = {"ddpm", "ddim", "euler", "euler_ancestral", "heun", "dpmpp_2s", "dpmpp_2m", "dpmpp_3m", "dpmpp_2m_sde",
                "unipc", "deis", "plms", "euler_maruyama", "pc", "langevin", "ode"}
    assert required <= set(core.samplers.names())


@pytest.mark.parametrize("name, steps, options, nfe", [
    ("ddim", 10, {}, 10), ("ddpm", 7, {}, 7), ("euler", 10, {}, 10), ("heun", 10, {}, 19), ("dpmpp_2s", 10, {}, 19),
    ("dpmpp_2m", 10, {}, 10), ("dpmpp_3m", 10, {}, 10), ("unipc", 10, {}, 10), ("deis", 10, {}, 10),
    ("plms", 10, {}, 11), ("pc", 10, {"n_corrector": 2}, 30), ("langevin", 10, {"n_inner": 3}, 31),
    ("euler_maruyama", 10, {}, 10),
])
def test_nfe_is_the_number_of_network_calls(ring, name, steps, options, nfe):
    calls = []
    net = ring.model(schedules.DDPM(), "eps")
    den = core.Denoiser(lambda x, label: calls.append(1) or net(x, label), schedules.DDPM(), "eps")
    _, info = core.sample(den, noise(8), sampler=name, steps=steps, generator=gen(), return_info=True, **options)
    assert info.nfe == nfe == len(calls)
    assert info.ts.shape == (steps + 1,) and info.ts[-1] == 0


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_samplers_leave_the_generator_alone(ring, name):
    g = gen(5)
    before = g.get_state().clone()
    core.sample(oracle(ring, schedules.DDPM()), noise(8), sampler=name, steps=6, generator=g)
    assert torch.equal(g.get_state(), before)


@pytest.mark.parametrize("name", STOCHASTIC)
def test_stochastic_samplers_are_reproducible_from_a_seed(ring, name):
    den = oracle(ring, schedules.DDPM())
    a, b, c = (core.sample(den, noise(8), sampler=name, steps=6, generator=gen(s)) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.allclose(a, c)


@pytest.mark.parametrize("name", ["ddim", "euler", "heun", "dpmpp_2m", "dpmpp_3m", "unipc", "deis", "plms", "dpmpp_2s"])
def test_result_does_not_depend_on_what_the_network_predicts(ring, name):
    """With exact networks every parameterization gives the same x0 and eps, so the same samples."""
    sched = schedules.VP()
    x_T = noise(32, seed=4)
    outs = [core.sample(oracle(ring, sched, p), x_T, sampler=name, steps=8) for p in core.PREDICTIONS]
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], rtol=1e-8, atol=1e-8)


@pytest.fixture(scope="module")
def swd():
    ring = core.mixture.GaussianMixture.ring()
    data = ring.sample(4000, gen(1))
    return lambda x: core.mixture.sliced_wasserstein(x, data, projections=512, generator=gen(5))


# 4000 fresh draws from the data sit at 0.03-0.05 from the reference draws
FLOOR = 0.06


def spread(x, ring):
    """Per-coordinate variance around the nearest component mean (the data's is 0.1^2)."""
    return (torch.cdist(x, ring.means).min(1).values ** 2).mean().item() / 2


def reproduces(x, ring, swd) -> bool:
    counts = torch.bincount(torch.cdist(x, ring.means).argmin(1), minlength=8)
    balanced = ((counts - len(x) / 8).abs() < 0.15 * len(x) / 8).all()
    return swd(x) < FLOOR and 0.8 * 0.01 < spread(x, ring) < 1.2 * 0.01 and bool(balanced)


def test_the_check_separates_right_from_wrong(ring, swd):
    assert reproduces(ring.sample(4000, gen(9)), ring, swd)
    assert not reproduces(core.mixture.GaussianMixture.ring(std=0.115).sample(4000, gen(9)), ring, swd)
    assert not reproduces(core.mixture.GaussianMixture.ring(std=0.085).sample(4000, gen(9)), ring, swd)
    assert not reproduces(core.mixture.GaussianMixture.ring(radius=1.08).sample(4000, gen(9)), ring, swd)
    lopsided = core.mixture.GaussianMixture(ring.means, 0.1, weights=[1.3] + [1.0] * 7)
    assert not reproduces(lopsided.sample(4000, gen(9)), ring, swd)


@pytest.mark.parametrize("name, steps, options", [
    ("ddpm", 100, {}), ("euler_ancestral", 100, {}), ("ddim", 50, {"eta": 0.5}), ("dpmpp_2m_sde", 50, {}),
    ("euler_maruyama", 200, {}), ("pc", 100, {}), ("langevin", 100, {}), ("euler", 100, {"churn": 20.0}),
])
def test_stochastic_samplers_reproduce_the_mixture(ring, swd, name, steps, options):
    x = core.sample(oracle(ring, schedules.DDPM()), noise(4000, seed=2), sampler=name, steps=steps,
                    generator=gen(3), **options)
    assert reproduces(x, ring, swd)


@pytest.mark.parametrize("name", ["ddim", "dpmpp_2m", "unipc", "dpmpp_2m_sde", "heun", "euler"])
def test_zero_terminal_snr_from_pure_noise(ring, name):
    """A v-prediction model on a zero-terminal-SNR table samples from alpha = 0 (t = 1)."""
    sched = schedules.DDPM(zero_terminal_snr=True)
    den = oracle(ring, sched, "v")
    x_T = noise(256, seed=6)
    ref = core.sample(den, x_T, sampler="ode", timesteps=torch.tensor([1.0, sched.t_min]), rtol=1e-9, atol=1e-9)
    x = core.sample(den, x_T, sampler=name, steps=100, generator=gen(1))
    assert torch.isfinite(x).all()
    if not core.samplers.get(name).stochastic:
        assert (x - ref).norm(dim=1).mean().item() < 0.03


def test_callback_sees_every_step(ring):
    seen = []
    core.sample(oracle(ring, schedules.DDPM()), noise(4), sampler="dpmpp_2m", steps=5,
                callback=lambda d: seen.append((d["i"], d["t"], d["x"].shape, d["x0"].shape)))
    assert [s[0] for s in seen] == list(range(5))
    assert all(a[1] > b[1] for a, b in zip(seen, seen[1:]))


def test_conditions_reach_the_model(ring):
    sched = schedules.DDPM()
    den = oracle(ring, sched)
    x = core.sample(den, noise(64), sampler="dpmpp_2m", steps=20, cond={"label": torch.full((64,), 2)})
    nearest = torch.cdist(x, ring.means).argmin(1)
    assert (nearest == 2).all()


@pytest.mark.parametrize("x_T, kwargs, message", [
    (torch.randn(4), {}, "shape \\(B, ...\\)"),
    (torch.full((4, 2), float("nan")), {}, "NaN or inf"),
    (torch.randn(4, 2), {"sampler": "dpm++"}, "unknown sampler 'dpm\\+\\+'"),
    (torch.randn(4, 2), {"steps": 0}, "steps must be an integer >= 1"),
    (torch.randn(4, 2), {"sampler": "ddim", "etta": 0.5}, "no option 'etta'; its options are \\['eta'\\]"),
    (torch.randn(4, 2), {"sampler": "ddpm", "eta": 0.5}, "fixes eta=1.0"),
    (torch.randn(4, 2), {"timesteps": "uniform"}, "unknown timestep placement 'uniform'"),
    (torch.randn(4, 2), {"sampler": "unipc", "order": 5}, "order must be 1, 2 or 3"),
    (torch.randn(4, 2), {"sampler": "ddim", "eta": -1.0}, "eta must be >= 0"),
    (torch.randint(0, 3, (4, 2)), {}, "floating-point"),
])
def test_bad_input_raises_a_clear_error(ring, x_T, kwargs, message):
    den = oracle(ring, schedules.DDPM())
    with pytest.raises(ValueError, match=message):
        core.sample(den, x_T, **kwargs)


def test_sde_samplers_refuse_to_start_without_signal(ring):
    den = oracle(ring, schedules.RectifiedFlow(), "flow")
    with pytest.raises(ValueError, match="alpha\\(t\\) > 0 at the first step"):
        core.sample(den, noise(4), sampler="euler_maruyama", steps=5, timesteps="linspace", generator=gen())
    with pytest.raises(ValueError, match="alpha\\(t\\) > 0 at the first step"):
        core.sample(den, noise(4), sampler="plms", steps=5, timesteps="linspace")
