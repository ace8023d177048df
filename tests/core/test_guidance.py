import pytest
import torch

from tests.helpers import gen, noise, oracle
from zoo import core
from zoo.core import schedules
from zoo.core.guidance import ClassifierFree, ClassifierGuidance, Inpaint, Threshold

F64 = torch.float64
SCHED = schedules.DDPM()


def labels(n, value):
    return {"label": torch.full((n,), value)}


def test_scale_one_is_conditional_and_zero_is_unconditional(ring):
    den = oracle(ring, SCHED)
    x = noise(16, seed=1) * 0.8
    for t in (0.9, 0.4, 0.05):
        cond, uncond = den(x, t, **labels(16, 2)), den(x, t, **labels(16, -1))
        torch.testing.assert_close(ClassifierFree(den, 1.0, labels(16, 2), labels(16, -1))(x, t).x0, cond.x0)
        torch.testing.assert_close(ClassifierFree(den, 0.0, labels(16, 2), labels(16, -1))(x, t).eps, uncond.eps)
        guided = ClassifierFree(den, 3.0, labels(16, 2), labels(16, -1))(x, t)
        torch.testing.assert_close(guided.x0, uncond.x0 + 3.0 * (cond.x0 - uncond.x0))
        # batched (same keys) and separate branches (different keys) agree
        separate = ClassifierFree(den, 3.0, labels(16, 2), {})(x, t)
        torch.testing.assert_close(separate.x0, guided.x0)


def test_guidance_moves_samples_toward_the_condition():
    broad = core.mixture.GaussianMixture.ring(std=0.45)  # classes overlap
    den = oracle(broad, SCHED)
    n = 1000
    p_class = []
    for w in (0.0, 1.0, 3.0):
        guided = ClassifierFree(den, w, labels(n, 3), labels(n, -1))
        x = core.sample(guided, noise(n, seed=2), sampler="dpmpp_2m", steps=20)
        p_class.append(broad.class_log_probs(x, 1.0, 0.0)[:, 3].exp().mean().item())
    assert p_class[0] == pytest.approx(1 / 8, abs=0.03)
    assert p_class[0] < p_class[1] < p_class[2] and p_class[2] > 0.8


def test_rescale_matches_the_conditional_spread():
    mix = core.mixture.GaussianMixture(torch.randn(4, 6, generator=gen(0), dtype=F64), 0.3, classes=[0, 0, 1, 1])
    den = oracle(mix, SCHED)
    x = noise(8, dim=6, seed=3)
    cond = den(x, 0.5, **labels(8, 1)).x0
    plain = ClassifierFree(den, 5.0, labels(8, 1), labels(8, -1))(x, 0.5).x0
    full = ClassifierFree(den, 5.0, labels(8, 1), labels(8, -1), rescale=1.0)(x, 0.5).x0
    half = ClassifierFree(den, 5.0, labels(8, 1), labels(8, -1), rescale=0.5)(x, 0.5).x0
    torch.testing.assert_close(full.std(1), cond.std(1))
    torch.testing.assert_close(half, 0.5 * full + 0.5 * plain)


def test_interval_limits_guidance_to_chosen_times(ring):
    den = oracle(ring, SCHED)
    x = noise(8, seed=4)
    guided = ClassifierFree(den, 4.0, labels(8, 2), labels(8, -1), interval=(0.2, 0.6))
    torch.testing.assert_close(guided(x, 0.8).x0, den(x, 0.8, **labels(8, 2)).x0)
    torch.testing.assert_close(guided(x, 0.1).x0, den(x, 0.1, **labels(8, 2)).x0)
    inside = ClassifierFree(den, 4.0, labels(8, 2), labels(8, -1))(x, 0.4).x0
    torch.testing.assert_close(guided(x, 0.4).x0, inside)


