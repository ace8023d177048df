import math
import textwrap

import pytest
import torch

import zoo
from tests.helpers import gen
from zoo.train import load_recipe, train

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_RECIPE = textwrap.dedent("""
    name: tiny
    modality: protein
    network: {architecture: protein/transformer, params: {hidden: 16, depth: 1, heads: 2}}
    diffusion: {schedule: {name: EDM}, prediction: edm, sigma_data: 10.0, prior: zero_com}
    objective: {weighting: edm, time_sampling: lognormal}
    data: {name: ideal, params: {crop: [20, 40]}}
    optim: {batch_size: 4, steps: 6, warmup_steps: 1}
    sampling: {sampler: dpmpp_2m, steps: 3, timesteps: karras, n: 1}
    log: {every: 2, checkpoint_every: 3, progress: false}
""")


@pytest.fixture(scope="module")
def model(tiny_protein):
    return tiny_protein


def test_chains_of_different_lengths_in_one_batch_are_centred_and_padded(model):
    x = model.sample(3, length=[10, 20, 15], generator=gen(0))
    assert x.shape == (3, 20, 4, 3) and torch.isfinite(x).all()
    for chain, length in zip(x, (10, 20, 15)):
        assert (chain[length:] == 0).all()
        assert chain[:length].reshape(-1, 3).mean(0).abs().max() < 1e-3  # zero centre of mass over real atoms
    torch.testing.assert_close(model.sample(2, length=12, generator=gen(1)), model.sample(2, length=[12, 12],
                                                                                        generator=gen(1)))


@pytest.mark.parametrize("length, message", [(1.5, "integer"), ([10, 20], "one integer or 3"), (1, "at least 2")])
def test_bad_lengths_are_named(model, length, message):
    with pytest.raises(ValueError, match=message):
        model.sample(3, length=length)


