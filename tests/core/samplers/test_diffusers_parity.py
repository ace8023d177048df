"""Every sampler that diffusers also implements gives diffusers' answer to 1e-5 on the same model
(an exact Gaussian-mixture denoiser) and the same timesteps, for eps and v prediction.

diffusers keeps its tables in float32; to compare algorithms rather than roundoff its scheduler
is given our float64 table and its tensors are upcast after ``set_timesteps``.
"""
import diffusers
import pytest
import torch

from tests.helpers import gen, noise, oracle
from zoo import core
from zoo.core import schedules

F64 = torch.float64
T = 1000
SCHED = schedules.DDPM()
VE_SPACE = (diffusers.EulerDiscreteScheduler, diffusers.EulerAncestralDiscreteScheduler, diffusers.HeunDiscreteScheduler)


def diffusers_samples(peer, model, x_T, steps, generator=None, dtype=F64, **step_kwargs):
    """Run a diffusers scheduler loop; returns (samples, timesteps it used)."""
    peer.alphas_cumprod = SCHED.alphas_cumprod.clone()
    peer.set_timesteps(steps)
    for key, value in vars(peer).items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            setattr(peer, key, value.to(dtype))
    x = x_T.clone().to(dtype)
    if isinstance(peer, VE_SPACE):  # these keep x / alpha; x_T sits at the first timestep
        x = x / SCHED.alpha((peer.timesteps[0].item() + 1) / T).item()
    for t in peer.timesteps:
        out = model(peer.scale_model_input(x, t), torch.full((x.shape[0],), float(t), dtype=dtype))
        kwargs = {"generator": generator} if generator is not None else {}
        x = peer.step(out, t, x, **kwargs, **step_kwargs).prev_sample
    return x, peer.timesteps.to(F64)


def as_eps_model(model, prediction):
    """The same network presented as a noise predictor (diffusers' PNDM combines raw v outputs)."""
    if prediction == "eps":
        return model

    def eps_model(x, label):
        a, s = SCHED.alpha_sigma(SCHED.t_of_noise_label(label))
        return a[:, None].to(x.dtype) * model(x, label) + s[:, None].to(x.dtype) * x
    return eps_model


# (zoo sampler, options, diffusers class, config, steps, how diffusers' timesteps map to our grid)
CASES = [
    ("ddim", {}, diffusers.DDIMScheduler, {"clip_sample": False}, 10, "plain"),
    ("ddim", {}, diffusers.DDIMScheduler, {"clip_sample": False, "timestep_spacing": "trailing"}, 10, "plain"),
    ("ddim", {"eta": 0.6}, diffusers.DDIMScheduler, {"clip_sample": False, "step": {"eta": 0.6}}, 10, "plain"),
    ("ddpm", {}, diffusers.DDPMScheduler, {"clip_sample": False}, 20, "plain"),
    ("ddpm", {}, diffusers.DDPMScheduler, {"clip_sample": False}, 1000, "plain"),
    ("euler", {}, diffusers.EulerDiscreteScheduler, {"timestep_spacing": "leading"}, 10, "plain"),
    ("euler_ancestral", {}, diffusers.EulerAncestralDiscreteScheduler, {"timestep_spacing": "leading"}, 10, "plain"),
    ("heun", {}, diffusers.HeunDiscreteScheduler, {"timestep_spacing": "leading"}, 10, "heun"),
    ("dpmpp_2m", {}, diffusers.DPMSolverMultistepScheduler, {"timestep_spacing": "leading"}, 10, "plain"),
    ("dpmpp_2m", {"lower_order_final": False}, diffusers.DPMSolverMultistepScheduler, {}, 20, "plain"),
    ("dpmpp_3m", {}, diffusers.DPMSolverMultistepScheduler, {"solver_order": 3}, 10, "plain"),
    ("dpmpp_3m", {"lower_order_final": False}, diffusers.DPMSolverMultistepScheduler, {"solver_order": 3}, 20, "plain"),
    ("dpmpp_2m_sde", {}, diffusers.DPMSolverMultistepScheduler, {"algorithm_type": "sde-dpmsolver++"}, 10, "plain"),
    ("unipc", {}, diffusers.UniPCMultistepScheduler, {}, 10, "plain"),
    ("unipc", {"order": 3}, diffusers.UniPCMultistepScheduler, {"solver_order": 3}, 20, "plain"),
    ("deis", {}, diffusers.DEISMultistepScheduler, {}, 10, "to_t_min"),
    ("deis", {"order": 3, "lower_order_final": False}, diffusers.DEISMultistepScheduler,
     {"solver_order": 3, "lower_order_final": False}, 20, "to_t_min"),
    ("plms", {"lower_order_final": False}, diffusers.PNDMScheduler,
     {"skip_prk_steps": True, "set_alpha_to_one": True}, 10, "plms"),
    ("plms", {"lower_order_final": False}, diffusers.PNDMScheduler,
     {"skip_prk_steps": True, "set_alpha_to_one": True, "timestep_spacing": "trailing"}, 20, "plms"),
]


