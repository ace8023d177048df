"""The protein evaluation suite, protocol ``protein-backbone-eval/1`` (``metrics.PROTOCOL``).

- samples: ``n`` (32) backbones whose lengths are those of the first ``n`` held-out chains,
  clipped to ``LENGTHS`` (50..128), at the model's sampler and steps, drawn in one batch
  (``zoo.evaluation.draw``); seconds per 100 residues;
- every metric of ``metrics`` over the set (``score_set``): bonds and angles within tolerance and
  their mean absolute deviations, CA(i)-CA(i+1) distances within 0.2 A of 3.80 A, chains without breaks, clash rates, Ramachandran region
  fractions and the phi/psi KL divergence to the held-out chains, P-SEA secondary-structure
  fractions, radius of gyration over its length-based expectation, pairwise TM-score diversity;
- beside them (``real_chains``) the same numbers for the first ``n`` training chains cropped to the
  same lengths: what real proteins score;
- motif scaffolding (``scaffold_*``): residues 21..36 of the first held-out chain of at least 46
  residues held fixed with contig ``"10-30,A21-36,10-30"``, ``scaffold_n`` (8) chains: the motif
  RMSD after superposition, the peptide C-N bonds that join motif and scaffold, and the scaffolds'
  bonds, breaks and clashes;
- the network's rotation-equivariance error at a middle noise level on held-out chains (an atoms
  model is trained with random rotations, not equivariant by construction; an internal-coordinates
  model is invariant by construction, and the number measures how far rounding moves it);
- designability: "not computed" (it needs a folding model, not available offline);
- likelihood (``likelihood``, ``nats_per_residue``): the negative log-likelihood in nats per residue
  of held-out chains under the probability-flow ODE (``zoo.core.log_likelihood``) with the model's
  zero-centre-of-mass prior on the chain's atoms: the first chain of each of the first
  ``LIKELIHOOD["chains"]`` (16) held-out sequence clusters, cropped to its first
  ``LIKELIHOOD["crop"]`` (64) residues and centred, ``-log p(x) / L`` averaged over the chains,
  with ``LIKELIHOOD["probes"]`` (8) Hutchinson probes and rtol = atol = 1e-3 (loose: on the 2-core
  CPU it takes about 90 CPU-seconds; 16 probes or rtol 1e-4 move it by under 0.01).  The density
  lives in the model's state space (``likelihood_space``): for an atoms model coordinates in Angstrom
  on the (4L - 1) * 3 dimensional subspace of centred chains, for an internal-coordinates model six
  angles per residue in radians on the torus; so only comparable between models of one
  representation at the same settings; a consistency model has no ODE: "not computed".

``sample_metrics`` (``zoo nfe``): the quick geometry of a set of samples (bonds and angles
within tolerance, break-free chains, clashes), seconds per sample.
"""
from __future__ import annotations

import math

import torch

from zoo.core import log_likelihood
from zoo.evaluation import draw, ode_progress

from . import metrics
from .geometry import BOND_C_N, dihedrals, random_rotations
from .networks import equivariance_error

__all__ = ["PROTOCOL", "LENGTHS", "LIKELIHOOD", "evaluate", "score_set", "pad", "preview", "scaffold_benchmark",
           "likelihood", "sample_metrics"]

PROTOCOL = metrics.PROTOCOL
DESIGNABILITY = "not computed: needs a structure-prediction model (e.g. ESMFold), not available offline"
N = 32  # samples of the suite
LENGTHS = (50, 128)  # the held-out chains' lengths are clipped to these
LIKELIHOOD = {"chains": 16, "crop": 64, "probes": 8, "rtol": 1e-3, "atol": 1e-3}
SPACES = {"atoms": "centred atom coordinates (Angstrom)", "internal": "internal coordinates (6 angles per residue, "
          "radians, on the torus)"}