def test_a_masked_zero_centred_recipe_trains_saves_and_loads(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    trained = train(load_recipe(recipe), tmp_path / "run")
    loaded = zoo.load(str(tmp_path / "run" / "model"))
    assert loaded.config["prior"] == "zero_com" and loaded.sample_shape == (40, 4, 3)
    torch.testing.assert_close(loaded.sample(2, length=25, generator=gen(2)), trained.sample(2, length=25, generator=gen(2)))


def test_evaluation_tells_an_untrained_model_from_real_chains(model):
    from modalities.protein.data import dataset
    from modalities.protein.evaluation import evaluate

    result = evaluate(model, dataset("ideal"), n=4, steps=3)
    real = result["real_chains"]
    assert result["protocol"] == "protein-backbone-eval/1" and result["n"] == 4
    assert real["bonds_within"] == 1.0 and real["angles_within"] == 1.0 and real["break_free"] == 1.0
    assert real["clash_rate"] == 0.0 and real["rg_ratio"] > 0
    assert result["bonds_within"] < 0.5 and result["break_free"] < 1.0  # random weights: no protein geometry
    assert result["phi_psi_kl"] > real["phi_psi_kl"]
    assert result["equivariance_error"] > 1e-3 and "not computed" in result["designability"]
    assert result["seconds_per_100_residues"] > 0
    # scaffolding a held-out motif: held exactly, but random weights join it to the scaffold badly
    assert result["scaffold_n"] == 8 and result["scaffold_motif_rmsd"] < 1e-3
    assert result["scaffold_junction_c_n_mad"] > 0.5 and result["scaffold_bonds_within"] < 0.5
    # the likelihood of the held-out chains, nats per residue, with the settings that made it
    assert math.isfinite(result["nats_per_residue"]) and result["likelihood_nfe"] > 0
    assert {k: result[k] for k in ("likelihood_chains", "likelihood_crop", "likelihood_probes")} == {
        "likelihood_chains": 4, "likelihood_crop": 64, "likelihood_probes": 8}
    assert result["device"] == "CPU, 1 thread" and "threads" not in result
    with pytest.raises(ValueError, match="no guidance"):
        evaluate(model, dataset("ideal"), n=4, steps=3, guidance=2.0)


def test_scaffolding_holds_the_motif_where_the_contig_puts_it(model):
    from modalities.protein.geometry import ideal_helix, kabsch

    motif = ideal_helix(12).float() + torch.tensor([40.0, -7.0, 3.0])  # any frame: it is superposed each step
    done = model.scaffold(motif, "5-10,A1-12,3", n=4, generator=gen(3))
    assert done.x.shape == (4, int(done.lengths.max()), 4, 3) and torch.isfinite(done.x).all()
    for i in range(4):
        length = int(done.lengths[i])
        assert 20 <= length <= 25 and done.mask[i].sum() == length and (done.x[i, length:] == 0).all()
        where = done.motif[i].nonzero()[:, 0]
        before = length - 12 - 3
        assert where.tolist() == list(range(before, before + 12))  # after the drawn 5-10 new residues
        assert kabsch(done.x[i, where].double(), motif.double())[2] < 1e-3  # held exactly (up to a rigid motion)
        assert done.x[i, :length].reshape(-1, 3).mean(0).abs().max() < 1e-3  # zero centre of mass
    assert done.motif_rmsd.shape == (4,) and done.motif_rmsd.max() < 1e-3
    # the scaffold is generated: the new residues differ between samples
    assert (done.x[0, :5] - done.x[1, :5]).abs().max() > 0.1


def test_scaffolding_a_motif_read_from_a_pdb_file(model, tmp_path):
    from modalities.protein.geometry import ideal_hairpin, rmsd_after_superposition
    from modalities.protein.io import write_backbone

    chain = ideal_hairpin(20).float()
    write_backbone(tmp_path / "motif.pdb", chain)  # residues numbered 1..20, chain A
    done = model.scaffold(tmp_path / "motif.pdb", "4,A3-8,2,A15-17,6", n=2, generator=gen(4))
    assert done.lengths.tolist() == [21, 21] and done.motif.sum(1).tolist() == [9, 9]
    where = done.motif[0].nonzero()[:, 0].tolist()
    assert where == [4, 5, 6, 7, 8, 9, 12, 13, 14]
    wanted = torch.cat([chain[2:8], chain[14:17]]).double()
    assert rmsd_after_superposition(done.x[1, where].double(), wanted) < 1e-3


@pytest.mark.parametrize("motif, contig, message", [
    (torch.zeros(5, 4, 3), "10", "no motif segment"),
    (torch.zeros(5, 4, 3), "3,A1-6,3", r"shape \(6, 4, 3\)"),
    (torch.full((6, 4, 3), float("nan")), "3,A1-6,3", "NaN"),
    (torch.zeros(6, 4, 3), "3,A1-6,Q", "neither a length"),
])
def test_bad_scaffolding_input_is_named(model, motif, contig, message):
    with pytest.raises(ValueError, match=message):
        model.scaffold(motif, contig, n=2)


# ------------------------------------------------------------------- the internal-coordinates representation

@pytest.fixture(scope="module")
def internal(tiny_internal):
    return tiny_internal


def test_internal_coordinates_give_ideal_bonds_and_no_breaks_even_with_random_weights(internal):
    from modalities.protein import metrics

    x = internal.sample(3, length=[30, 50, 40], generator=gen(5), potentials=False)
    mask = torch.arange(50)[None] < torch.tensor([30, 50, 40])[:, None]
    assert x.shape == (3, 50, 4, 3) and (x[~mask] == 0).all()
    report = metrics.bond_report(x.double(), mask)
    assert report["bonds_within"] == 1.0  # NeRF builds every bond, the peptide bond too, at Engh & Huber's length
    for stats in report["bonds"].values():
        assert stats["mad"] < 1e-4
    for chain, length in zip(x, (30, 50, 40)):
        assert chain[:length].reshape(-1, 3).mean(0).abs().max() < 1e-3  # centred on its real atoms


def test_longer_chains_than_256_are_refused_before_any_sampling(internal):
    with pytest.raises(ValueError, match="up to 256 residues, got 300"):
        internal.sample(1, length=300)


def test_internal_scaffolding_holds_each_motif_segment_and_joins_it_with_ideal_peptides(internal):
    from modalities.protein.data import ideal_chains
    from modalities.protein.geometry import BOND_C_N, kabsch

    chain = ideal_chains(1, seed=3)[0]
    motif = chain[10:26]  # 16 residues of an ideal helix or hairpin, in its own frame
    done = internal.scaffold(motif + torch.tensor([30.0, 5.0, -2.0]), "5-8,A1-16,4", n=3, generator=gen(6))
    for i in range(3):
        where = done.motif[i].nonzero()[:, 0]
        # held: the motif is rebuilt from its own angles (ideal bonds: its own are ideal too), up to a rigid motion
        assert kabsch(done.x[i, where].double(), motif.double())[2] < 1e-3
        length = int(done.lengths[i])
        c_to_n = (done.x[i, 1:length, 0] - done.x[i, :length - 1, 2]).norm(dim=-1)
        assert (c_to_n - BOND_C_N).abs().max() < 1e-4  # every junction a peptide bond of ideal length
    assert (done.x[0, :4] - done.x[1, :4]).abs().max() > 0.1  # the scaffolds differ


def test_with_two_motif_segments_each_is_held_and_the_scaffold_closes_onto_both(internal):
    from modalities.protein.data import ideal_chains
    from modalities.protein.geometry import BOND_C_N, kabsch

    chain = ideal_chains(1, seed=3)[0]
    motif = torch.cat([chain[5:13], chain[20:28]])
    done = internal.scaffold(motif, "3,A1-8,7,A9-16,3", n=2, generator=gen(7))
    for i in range(2):
        where = done.motif[i].nonzero()[:, 0]
        assert where.tolist() == [*range(3, 11), *range(18, 26)]
        for part in (slice(0, 8), slice(8, 16)):
            assert kabsch(done.x[i, where[part]].double(), motif[part].double())[2] < 1e-3
        c_to_n = (done.x[i, 1:, 0] - done.x[i, :-1, 2]).norm(dim=-1)
        assert (c_to_n - BOND_C_N).abs().max() < 1e-4
    # the two together: the loop between them is closed (even by an untrained network) onto the motif's own placement
    joint = torch.cat([kabsch(done.x[i, done.motif[i]].double(), motif.double())[2] for i in range(2)])
    torch.testing.assert_close(done.motif_rmsd.double(), joint, atol=1e-5, rtol=0)
    assert (joint < 0.05).all(), joint