def our_grid(timesteps, mapping):
    if mapping == "heun":  # diffusers lists each intermediate timestep twice (two evaluations)
        timesteps = torch.cat([timesteps[:1], timesteps[1::2]])
    if mapping == "plms":  # ... and PNDM repeats its second timestep for the pseudo step
        timesteps = torch.cat([timesteps[:1], timesteps[2:]])
    end = SCHED.t_min if mapping == "to_t_min" else 0.0  # DEIS stops at the first table step
    return torch.cat([(timesteps + 1) / T, torch.tensor([end], dtype=F64)])


@pytest.mark.parametrize("prediction", ["eps", "v"])
@pytest.mark.parametrize("name, options, peer_class, config, steps, mapping", CASES,
                         ids=[f"{c[0]}{c[1] or ''}-{c[4]}-{c[3].get('timestep_spacing', '')}" for c in CASES])
def test_matches_diffusers(ring, prediction, name, options, peer_class, config, steps, mapping):
    spec = core.samplers.get(name)
    # DPM-Solver's SDE step draws its noise in float32 whatever the input: run both in float32 there
    dtype = torch.float32 if name == "dpmpp_2m_sde" else F64
    x_T = noise(64, seed=1, dtype=dtype)
    model = ring.model(SCHED, prediction)
    peer_model = as_eps_model(model, prediction) if name == "plms" else model
    peer_prediction = "epsilon" if (name == "plms" or prediction == "eps") else "v_prediction"
    config = dict(config)
    step_kwargs = config.pop("step", {})
    peer = peer_class(prediction_type=peer_prediction, **config)
    stochastic = spec.stochastic or options.get("eta", 0) > 0
    want, peer_ts = diffusers_samples(peer, peer_model, x_T, steps, gen(7) if stochastic else None, dtype, **step_kwargs)
    den = oracle(ring, SCHED, prediction)
    got = spec.fn(den, x_T.clone(), our_grid(peer_ts, mapping), generator=gen(7), **{**spec.defaults, **options})
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_zero_terminal_snr_ddim_matches_diffusers(ring):
    sched = schedules.DDPM(beta_schedule="scaled_linear", zero_terminal_snr=True)
    peer = diffusers.DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                                   rescale_betas_zero_snr=True, timestep_spacing="trailing", prediction_type="v_prediction")
    peer.alphas_cumprod = sched.alphas_cumprod.clone()
    peer.set_timesteps(10)
    peer.alphas_cumprod = peer.alphas_cumprod.to(F64)
    model = ring.model(sched, "v")
    x = x_T = noise(64, seed=2)
    for t in peer.timesteps:
        x = peer.step(model(x, torch.full((64,), float(t), dtype=F64)), t, x).prev_sample
    got = core.sample(oracle(ring, sched, "v"), x_T, sampler="ddim", steps=10, timesteps="trailing")
    torch.testing.assert_close(got, x, rtol=0, atol=1e-5)