def pad(chains: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Chains [(L_i, 4, 3)] -> backbones (B, L_max, 4, 3) with zero padding and mask (B, L_max) bool."""
    longest = max(len(c) for c in chains)
    x = torch.zeros(len(chains), longest, 4, 3, dtype=torch.float64)
    mask = torch.zeros(len(chains), longest, dtype=torch.bool)
    for i, chain in enumerate(chains):
        x[i, :len(chain)], mask[i, :len(chain)] = chain.double(), True
    return x, mask


def _phi_psi(x, mask) -> torch.Tensor:
    phi, psi, _ = dihedrals(x, mask)
    return torch.stack([phi, psi], -1).reshape(-1, 2)


def score_set(chains: list[torch.Tensor], reference: list[torch.Tensor], *, tm_pairs_of: int = 16) -> dict:
    """The metrics of chains [(L_i, 4, 3)] (a set of samples or real chains) against held-out chains
    ``reference`` (for the phi/psi KL); TM diversity over the first ``tm_pairs_of`` chains."""
    x, mask = pad(chains)
    bonds = metrics.bond_report(x, mask)
    clash = metrics.clashes(x, mask)
    phi_psi = _phi_psi(x, mask)
    regions = metrics.region_fractions(phi_psi[:, 0], phi_psi[:, 1])
    sse = metrics.sse_fractions(metrics.secondary_structure(x, mask))
    lengths = mask.sum(1)
    rg = metrics.radius_of_gyration(x, mask) / metrics.rg_expected(lengths.double())
    out = {"bonds_within": bonds["bonds_within"], "angles_within": bonds["angles_within"],
           **{f"mad_{name}": stats["mad"] for name, stats in {**bonds["bonds"], **bonds["angles"]}.items()},
           "ca_ca_within": metrics.ca_ca_within(x, mask),
           "break_free": float((metrics.chain_breaks(x, mask) == 0).double().mean()),
           "clash_rate": float(clash["rate"].mean()), "ca_clashes": float(clash["ca"].double().mean()),
           **{f"rama_{name}": value for name, value in regions.items()},
           "phi_psi_kl": metrics.phi_psi_kl(phi_psi, _phi_psi(*pad(reference))),
           **{f"sse_{name}": sse[key] for key, name in (("a", "helix"), ("b", "strand"), ("c", "coil"))},
           "rg_ratio": float(rg.mean())}
    subset = chains[:tm_pairs_of]
    out["tm_diversity"] = metrics.pairwise_tm_diversity(subset) if len(subset) > 1 else "not computed: one chain"
    return out


def evaluate(model, data, *, n: int | None = None, seed: int = 0, steps: int | None = None,
             sampler: str | None = None, timesteps=None, guidance=None) -> dict:
    """Run ``protein-backbone-eval/1`` (module docstring) for ``model`` on ``data`` (a ``ProteinData``)."""
    if guidance is not None:
        raise ValueError("the protein suite takes no guidance: protein models are unconditional")
    held_out = data.reference("test")
    n = min(N if n is None else int(n), len(held_out))
    if n < 2:
        raise ValueError(f"n must be at least 2 (and {data.name} holds {len(held_out)} held-out chains)")
    wanted = [min(max(len(c), LENGTHS[0]), LENGTHS[1]) for c in held_out[:n]]
    options = {k: v for k, v in (("steps", steps), ("sampler", sampler), ("timesteps", timesteps)) if v is not None}
    x, how = draw(model, n, batch=n, seed=seed, per_sample={"length": wanted}, **options)
    samples = [x[i, :length] for i, length in enumerate(wanted)]
    train = [c[:length] for c, length in zip(data.reference("train"), wanted)]
    result = {"protocol": PROTOCOL, "n": n, "seed": seed, "lengths": list(LENGTHS), "sampler": how["sampler"],
              "steps": how["steps"], "nfe": how["nfe"],
              "timesteps": timesteps or model.config["sampling"].get("timesteps"),
              "seconds_per_100_residues": how["seconds"] / sum(wanted) * 100, "device": how["device"],
              **score_set(samples, held_out),
              "equivariance_error": _equivariance(model, held_out[:4], LENGTHS[1], seed),
              "designability": DESIGNABILITY}
    result.update(scaffold_benchmark(model, data, seed=seed, **options))
    result["real_chains"] = score_set(train, held_out)
    result.update(likelihood(model, data, seed=seed))
    return result


MOTIF_RESIDUES = (21, 36)  # 1-based, inclusive: a 16-residue motif from inside a held-out chain
SCAFFOLD_CONTIG = "10-30,A{start}-{end},10-30"


def scaffold_benchmark(model, data, *, n: int = 8, seed: int = 0, **options) -> dict:
    """Motif scaffolding on a held-out motif (module docstring): ``scaffold_*`` numbers."""
    chains, ids = data.reference("test"), data.ids["test"]
    chosen = next((i for i, c in enumerate(chains) if len(c) >= MOTIF_RESIDUES[1] + 10), None)
    if chosen is None:
        return {"scaffold": f"not computed: no held-out chain of {MOTIF_RESIDUES[1] + 10} residues or more"}
    start, end = MOTIF_RESIDUES
    contig = SCAFFOLD_CONTIG.format(start=start, end=end)
    motif = chains[chosen][start - 1:end]
    done = model.scaffold(motif, contig, n, generator=torch.Generator().manual_seed(seed + 1), **options)
    x = done.x.double().cpu()
    samples = [x[i, :length] for i, length in enumerate(done.lengths.tolist())]
    c_to_n = (x[:, 1:, 0] - x[:, :-1, 2]).norm(dim=-1)  # (n, L-1): C(i) - N(i+1)
    motif = done.motif.cpu()
    joins = (motif[:, 1:] != motif[:, :-1]) & done.mask.cpu()[:, 1:]
    x_padded, mask = pad(samples)
    bonds = metrics.bond_report(x_padded, mask)
    return {"scaffold_motif": f"{ids[chosen]} residues {start}-{end} (by position)", "scaffold_contig": contig,
            "scaffold_n": n, "scaffold_motif_rmsd": float(done.motif_rmsd.double().mean()),
            "scaffold_junction_c_n_mad": float((c_to_n[joins] - BOND_C_N).abs().mean()),
            "scaffold_bonds_within": bonds["bonds_within"], "scaffold_angles_within": bonds["angles_within"],
            "scaffold_break_free": float((metrics.chain_breaks(x_padded, mask) == 0).double().mean()),
            "scaffold_clash_rate": float(metrics.clashes(x_padded, mask)["rate"].mean())}


def preview(model, n: int, *, seed: int = 0, steps: int | None = None) -> tuple[torch.Tensor, dict]:
    """n backbones for cards and ``zoo demo``, lengths spread evenly over 60..120 (steps None: the
    model's own)."""
    lengths = torch.linspace(60, 120, n).round().long() if n > 1 else torch.tensor([100])
    x, info = model.sample(n, length=lengths, steps=steps, generator=torch.Generator().manual_seed(seed),
                           return_info=True)
    return x, {"sampler": info.sampler, "steps": len(info.ts) - 1, "nfe": info.nfe, "seed": seed,
               "what": f"{n} backbones of {', '.join(map(str, lengths.tolist()))} residues, CA traces coloured "
                       "from the N (blue) to the C terminus (red)"}


def likelihood_chains(data, chains: int, crop: int) -> list[torch.Tensor]:
    """The held-out chains of the likelihood: the first chain of each of the first ``chains``
    held-out sequence clusters (in the data's order), cut to its first ``crop`` residues and
    centred at its CA mean."""
    seen, picked = set(), []
    for chain, cluster in zip(data.reference("test"), data.clusters["test"]):
        if cluster not in seen and len(picked) < chains:
            seen.add(cluster)
            piece = chain[:crop]
            picked.append(piece - piece[:, 1].mean(0))
    return picked


def likelihood(model, data, *, seed: int = 0, chains: int = LIKELIHOOD["chains"], crop: int = LIKELIHOOD["crop"],
               probes: int = LIKELIHOOD["probes"], rtol: float = LIKELIHOOD["rtol"],
               atol: float = LIKELIHOOD["atol"]) -> dict:
    """``nats_per_residue`` of held-out chains (module docstring) with its settings as result keys
    (``likelihood_chains``, ``likelihood_crop``, ``likelihood_probes``, ``likelihood_rtol``,
    ``likelihood_atol``) and the ODE's network evaluations (``likelihood_nfe``); the probes are
    drawn with a generator seeded ``seed``."""
    settings = {"likelihood_chains": chains, "likelihood_crop": crop, "likelihood_probes": probes,
                "likelihood_rtol": rtol, "likelihood_atol": atol, "likelihood_space": SPACES[model.representation]}
    if model.is_consistency:
        return {"nats_per_residue": "not computed: a consistency model has no probability-flow ODE", **settings}
    picked = likelihood_chains(data, chains, crop)
    if not picked:
        return {"nats_per_residue": f"not computed: {data.name} holds no held-out chain", **settings}
    settings["likelihood_chains"] = len(picked)
    param = next(model.network.parameters())
    x, mask = pad(picked)
    x, mask = model.encode(x, mask).to(param), mask.to(param.device)
    prior = model.prior(mask=mask)
    denoiser = model.denoiser(prior).bind(mask=mask)  # the network is told which residues are real
    was_training = model.training
    model.eval()
    try:
        with ode_progress(f"{model.name}: likelihood of {len(picked)} chains") as advance:
            logp, info = log_likelihood(denoiser, prior.project(x), method="hutchinson", num_probes=probes, rtol=rtol,
                                        atol=atol, generator=torch.Generator().manual_seed(seed), return_info=True,
                                        callback=advance)
    finally:
        model.train(was_training)
    nll = -logp.double().cpu() / mask.sum(1).double().cpu()
    return {"nats_per_residue": float(nll.mean()), **settings, "likelihood_nfe": info["nfe"]}


def sample_metrics(model, data, *, n: int, seed: int = 0, steps: int | None = None, sampler: str | None = None,
                   timesteps=None) -> dict:
    """The quick metrics of ``zoo nfe``: n backbones at the lengths of the suite (the first n
    held-out chains', clipped to ``LENGTHS``; cycled when n is larger), drawn in batches of up to
    32: ``bonds_within``, ``angles_within``, ``break_free``, ``clash_rate``, with ``nfe`` and
    ``seconds_per_sample``."""
    held_out = data.reference("test")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    wanted = [min(max(len(held_out[i % len(held_out)]), LENGTHS[0]), LENGTHS[1]) for i in range(n)]
    options = {k: v for k, v in (("steps", steps), ("sampler", sampler), ("timesteps", timesteps)) if v is not None}
    x, how = draw(model, n, batch=min(n, 32), seed=seed, per_sample={"length": wanted}, **options)
    x, mask = pad([x[i, :length] for i, length in enumerate(wanted)])
    bonds = metrics.bond_report(x, mask)
    return {"bonds_within": bonds["bonds_within"], "angles_within": bonds["angles_within"],
            "break_free": float((metrics.chain_breaks(x, mask) == 0).double().mean()),
            "clash_rate": float(metrics.clashes(x, mask)["rate"].mean()), "nfe": how["nfe"],
            "steps": how["steps"], "sampler": how["sampler"], "seconds_per_sample": how["seconds"] / n,
            "device": how["device"]}


@torch.no_grad()
def _equivariance(model, chains: list[torch.Tensor], longest: int, seed: int) -> float:
    """The rotation-equivariance error of the denoiser's x0 prediction on real chains at the noise
    level sigma = sigma_data (where both the noise and the structure matter); for an internal-coordinates
    model the invariance error: the relative change of x0 when the input chain is turned first."""
    param = next(model.network.parameters())
    probe, mask = pad([c[:longest] for c in chains])
    probe, mask = probe.to(param), mask.to(param.device)
    denoiser = model.denoiser(model.prior(mask=mask))
    sigma_data = float(model.config.get("sigma_data", 0.5))
    t = float(model.schedule.t_of_logsnr(torch.tensor(-2.0 * math.log(sigma_data), dtype=torch.float64)))
    rotations = random_rotations(4, torch.Generator().manual_seed(seed), dtype=torch.float64).to(param)
    if model.representation == "atoms":
        def x0(x, _label, m):
            return denoiser(x, t, mask=m).x0
        return equivariance_error(x0, probe, None, rotations, mask)
    noise = sigma_data * torch.randn(model.encode(probe, mask).shape, generator=torch.Generator().manual_seed(seed),
                                     dtype=torch.float64).to(param)

    def x0_of(chain):
        return denoiser(model.encode(chain, mask) + noise * mask[..., None], t, mask=mask).x0
    reference = x0_of(probe)
    scale = reference.norm().clamp(min=1e-12)
    return float(torch.stack([(x0_of(probe @ r.T) - reference).norm() / scale for r in rotations]).mean())
