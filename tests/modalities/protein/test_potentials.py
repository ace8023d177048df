import pytest
import torch

from modalities.protein import geometry as g
from modalities.protein import metrics, potentials
from tests.helpers import gen

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64


def two_helices(gap: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A 24-residue chain: a 12-residue helix, then the same helix moved by ``gap`` A along x (a chain
    that runs into itself when the gap is small), as a batch of one with its mask."""
    helix = g.ideal_helix(12).double()
    return torch.cat([helix, helix + torch.tensor([gap, 0.0, 0.0], dtype=F64)])[None], torch.ones(1, 24, dtype=torch.bool)


def test_the_clash_energy_is_zero_where_the_metric_sees_no_clash_and_descends_to_fewer_clashes():
    assert potentials.clash(g.ideal_helix(30).double()[None], torch.ones(1, 30, dtype=torch.bool)).item() == 0.0
    far, mask = two_helices(40.0)
    assert potentials.clash(far, mask).item() == 0.0
    x, mask = two_helices(2.0)
    before = metrics.clashes(x, mask)["atom"].item()
    assert before > 20 and potentials.clash(x, mask).item() > 1.0
    x = x.clone().requires_grad_(True)
    optimizer = torch.optim.SGD([x], lr=0.01)
    for _ in range(200):
        optimizer.zero_grad()
        potentials.clash(x, mask).sum().backward()
        optimizer.step()
    assert metrics.clashes(x.detach(), mask)["atom"].item() < before / 4


def test_the_bond_and_rg_energies_are_their_closed_forms():
    x, mask = two_helices(40.0)  # the join between the helices is a 30+ A "peptide bond"
    join = (x[0, 12, 0] - x[0, 11, 2]).norm()
    torch.testing.assert_close(potentials.bond(x, mask), ((join - g.BOND_C_N) ** 2)[None])
    assert potentials.bond(g.ideal_helix(20).double()[None], torch.ones(1, 20, dtype=torch.bool)).item() < 1e-8
    strand, mask = g.ideal_strand(60).double()[None], torch.ones(1, 60, dtype=torch.bool)
    ratio = metrics.radius_of_gyration(strand, mask) / metrics.rg_expected(60)
    assert ratio.item() > 2  # an extended strand is far from compact
    torch.testing.assert_close(potentials.rg(strand, mask), (ratio - potentials.RG_RATIO) ** 2)
    x, mask = two_helices(3.0)  # two helices side by side: compact, under the ratio
    assert (metrics.radius_of_gyration(x, mask) / metrics.rg_expected(24)).item() < potentials.RG_RATIO
    assert potentials.rg(x, mask).item() == 0.0


@pytest.mark.parametrize("weights, message", [({"steric": 1.0}, "unknown potential 'steric'"),
                                              ({"clash": "a lot"}, "needs a number"),
                                              ({"clash": -1}, "finite weight >= 0"),
                                              ([("clash", 1)], "potentials are")])
def test_bad_weights_are_named(weights, message):
    with pytest.raises(ValueError, match=message):
        potentials.check_weights(weights)


def test_weights_drop_zeros_and_sum_the_energies():
    assert potentials.check_weights({"clash": 0, "rg": "0.5"}) == {"rg": 0.5}
    x, mask = two_helices(2.0)
    torch.testing.assert_close(potentials.energy(x, mask, {"clash": 2.0, "bond": 1.0}),
                               2 * potentials.clash(x, mask) + potentials.bond(x, mask))


def test_clash_guidance_lowers_the_clashes_of_sampled_chains(tiny_internal):
    lengths = [60] * 6
    free = tiny_internal.sample(6, length=lengths, generator=gen(0), potentials=False, steps=24)
    guided = tiny_internal.sample(6, length=lengths, generator=gen(0), potentials={"clash": 1.0}, steps=24)
    mask = torch.ones(6, 60, dtype=torch.bool)
    assert potentials.clash(guided.double(), mask).mean() < 0.5 * potentials.clash(free.double(), mask).mean()