def test_classifier_guidance_with_the_exact_classifier_is_the_conditional_denoiser(ring):
    """Bayes: grad log p(x_t | y) = grad log p(x_t) + grad log p(y | x_t)."""
    def classifier(x_t, noise_label):
        a, s = SCHED.alpha_sigma(SCHED.t_of_noise_label(noise_label.to(F64)))
        return ring.class_log_probs(x_t, a, s)

    den = oracle(ring, SCHED)
    x = noise(16, seed=5)
    guided = ClassifierGuidance(den, classifier, torch.full((16,), 5), scale=1.0)
    for t in (0.8, 0.3):
        torch.testing.assert_close(guided(x, t).x0, den(x, t, **labels(16, 5)).x0, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("name", core.samplers.names())
def test_inpainting_keeps_the_known_part_exact(ring, name):
    n = 64
    known = torch.zeros(n, 2, dtype=F64)
    known[:, 0] = torch.linspace(-1, 1, n, dtype=F64)
    mask = torch.tensor([1.0, 0.0], dtype=F64)
    x = core.sample(Inpaint(oracle(ring, SCHED), known, mask), noise(n, seed=6), sampler=name, steps=12,
                    generator=gen(7))
    torch.testing.assert_close(x[:, 0], known[:, 0], rtol=0, atol=1e-9)
    assert torch.isfinite(x).all() and x[:, 1].std() > 0.05  # the free part is generated, not copied


def test_inpainting_a_known_part_that_moves_with_the_prediction_stays_on_the_prior_subspace():
    """A callable known part (here: a fixed shape translated onto where x0 puts it) is held up to
    that motion, and x0 is projected onto the zero-centre-of-mass subspace after the replacement."""
    from zoo.core.priors import ZeroCentreOfMass

    prior = ZeroCentreOfMass()
    shape = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=F64)  # 3 of the 6 points are known

    def network(x, label):  # any smooth function: x0 pulled toward a fixed, off-centre cloud
        return 0.5 * x + torch.linspace(-1, 3, 12, dtype=F64).reshape(1, 6, 2)

    den = core.Denoiser(network, core.schedules.EDM(), "x0", prior=prior, sigma_data=1.0)
    mask = torch.tensor([1.0, 1, 1, 0, 0, 0], dtype=F64)[None, :, None]

    def known(x0):  # the shape, moved so that its centre sits where x0 puts the known points' centre
        placed = shape + (x0[:, :3].mean(1, keepdim=True) - shape.mean(0))
        return torch.cat([placed, torch.zeros_like(x0[:, 3:])], 1)

    x_T = prior.noise(torch.empty(5, 6, 2, dtype=F64), gen(1)) * 80
    x = core.sample(Inpaint(den, known, mask), x_T, sampler="heun", steps=8)
    torch.testing.assert_close(x.mean(1), torch.zeros(5, 2, dtype=F64), rtol=0, atol=1e-9)
    torch.testing.assert_close(x[:, :3] - x[:, :3].mean(1, keepdim=True), (shape - shape.mean(0)).expand(5, 3, 2),
                               rtol=0, atol=1e-9)
    assert (x[:, 3:] - x[:, 3:].mean(1, keepdim=True)).abs().max() > 0.01  # the rest is not copied
    fixed = torch.cat([shape, torch.zeros(3, 2, dtype=F64)])[None].expand(5, 6, 2)
    x0 = Inpaint(den, fixed, mask)(x_T, 0.5).x0  # a fixed known part off the subspace is projected too
    torch.testing.assert_close(x0.mean(1), torch.zeros(5, 2, dtype=F64), rtol=0, atol=1e-9)


def test_guidance_input_errors(ring):
    den = oracle(ring, SCHED)
    with pytest.raises(ValueError, match="rescale"):
        ClassifierFree(den, 2.0, {}, {}, rescale=2.0)
    with pytest.raises(ValueError, match="interval"):
        ClassifierFree(den, 2.0, {}, {}, interval=(0.5, 0.2))
    with pytest.raises(ValueError, match="does not broadcast"):
        Inpaint(den, torch.zeros(4, 2), torch.ones(3))
    with pytest.raises(ValueError, match="known part has shape"):
        Inpaint(den, torch.zeros(4, 2, dtype=F64), torch.ones(2, dtype=F64))(noise(3), 0.5)


