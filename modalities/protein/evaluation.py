"""The protein evaluation suite, protocol ``protein-backbone-eval/1`` (``metrics.PROTOCOL``).

- samples: ``n`` backbones whose lengths are those of the first ``n`` held-out chains, clipped to
  ``lengths`` (50..128 by default), at the model's sampler and steps; seconds per 100 residues;
- every metric of ``metrics`` over the set (``score_set``): bonds and angles within tolerance and
  their mean absolute deviations, chains without breaks, clash rates, Ramachandran region
  fractions and the phi/psi KL divergence to the held-out chains, P-SEA secondary-structure
  fractions, radius of gyration over its length-based expectation, pairwise TM-score diversity;
- beside them (``real_chains``) the same numbers for the first ``n`` training chains cropped to the
  same lengths: what real proteins score;
- motif scaffolding (``scaffold_*``): residues 21..36 of the first held-out chain of at least 46
  residues held fixed with contig ``"10-30,A21-36,10-30"``, ``scaffold_n`` (8) chains: the motif
  RMSD after superposition, the peptide C-N bonds that join motif and scaffold, and the scaffolds'
  bonds, breaks and clashes;
- the network's rotation-equivariance error at a middle noise level on held-out chains (it is
  trained with random rotations, not equivariant by construction);
- designability: "not computed" (it needs a folding model, not available offline).
"""
from __future__ import annotations

import math
import time

import torch

from zoo.core import priors

from . import metrics
from .geometry import BOND_C_N, dihedrals, random_rotations
from .networks import equivariance_error

__all__ = ["PROTOCOL", "evaluate", "score_set", "pad", "preview", "scaffold_benchmark"]

PROTOCOL = metrics.PROTOCOL
DESIGNABILITY = "not computed: needs a structure-prediction model (e.g. ESMFold), not available offline"


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
           "break_free": float((metrics.chain_breaks(x, mask) == 0).double().mean()),
           "clash_rate": float(clash["rate"].mean()), "ca_clashes": float(clash["ca"].double().mean()),
           **{f"rama_{name}": value for name, value in regions.items()},
           "phi_psi_kl": metrics.phi_psi_kl(phi_psi, _phi_psi(*pad(reference))),
           **{f"sse_{name}": sse[key] for key, name in (("a", "helix"), ("b", "strand"), ("c", "coil"))},
           "rg_ratio": float(rg.mean())}
    subset = chains[:tm_pairs_of]
    out["tm_diversity"] = metrics.pairwise_tm_diversity(subset) if len(subset) > 1 else "not computed: one chain"
    return out


def evaluate(model, data, *, n: int = 32, seed: int = 0, steps: int | None = None, sampler: str | None = None,
             timesteps=None, lengths: tuple[int, int] = (50, 128)) -> dict:
    """Run ``protein-backbone-eval/1`` (module docstring) for ``model`` on ``data`` (a ``ProteinData``)."""
    held_out = data.reference("test")
    n = min(int(n), len(held_out))
    if n < 2:
        raise ValueError(f"n must be at least 2 (and {data.name} holds {len(held_out)} held-out chains)")
    wanted = [min(max(len(c), lengths[0]), lengths[1]) for c in held_out[:n]]
    options = {k: v for k, v in (("steps", steps), ("sampler", sampler), ("timesteps", timesteps)) if v is not None}
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    x, info = model.sample(n, length=wanted, generator=generator, return_info=True, **options)
    seconds = time.perf_counter() - start
    samples = [x[i, :length].float().cpu() for i, length in enumerate(wanted)]
    train = [c[:length] for c, length in zip(data.reference("train"), wanted)]
    param = next(model.network.parameters())
    result = {"protocol": PROTOCOL, "n": n, "seed": seed, "lengths": list(lengths), "sampler": info.sampler,
              "steps": len(info.ts) - 1, "nfe": info.nfe,
              "timesteps": timesteps or model.config["sampling"].get("timesteps"),
              "seconds_per_100_residues": seconds / sum(wanted) * 100, "device": str(param.device),
              "threads": torch.get_num_threads(), **score_set(samples, held_out),
              "equivariance_error": _equivariance(model, held_out[:4], lengths[1], seed),
              "designability": DESIGNABILITY}
    result.update(scaffold_benchmark(model, data, seed=seed, **options))
    result["real_chains"] = score_set(train, held_out)
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


def preview(model, n: int, *, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """n backbones for cards and ``zoo demo``, lengths spread evenly over 60..120."""
    lengths = torch.linspace(60, 120, n).round().long() if n > 1 else torch.tensor([100])
    x, info = model.sample(n, length=lengths, generator=torch.Generator().manual_seed(seed), return_info=True)
    return x, {"sampler": info.sampler, "steps": len(info.ts) - 1, "nfe": info.nfe, "seed": seed,
               "what": f"{n} backbones of {', '.join(map(str, lengths.tolist()))} residues, CA traces coloured "
                       "from the N (blue) to the C terminus (red)"}


def _equivariance(model, chains: list[torch.Tensor], longest: int, seed: int) -> float:
    """The rotation-equivariance error of the denoiser's x0 prediction on real chains at the noise
    level sigma = sigma_data (where both the noise and the structure matter)."""
    param = next(model.network.parameters())
    probe, mask = pad([c[:longest] for c in chains])
    probe, mask = probe.to(param), mask.to(param.device)
    denoiser = model.denoiser(priors.from_name(model.config.get("prior", "isotropic"), mask))
    sigma_data = float(model.config.get("sigma_data", 0.5))
    t = float(model.schedule.t_of_logsnr(torch.tensor(-2.0 * math.log(sigma_data), dtype=torch.float64)))

    def x0(x, _label, m):
        return denoiser(x, t, mask=m).x0
    rotations = random_rotations(4, torch.Generator().manual_seed(seed), dtype=torch.float64).to(param)
    return equivariance_error(x0, probe, None, rotations, mask)
