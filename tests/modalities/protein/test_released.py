"""The released protein/backbone model does what its card says: backbones with ideal bonds by
construction, protein-like angles where its untrained network has none, the lengths asked for, few
clashes with its steric guidance, and motifs held with ideal peptide junctions.

Checked on a few short chains at the card's sampler and steps so that a CPU runs them in seconds;
the card's numbers are for 32 chains of 50-128 residues (``zoo eval protein/backbone``).
"""
import pytest
import torch

import zoo
from modalities.protein import ProteinModel, metrics
from modalities.protein.geometry import BOND_C_N, ideal_helix, kabsch
from tests.helpers import gen

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    return zoo.load("protein/backbone", local_files_only=True)


def _angles_and_rama(x, mask):
    from modalities.protein.evaluation import _phi_psi

    phi_psi = _phi_psi(x.double(), mask)
    regions = metrics.region_fractions(phi_psi[:, 0], phi_psi[:, 1])
    return metrics.bond_report(x.double(), mask)["angles_within"], regions["disallowed"]


def test_backbones_have_protein_angles_that_the_untrained_network_lacks(model):
    lengths = [50, 60, 70, 80]
    x = model.sample(4, length=lengths, generator=gen(0))
    mask = torch.arange(80)[None] < torch.tensor(lengths)[:, None]
    assert x.shape == (4, 80, 4, 3) and (x[~mask] == 0).all()
    assert metrics.bond_report(x.double(), mask)["bonds_within"] == 1.0 and (metrics.chain_breaks(x, mask) == 0).all()
    assert metrics.ca_ca_within(x.double(), mask) > 0.97
    untrained = ProteinModel.from_config(model.config)
    y = untrained.sample(4, length=lengths, generator=gen(0), potentials=False)
    (angles, disallowed), (fresh_angles, fresh_disallowed) = _angles_and_rama(x, mask), _angles_and_rama(y, mask)
    # measured: trained 1.0 and 0.03, untrained 0.34 and 0.5 (its torsions land anywhere on the torus)
    assert angles > 0.95 and fresh_angles < 0.5
    assert disallowed < 0.1 and fresh_disallowed > 0.3
    assert metrics.clashes(x.double(), mask)["rate"].mean() < 0.1  # its steric guidance at work


def test_scaffolding_holds_a_helix_motif_with_ideal_peptide_junctions(model):
    motif = ideal_helix(12).float()
    done = model.scaffold(motif, "20,A1-12,20", n=2, generator=gen(1))
    assert done.lengths.tolist() == [52, 52] and done.motif_rmsd.max() < 1e-2  # an ideal motif comes back exactly
    for i in range(2):
        assert kabsch(done.x[i, 20:32].double(), motif.double())[2] < 1e-2
    c_to_n = (done.x[:, 1:, 0] - done.x[:, :-1, 2]).norm(dim=-1)
    assert (c_to_n - BOND_C_N).abs().max() < 1e-3  # every junction, like every peptide bond, ideal