def test_threshold_clips_x0_keeps_x_consistent_and_leaves_in_range_predictions_alone(ring):
    den = oracle(ring, SCHED)  # the unit-circle ring: near the data its x0 predictions leave [-0.5, 0.5]
    x = noise(64, seed=3)
    for t in (0.3, 0.05):
        plain, clipped = den(x, t), Threshold(den, -0.5, 0.5)(x, t)
        assert plain.x0.abs().max() > 0.5 and clipped.x0.abs().max() <= 0.5
        torch.testing.assert_close(clipped.x0, plain.x0.clamp(-0.5, 0.5))
        alpha, sigma = SCHED.alpha_sigma(torch.tensor(t, dtype=F64))
        torch.testing.assert_close(alpha * clipped.x0 + sigma * clipped.eps, x)  # the state is unchanged
        wide = Threshold(den, -100.0, 100.0)(x, t)
        torch.testing.assert_close(wide.eps, plain.eps)
    with pytest.raises(ValueError, match="low < high"):
        Threshold(den, 1.0, -1.0)


# ------------------------------------------------------------------------------------------------ potentials

def test_a_potential_steps_x0_down_its_gradient_and_keeps_x(ring):
    from zoo.core.guidance import Potential

    den = oracle(ring, SCHED)
    x, centre = noise(8, seed=2), torch.tensor([3.0, -1.0], dtype=F64)

    def energy(x0):  # 0.5 |x0 - centre|^2: gradient x0 - centre
        return 0.5 * (x0 - centre).pow(2).sum(1)
    plain = den(x, 0.3)
    guided = Potential(den, energy, 0.25)(x, 0.3)
    torch.testing.assert_close(guided.x0, plain.x0 - 0.25 * (plain.x0 - centre))
    torch.testing.assert_close(guided.x, x)  # the state is untouched: eps follows from x and the new x0
    capped = Potential(den, energy, 0.25, max_step=0.01)(x, 0.3)
    step = (plain.x0 - capped.x0).abs().amax(1)
    torch.testing.assert_close(step, torch.full((8,), 0.01, dtype=F64))
    # above `below` (in sigma / alpha) nothing changes
    high = 0.99
    level = float(SCHED.sigma(high) / SCHED.alpha(high))
    torch.testing.assert_close(Potential(den, energy, 0.25, below=level / 2)(x, high).x0, den(x, high).x0)


def test_a_projection_replaces_x0_below_its_level_and_keeps_x(ring):
    from zoo.core.guidance import Project

    den = oracle(ring, SCHED)
    x = noise(8, seed=3)

    def onto_axis(x0):  # onto the line y = 0
        return torch.stack([x0[:, 0], torch.zeros_like(x0[:, 1])], 1)
    plain, projected = den(x, 0.3), Project(den, onto_axis)(x, 0.3)
    torch.testing.assert_close(projected.x0, onto_axis(plain.x0))
    torch.testing.assert_close(projected.x, x)
    high = 0.99
    level = float(SCHED.sigma(high) / SCHED.alpha(high))
    torch.testing.assert_close(Project(den, onto_axis, below=level / 2)(x, high).x0, den(x, high).x0)
    final = core.sample(Project(den, onto_axis), noise(64, seed=4), sampler="dpmpp_2m", steps=10)
    assert final[:, 1].abs().max() < 1e-6  # the last x0 is the sample: the constraint holds on it
    with pytest.raises(ValueError, match=r"keep x0's shape \(8, 2\)"):
        Project(den, lambda x0: x0[:, :1])(x, 0.3)


def test_a_potential_guides_every_sampler_and_names_a_bad_energy(ring):
    from zoo.core.guidance import Potential

    den = oracle(ring, SCHED)

    def right(x0):  # pushes toward x > 2
        return torch.relu(2.0 - x0[:, 0]).pow(2)
    for sampler in ("ddim", "dpmpp_2m", "unipc"):
        free = core.sample(den, noise(256, seed=8), sampler=sampler, steps=20)
        pushed = core.sample(Potential(den, right, 0.2), noise(256, seed=8), sampler=sampler, steps=20)
        assert pushed[:, 0].mean() > free[:, 0].mean() + 0.5, sampler
    with pytest.raises(ValueError, match=r"one value per example, shape \(4,\)"):
        Potential(den, lambda x0: x0.sum(), 1.0)(noise(4), 0.5)
    with pytest.raises(ValueError, match="scale must be >= 0"):
        Potential(den, right, -1.0)
