"""Samplers: zoo against diffusers' schedulers and k-diffusion's samplers on an exact mixture oracle.

The data is the planning reference: a ring of 8 equal Gaussians (radius 1, std 0.1), a DDPM
linear table (beta 1e-4..0.02, T = 1000), eps prediction, and its exact denoiser, so every
error is the sampler's own.  All start from the same x_T = z at their first time; the reference
is the probability-flow ODE from z at t = 1 solved by zoo's adaptive Dormand-Prince in float64.

Measured:
1. error to the reference (mean L2 over samples) and sliced W2 to fresh data at NFE 5/10/20/50;
2. zoo / peer error ratio for the same algorithm on the peer's own timesteps;
3. the best configuration of each library at every NFE (zoo's "optimized" grids are fitted per
   sampler on 256 other noise draws; the fit costs are not in the timings);
4. per-step overhead without the model (a network that returns a stored tensor), batch 1 and
   20,000, 50 steps, median of repeats, one CPU thread.

    pip install -e ".[test]" && pip install --no-deps k-diffusion torchsde torchdiffeq trampoline
    python benchmarks/samplers.py            # about 5 minutes on 2 cores
    python benchmarks/samplers.py --all      # also every configuration's row
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import types
import warnings

import torch

from zoo import core
from zoo.core import schedules

warnings.filterwarnings("ignore")
F64 = torch.float64
T = 1000
SCHED = schedules.DDPM()
RING = core.mixture.GaussianMixture.ring()
DEN = core.Denoiser(RING.model(SCHED, "eps"), SCHED, "eps")
NFES = (5, 10, 20, 50)


def load_k_diffusion():
    """k_diffusion.sampling without the package __init__ (which needs torchvision, skimage, ...)."""
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None:
        return None
    pkg = types.ModuleType("k_diffusion")
    pkg.__path__ = list(spec.submodule_search_locations)
    utils = types.ModuleType("k_diffusion.utils")  # sampling.py needs only append_dims from it
    utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]
    sys.modules.update({"k_diffusion": pkg, "k_diffusion.utils": utils})
    try:
        import k_diffusion.sampling as ks
    except ImportError as error:
        print(f"k-diffusion not measured: {error}")
        return None
    return ks


# ------------------------------------------------------------------------------------------------
# running each library
# ------------------------------------------------------------------------------------------------

def zoo_run(name, steps, placement, x_T, **opts):
    if placement == "optimized":  # fitted on 256 noise draws of another seed than x_T's
        placement = core.samplers.optimize_grid(DEN, steps, name, shape=x_T.shape[1:], batch=256, seed=12345, **opts)
    x, info = core.sample(DEN, x_T, sampler=name, steps=steps, timesteps=placement, return_info=True, **opts)
    return x, info.nfe


def diffusers_run(cls, config, steps, x_T, model=None):
    """The usual diffusers loop; returns (samples, NFE, the scheduler's timesteps)."""
    sched = cls(**config)
    sched.set_timesteps(steps)
    model = model or (lambda x, t: RING.model(SCHED, "eps")(x, torch.full((x.shape[0],), float(t), dtype=x.dtype)))
    x = x_T * sched.init_noise_sigma
    nfe = 0
    for t in sched.timesteps:
        out = model(sched.scale_model_input(x, t), t)
        nfe += 1
        x = sched.step(out, t, x).prev_sample
    return x, nfe, sched.timesteps.to(F64)


def k_model(x_ve, sigma):
    """k-diffusion's denoiser interface on the exact oracle: D(x / alpha; sigma) = E[x0 | x_t]."""
    t = float(SCHED.t_of_sigma_ve(sigma[0].item()))
    return DEN(x_ve * SCHED.alpha(t).item(), t).x0


def k_sigmas(ks, kind, n):
    s_min, s_max = SCHED.sigma_ve(SCHED.t_min).item(), SCHED.sigma_ve(1.0).item()
    if kind == "karras":
        return ks.get_sigmas_karras(n, s_min, s_max).to(F64)
    return ks.get_sigmas_exponential(n, s_min, s_max).to(F64)


def k_run(ks, fn_name, sigma_kind, steps, x_T, **kw):
    calls = [0]

    def counted(x, s):
        calls[0] += 1
        return k_model(x, s)
    sigmas = k_sigmas(ks, sigma_kind, steps)
    x = getattr(ks, fn_name)(counted, x_T * sigmas[0], sigmas, disable=True, **kw)
    return x, calls[0], sigmas


def grid_from_sigmas(sigmas):
    return torch.cat([SCHED.t_of_sigma_ve(sigmas[:-1]), torch.zeros(1, dtype=F64)])


def grid_from_timesteps(timesteps, end=0.0, heun=False, plms=False):
    if heun:
        timesteps = torch.cat([timesteps[:1], timesteps[1::2]])
    if plms:
        timesteps = torch.cat([timesteps[:1], timesteps[2:]])
    return torch.cat([(timesteps + 1) / T, torch.tensor([end], dtype=F64)])


# ------------------------------------------------------------------------------------------------
# configurations
# ------------------------------------------------------------------------------------------------

ZOO = [("ddim", {}), ("heun", {}), ("dpmpp_2m", {}), ("dpmpp_3m", {}), ("dpmpp_2s", {}), ("unipc", {}),
       ("unipc", {"order": 3}), ("deis", {}), ("deis", {"order": 3}), ("plms", {})]
PLACEMENTS = ("linspace", "logsnr", "karras", "leading", "trailing")
OPTIMIZED = ("ddim", "dpmpp_2m", "unipc", "deis", "plms")  # timesteps="optimized", fitted on its own 256 noises


def steps_for(name, nfe):
    if name in ("heun", "dpmpp_2s", "Heun", "dpm_2", "dpmpp_2s_ancestral"):
        return max((nfe + 1) // 2, 1)  # 2 evaluations per step but the last
    if name in ("plms", "PNDM"):
        return max(nfe - 1, 1)  # one extra evaluation for the pseudo step
    return nfe


def diffusers_configs():
    import diffusers as d
    out = []
    for label, cls, extra in [("DDIM", d.DDIMScheduler, {"clip_sample": False}), ("Euler", d.EulerDiscreteScheduler, {}),
                              ("Heun", d.HeunDiscreteScheduler, {"beta_start": 1e-4, "beta_end": 0.02}),
                              ("DPM++2M", d.DPMSolverMultistepScheduler, {}),
                              ("DPM++3M", d.DPMSolverMultistepScheduler, {"solver_order": 3}),
                              ("UniPC", d.UniPCMultistepScheduler, {}),
                              ("UniPC-3", d.UniPCMultistepScheduler, {"solver_order": 3}),
                              ("DEIS", d.DEISMultistepScheduler, {}), ("DEIS-3", d.DEISMultistepScheduler, {"solver_order": 3}),
                              ("PNDM", d.PNDMScheduler, {"skip_prk_steps": True})]:
        for spacing in ("leading", "linspace", "trailing"):
            out.append((f"{label} {spacing}", label, cls, {**extra, "timestep_spacing": spacing}))
        if label not in ("DDIM", "PNDM"):
            out.append((f"{label} karras", label, cls, {**extra, "use_karras_sigmas": True}))
    return out


K_SAMPLERS = [("euler", "sample_euler", {}), ("heun", "sample_heun", {}), ("dpm_2", "sample_dpm_2", {}),
              ("lms", "sample_lms", {}), ("dpmpp_2s", "sample_dpmpp_2s_ancestral", {"eta": 0.0}),
              ("dpmpp_2m", "sample_dpmpp_2m", {})]


def error(x, ref):
    return (x.to(F64) - ref).norm(dim=1).mean().item()


def measure_accuracy(x_T, ref, swd, ks, show_all):
    rows = {}  # (library, config) -> {nfe: (err, sw, actual nfe)}

    def record(lib, cfg, nfe, x, actual):
        rows.setdefault((lib, cfg), {})[nfe] = (error(x, ref), swd(x), actual)

    pairs = {}  # algorithm pair -> {nfe: ratio}
    for nfe in NFES:
        for name, opts in ZOO:
            placements = PLACEMENTS + (("optimized",) if name in OPTIMIZED else ())
            for placement in placements:
                x, actual = zoo_run(name, steps_for(name, nfe), placement, x_T, **opts)
                record("zoo", f"{name}{opts.get('order', '')} {placement}", nfe, x, actual)
        for cfg_name, label, cls, config in diffusers_configs():
            x, actual, timesteps = diffusers_run(cls, config, steps_for(label, nfe), x_T.float())
            record("diffusers", cfg_name, nfe, x, actual)
            key, ours = _same_algorithm(label, config, timesteps, x_T)
            if key:
                pairs.setdefault(f"{key} vs diffusers {cfg_name}", {})[nfe] = error(ours, ref) / error(x, ref)
        if ks is not None:
            for label, fn_name, kw in K_SAMPLERS:
                for sig in ("karras", "exponential"):
                    x, actual, sigmas = k_run(ks, fn_name, sig, steps_for(label, nfe),
                                              x_T, **kw)
                    record("k-diffusion", f"{label} {sig}", nfe, x, actual)
                    zoo_name = {"euler": "euler", "heun": "heun", "dpmpp_2m": "dpmpp_2m", "dpmpp_2s": "dpmpp_2s"}.get(label)
                    if zoo_name and sig == "karras":
                        ts = grid_from_sigmas(sigmas)
                        ours = core.sample(DEN, x_T * float(SCHED.sigma(ts[0])), sampler=zoo_name, steps=len(ts) - 1,
                                           timesteps=ts)
                        pairs.setdefault(f"{zoo_name} vs k-diffusion {label} karras", {})[nfe] = error(ours, ref) / error(x, ref)
    return rows, pairs


def _same_algorithm(label, config, timesteps, x_T):
    """zoo's run of the same algorithm on diffusers' timesteps.

    Left out: Karras sigmas (diffusers rounds them to integer timesteps for the model but steps
    with the unrounded sigma), and DDIM / PNDM where they step to ``t - T // N`` rather than to
    the next listed timestep (linspace spacing; PNDM trailing), which is a different algorithm."""
    spacing = config.get("timestep_spacing")
    if config.get("use_karras_sigmas") or (label in ("DDIM", "PNDM") and spacing == "linspace") or (
            label == "PNDM" and spacing == "trailing"):
        return None, None
    name, opts, end, heun, plms = {
        "DDIM": ("ddim", {}, 0.0, False, False), "Euler": ("euler", {}, 0.0, False, False),
        "Heun": ("heun", {}, 0.0, True, False), "DPM++2M": ("dpmpp_2m", {}, 0.0, False, False),
        "DPM++3M": ("dpmpp_3m", {}, 0.0, False, False), "UniPC": ("unipc", {}, 0.0, False, False),
        "UniPC-3": ("unipc", {"order": 3}, 0.0, False, False), "DEIS": ("deis", {}, SCHED.t_min, False, False),
        "DEIS-3": ("deis", {"order": 3}, SCHED.t_min, False, False),
        "PNDM": ("plms", {"lower_order_final": False}, SCHED.t_min, False, True)}[label]  # set_alpha_to_one=False
    steps = len(timesteps)
    if label in ("DPM++2M", "DPM++3M", "DEIS", "DEIS-3") and steps >= 15:
        opts = {**opts, "lower_order_final": False}  # diffusers lowers the order at the end only below 15 steps
    ts = grid_from_timesteps(timesteps, end, heun, plms)
    x0 = x_T
    if label in ("Euler", "Heun") and config["timestep_spacing"] != "leading":
        x0 = x_T * float(SCHED.sigma(ts[0]))  # diffusers' init_noise_sigma there is sigma_max, not sqrt(1 + sigma_max^2)
    spec = core.samplers.get(name)
    return f"{name}{opts.get('order', '')}", spec.fn(DEN, x0.clone(), ts, **{**spec.defaults, **opts})


# ------------------------------------------------------------------------------------------------
# per-step overhead
# ------------------------------------------------------------------------------------------------

def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_overhead(ks, repeats):
    import diffusers as d
    steps = 50
    out = []
    for batch in (1, 20000):
        x = torch.randn(batch, 2)
        zeros = torch.zeros(batch, 2)
        den = core.Denoiser(lambda x, label: zeros, SCHED, "eps")
        for zoo_name, label, cls, config in [
                ("ddim", "DDIM", d.DDIMScheduler, {"clip_sample": False}), ("euler", "Euler", d.EulerDiscreteScheduler, {}),
                ("heun", "Heun", d.HeunDiscreteScheduler, {}), ("dpmpp_2m", "DPM++2M", d.DPMSolverMultistepScheduler, {}),
                ("unipc", "UniPC", d.UniPCMultistepScheduler, {}), ("deis", "DEIS", d.DEISMultistepScheduler, {}),
                ("plms", "PNDM", d.PNDMScheduler, {"skip_prk_steps": True})]:
            zoo_steps = steps_for(zoo_name, steps)
            ours = median_time(lambda: core.sample(den, x, sampler=zoo_name, steps=zoo_steps), repeats)
            peer_steps = steps_for(label, steps)
            peer = median_time(lambda: diffusers_run(cls, config, peer_steps, x, model=lambda x, t: zeros), repeats)
            out.append((batch, f"{zoo_name} vs diffusers {label}", ours / steps, peer / steps))
        if ks is not None:
            for zoo_name, fn_name in [("euler", "sample_euler"), ("heun", "sample_heun"), ("dpmpp_2m", "sample_dpmpp_2m")]:
                zoo_steps = steps_for(zoo_name, steps)
                ours = median_time(lambda: core.sample(den, x, sampler=zoo_name, steps=zoo_steps, timesteps="karras"),
                                   repeats)

                def peer_run():
                    sigmas = k_sigmas(ks, "karras", zoo_steps).float()
                    getattr(ks, fn_name)(lambda x, s: zeros, x * sigmas[0], sigmas, disable=True)
                out.append((batch, f"{zoo_name} vs k-diffusion {fn_name[7:]}", ours / steps,
                            median_time(peer_run, repeats) / steps))
    return out


# ------------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="samples (default 2000)")
    parser.add_argument("--repeats", type=int, default=7, help="timing repeats (default 7)")
    parser.add_argument("--all", action="store_true", help="print every configuration's row too")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    ks = load_k_diffusion()
    x_T = torch.randn(args.n, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    ref = core.sample(DEN, x_T, sampler="ode", timesteps=torch.tensor([1.0, 1e-7]), rtol=1e-10, atol=1e-10)
    data = RING.sample(args.n, torch.Generator().manual_seed(1))

    def swd(x):
        return core.mixture.sliced_wasserstein(x, data, projections=256, generator=torch.Generator().manual_seed(2))
    floor = swd(RING.sample(args.n, torch.Generator().manual_seed(3)))
    rows, pairs = measure_accuracy(x_T, ref, swd, ks, args.all)
    overhead = measure_overhead(ks, args.repeats)

    print(f"# Samplers on an exact 2-D mixture (ring of 8, std 0.1; DDPM linear T=1000; eps; {args.n} samples)")
    print(f"# error = mean L2 distance to the float64 ODE solution from the same x_T; SW = sliced W2 to data "
          f"(sample-vs-sample floor {floor:.4f}); CPU, 1 thread, torch {torch.__version__}")
    print()
    print("| comparison | " + " | ".join(f"NFE {n}" for n in NFES) + " |")
    print("|---|" + "---|" * len(NFES))
    print("| **same algorithm, same timesteps: zoo error / peer error** |" + " |" * len(NFES))
    for key, by_nfe in pairs.items():
        print(f"| {key} | " + " | ".join(f"{by_nfe[n]:.3f}" for n in NFES) + " |")
    print("| **best configuration: error (SW) [config, NFE]** |" + " |" * len(NFES))
    best = {}
    for lib in ("zoo", "diffusers", "k-diffusion"):
        cells = []
        for n in NFES:
            cands = [(v[n][0], v[n][1], cfg, v[n][2]) for (lb, cfg), v in rows.items() if lb == lib and n in v and v[n][2] <= n]
            if not cands:
                cells.append("-")
                continue
            err, sw, cfg, actual = min(cands)
            best[(lib, n)] = err
            cells.append(f"{err:.4f} ({sw:.3f}) [{cfg}, {actual}]")
        if any(c != "-" for c in cells):
            print(f"| {lib} | " + " | ".join(cells) + " |")
    ratios = []
    for n in NFES:
        peers = [best[(lib, n)] for lib in ("diffusers", "k-diffusion") if (lib, n) in best]
        ratios.append(f"{best[('zoo', n)] / min(peers):.3f}" if peers else "-")
    print("| zoo best / best peer | " + " | ".join(ratios) + " |")
    print("| **per-step overhead without the model, us (zoo / peer = ratio)** | batch 1 | batch 20,000 | | |")
    names = sorted({name for _, name, _, _ in overhead}, key=[o[1] for o in overhead].index)
    for name in names:
        cells = []
        for batch in (1, 20000):
            (z, p), = [(z, p) for b, nm, z, p in overhead if b == batch and nm == name]
            cells.append(f"{z * 1e6:.1f} / {p * 1e6:.1f} = {z / p:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " | | |")
    if args.all:
        print()
        print("| library | configuration | " + " | ".join(f"NFE {n}: error (SW) [NFE]" for n in NFES) + " |")
        print("|---|---|" + "---|" * len(NFES))
        for (lib, cfg), v in sorted(rows.items()):
            print(f"| {lib} | {cfg} | " + " | ".join(f"{v[n][0]:.4f} ({v[n][1]:.3f}) [{v[n][2]}]" if n in v else "-"
                                                   for n in NFES) + " |")


if __name__ == "__main__":
    main()
