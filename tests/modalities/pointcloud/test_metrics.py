import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import jensenshannon

from modalities.pointcloud import metrics as pm
from tests.helpers import gen

pytestmark = pytest.mark.usefixtures("one_thread")

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def spheres(n, points, g, radius=(1.0, 1.0)):
    """n clouds of points on sphere surfaces about the origin, radii uniform in ``radius``."""
    x = torch.randn(n, points, 3, generator=g)
    lo, hi = radius
    return x / x.norm(dim=-1, keepdim=True) * (lo + (hi - lo) * torch.rand(n, 1, 1, generator=g))


def cubes(n, points, g, half=0.6):
    """n clouds of points on the surface of the cube [-half, half]^3."""
    x = torch.rand(n, points, 3, generator=g) * 2 - 1
    face = torch.randint(0, 3, (n, points, 1), generator=g)
    sign = torch.randint(0, 2, (n, points, 1), generator=g).float() * 2 - 1
    return x.scatter(2, face, sign) * half


def chamfer_reference(a, b):
    """float64 brute force: mean squared distance to the nearest point, both ways."""
    d = (a.double()[:, None, :] - b.double()[None, :, :]).square().sum(-1)
    return float(d.min(1).values.mean() + d.min(0).values.mean())


def emd_exact(a, b):
    """Exact EMD (mean matched Euclidean distance) of equal-size clouds a, b (N, 3): an optimal assignment."""
    cost = torch.cdist(a.double(), b.double()).numpy()
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


# -------------------------------------------------------------------------------------------------- Chamfer

def test_chamfer_uses_squared_distances_summed_both_ways():
    a = torch.tensor([[[0.0, 0, 0]]])
    assert pm.chamfer(a, torch.tensor([[[2.0, 0, 0]]])).item() == pytest.approx(8.0)  # 2^2 each way
    two = torch.tensor([[[0.0, 0, 0], [1, 0, 0]]])
    assert pm.chamfer(two, a).item() == pytest.approx(0.5)  # a->b: mean(0, 1); b->a: 0
    assert pm.chamfer(two, a).dtype == torch.float64


def test_chamfer_matches_float64_brute_force():
    g = gen(0)
    a = torch.randn(3, 200, 3, generator=g) * torch.tensor([0.3, 1.0, 2.0])[:, None, None] + 5
    b = torch.randn(3, 150, 3, generator=g) * torch.tensor([0.3, 1.0, 2.0])[:, None, None] + 5
    got = pm.chamfer(a, b)
    want = torch.tensor([chamfer_reference(x, y) for x, y in zip(a, b)], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=0)


def test_chamfer_of_a_cloud_with_itself_is_tiny():
    a = spheres(2, 2048, gen(1))
    assert pm.chamfer(a, a).max().item() < 1e-6
    # centring each pair keeps the cancellation of the expanded form small far from the origin too
    assert pm.chamfer(a + 100, a + 100).max().item() < 1e-6
    assert pm.chamfer(a, a.flip(1)).max().item() < 1e-6  # point order does not matter


def test_chamfer_chunks_do_not_change_the_result():
    g = gen(2)
    a, b = torch.randn(7, 50, 3, generator=g), torch.randn(7, 40, 3, generator=g)
    full = pm.chamfer(a, b)
    for size in (1, 3, 100):  # (chunks change the shapes of the products, which may round differently)
        torch.testing.assert_close(pm.chamfer(a, b, pairs_per_chunk=size), full, rtol=1e-6, atol=1e-9)


def test_pairwise_chamfer_equals_the_loop_whatever_the_chunk():
    g = gen(3)
    x, y = torch.randn(5, 64, 3, generator=g), torch.randn(4, 80, 3, generator=g) * 0.5
    want = torch.tensor([[pm.chamfer(x[i:i + 1], y[j:j + 1]).item() for j in range(4)] for i in range(5)],
                        dtype=torch.float64)
    for size in (None, 1, 3, 7, 1000):
        got = pm.pairwise_chamfer(x, y, pairs_per_chunk=size)
        assert got.shape == (5, 4) and got.dtype == torch.float64 and got.device.type == "cpu"
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


def test_pairwise_chamfer_memory_stays_bounded(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert pm._chunk(None, pm._entry_bytes(2048, 2048, cpu, 1)) == 8  # 8 x 2048^2 float32 = 128 MiB
    assert pm._chunk(None, pm._entry_bytes(2048, 2048, gpu, 1)) == 4  # float64 products on CUDA
    largest = []
    bmm = torch.bmm

    def recording_bmm(left, right):
        out = bmm(left, right)
        largest.append(out.numel() * out.element_size())
        return out
    monkeypatch.setattr(torch, "bmm", recording_bmm)
    x = spheres(3, 2048, gen(16))
    pm.pairwise_chamfer(x, x.clone())
    assert 0 < max(largest) <= pm.CPU_TILE  # the CPU works in cache-sized tiles of the 2048 x 2048 matrices


def test_pairwise_chamfer_symmetric_shortcut_equals_the_full_computation(capsys):
    x = torch.randn(6, 48, 3, generator=gen(4))
    full = pm.pairwise_chamfer(x, x.clone(), pairs_per_chunk=4)
    short = pm.pairwise_chamfer(x, x, pairs_per_chunk=4, progress=True)
    assert "pair" in capsys.readouterr().err  # the tqdm bar
    assert torch.equal(short, short.T) and torch.equal(short.diag(), torch.zeros(6, dtype=torch.float64))
    # the full computation's diagonal is 0 up to float32 cancellation, ~1e-7 x the squared radius (~3 here)
    torch.testing.assert_close(short, full, rtol=1e-6, atol=1e-6)
    for size in (1, 5, 15, 16):  # 15 pairs in the upper triangle
        torch.testing.assert_close(pm.pairwise_chamfer(x, x, pairs_per_chunk=size), short, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------------------------- MMD, COV and 1-NNA

def test_mmd_and_coverage_of_a_hand_computed_matrix():
    d_gr = [[1.0, 5.0, 3.0],
            [2.0, 0.5, 4.0]]  # 2 generated x 3 reference
    assert pm.mmd(d_gr) == pytest.approx((1.0 + 0.5 + 3.0) / 3)  # each reference's nearest generated cloud
    assert pm.coverage(d_gr) == pytest.approx(2 / 3)  # generated 0 -> reference 0, generated 1 -> reference 1
    assert pm.coverage([[1.0, 1.0]]) == 0.5  # a tie goes to the reference of lowest index


def test_one_nna_of_a_hand_computed_example():
    d_gg = [[0.0, 1.0], [1.0, 0.0]]
    d_rr = [[0.0, 4.0], [4.0, 0.0]]
    d_gr = [[3.0, 0.5],
            [2.0, 5.0]]
    # g0 -> r1 (0.5) wrong; g1 -> g0 (1) right; r0 -> g1 (2) wrong; r1 -> g0 (0.5) wrong
    assert pm.one_nna(d_gg, d_rr, d_gr) == pytest.approx(0.25)
    # the diagonals are ignored (a cloud is not its own neighbour)
    assert pm.one_nna([[-9.0, 1.0], [1.0, -9.0]], d_rr, d_gr) == pytest.approx(0.25)


def test_one_nna_ties_give_partial_credit():
    # every cloud is at distance 1 from all three others: one in its own set, two in the other -> 1/3 each
    ones = [[0.0, 1.0], [1.0, 0.0]]
    assert pm.one_nna(ones, ones, [[1.0, 1.0], [1.0, 1.0]]) == pytest.approx(1 / 3)


def test_identical_sets_score_perfect_mmd_and_coverage_and_zero_1nna():
    x = spheres(8, 128, gen(5), radius=(0.5, 1.0))
    # a copy: each cloud's nearest other cloud is its twin in the other set, at distance ~0 -> 1-NNA 0
    copy = pm.generation_metrics(x, x.clone())
    assert copy["mmd_cd"] < 1e-6 and copy["cov_cd"] == 1.0 and copy["1nna_cd"] == 0.0
    same = pm.generation_metrics(x, x)  # the very same tensor: one matrix, exact zeros on its diagonal
    assert same == {"mmd_cd": 0.0, "cov_cd": 1.0, "1nna_cd": 0.0}


def test_two_draws_of_one_distribution_score_1nna_near_half():
    # Two independent sets of 60 clouds each, spheres of radius uniform in [0.5, 1].  The leave-one-out
    # classifier then guesses: the expected accuracy is (n - 1) / (2n - 1) = 0.496 (a cloud's own set holds
    # one candidate fewer), with a standard deviation near sqrt(0.25 / 120) = 0.046 if the 120 outcomes were
    # independent (they are positively correlated through shared neighbours, somewhat more); 0.35..0.65 is
    # about 3 such deviations.  (Seeds 0..5 gave 0.47..0.60.)
    g = gen(6)
    out = pm.generation_metrics(spheres(60, 256, g, (0.5, 1.0)), spheres(60, 256, g, (0.5, 1.0)))
    assert 0.35 <= out["1nna_cd"] <= 0.65
    assert out["cov_cd"] > 0.35  # many references are someone's nearest


def test_disjoint_shapes_score_full_1nna_and_small_coverage():
    g = gen(7)
    sphere_set, cube_set = spheres(30, 256, g), cubes(30, 256, g)
    out = pm.generation_metrics(sphere_set, cube_set)
    assert out["1nna_cd"] == 1.0  # every cloud's nearest other cloud is of its own shape
    # all spheres look alike to a cube, so their nearest cubes are the few most sphere-like ones
    assert out["cov_cd"] <= 0.3
    same = pm.generation_metrics(spheres(30, 256, g), sphere_set)
    assert same["mmd_cd"] < out["mmd_cd"] / 3 and same["cov_cd"] > out["cov_cd"]


# ------------------------------------------------------------------------------------------------ occupancy

def test_jsd_matches_scipy_on_random_histograms():
    rng = np.random.default_rng(0)
    for _ in range(5):
        p, q = rng.random(50), rng.random(50)
        p[rng.random(50) < 0.3] = 0  # empty bins on either side
        q[rng.random(50) < 0.3] = 0
        assert pm.jsd(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)
    assert pm.jsd([1, 0], [0, 3]) == pytest.approx(1.0)
    assert pm.jsd([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-15)


def occupancy_reference(clouds, resolution, bound):
    """clouds per voxel, by a Python set per cloud."""
    counts = np.zeros(resolution ** 3)
    for cloud in clouds.double().numpy():
        idx = np.clip(np.floor((cloud + bound) / (2 * bound) * resolution), 0, resolution - 1).astype(int)
        for i, j, k in {tuple(v) for v in idx}:
            counts[(i * resolution + j) * resolution + k] += 1
    return counts


def test_occupancy_jsd_matches_a_brute_force_count_and_scipy():
    g = gen(8)
    a = torch.rand(6, 100, 3, generator=g) * 2.4 - 1.2  # some points outside [-1, 1]^3: clipped
    b = torch.randn(5, 80, 3, generator=g) * 0.5
    for resolution, bound in ((28, 1.0), (5, 0.7)):
        want = jensenshannon(occupancy_reference(a, resolution, bound), occupancy_reference(b, resolution, bound),
                             base=2) ** 2
        assert pm.occupancy_jsd(a, b, resolution=resolution, bound=bound) == pytest.approx(want, abs=1e-12)


def test_occupancy_jsd_known_answers():
    x = spheres(4, 300, gen(9), (0.3, 0.9))
    assert pm.occupancy_jsd(x, x.clone()) == pytest.approx(0.0, abs=1e-12)
    left, right = x.clone(), x.clone()
    left[..., 0] = -left[..., 0].abs() - 0.01
    right[..., 0] = right[..., 0].abs() + 0.01
    assert pm.occupancy_jsd(left, right) == pytest.approx(1.0, abs=1e-12)  # disjoint voxels
    # clouds per voxel, not points: 99 points in one voxel count as much as one
    v1, v2 = torch.tensor([0.5, 0.5, 0.5]), torch.tensor([-0.5, -0.5, -0.5])
    many_v1 = torch.cat([v1.expand(99, 3), v2[None]])[None]
    many_v2 = torch.cat([v1[None], v2.expand(99, 3)])[None]
    assert pm.occupancy_jsd(many_v1, many_v2) == pytest.approx(0.0, abs=1e-12)
    # points outside the box land in the edge voxels
    corner = torch.tensor([[[5.0, 5.0, 5.0]]])
    assert pm.occupancy_jsd(corner, torch.tensor([[[0.99, 0.99, 0.99]]])) == pytest.approx(0.0, abs=1e-12)
    assert pm.occupancy_jsd(corner, torch.tensor([[[0.9, 0.9, 0.9]]])) == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------------------------------------- Sinkhorn EMD

def test_emd_sinkhorn_is_within_two_percent_of_the_exact_emd_at_512_points():
    g = gen(10)
    a = torch.cat([spheres(1, 512, g), spheres(1, 512, g)])
    b = torch.cat([spheres(1, 512, g), cubes(1, 512, g)])
    approx = pm.emd_sinkhorn(a, b)  # the default points=512 keeps them all
    exact = torch.tensor([emd_exact(x, y) for x, y in zip(a, b)], dtype=torch.float64)
    rel = approx / exact - 1
    assert approx.dtype == torch.float64 and rel.abs().max().item() < 0.02, rel


def test_emd_sinkhorn_small_clouds_unequal_sizes_and_scale():
    g = gen(11)
    a, b = torch.randn(3, 40, 3, generator=g), torch.rand(3, 80, 3, generator=g) * 2 - 1
    approx = pm.emd_sinkhorn(a, b, points=None)
    # uniform weights 1/40 and 1/80: the same problem as matching each point of a, twice, to one of b
    exact = torch.tensor([emd_exact(x.repeat(2, 1), y) for x, y in zip(a, b)], dtype=torch.float64)
    torch.testing.assert_close(approx, exact, rtol=0.02, atol=0)
    # the blur is relative to the clouds' size: the estimate scales and translates with them
    torch.testing.assert_close(pm.emd_sinkhorn(3 * a + 7, 3 * b + 7, points=None), 3 * approx, rtol=1e-4, atol=0)


def test_emd_sinkhorn_subsamples_reproducibly():
    g = gen(12)
    a, b = torch.randn(2, 100, 3, generator=g), torch.randn(2, 120, 3, generator=g)
    first = pm.emd_sinkhorn(a, b, points=32)
    assert torch.equal(first, pm.emd_sinkhorn(a, b, points=32))  # generator=None: a fixed seed
    assert torch.equal(pm.emd_sinkhorn(a, b, points=32, generator=gen(1)),
                       pm.emd_sinkhorn(a, b, points=32, generator=gen(1)))
    assert not torch.equal(first, pm.emd_sinkhorn(a, b, points=32, generator=gen(1)))


def test_pairwise_emd_sinkhorn_equals_the_loop_and_its_symmetric_shortcut():
    g = gen(13)
    x, y = torch.randn(4, 24, 3, generator=g), torch.randn(3, 24, 3, generator=g)
    want = torch.tensor([[pm.emd_sinkhorn(x[i:i + 1], y[j:j + 1], points=None).item() for j in range(3)]
                         for i in range(4)], dtype=torch.float64)
    for size in (None, 1, 5):
        # chunks change which pairs share a Sinkhorn batch (and so when it stops): close, not equal
        torch.testing.assert_close(pm.pairwise_emd_sinkhorn(x, y, points=None, pairs_per_chunk=size), want,
                                   rtol=2e-3, atol=0)
    short = pm.pairwise_emd_sinkhorn(x, x, points=None)
    full = pm.pairwise_emd_sinkhorn(x, x.clone(), points=None)
    assert torch.equal(short, short.T) and torch.equal(short.diag(), torch.zeros(4, dtype=torch.float64))
    off = ~torch.eye(4, dtype=torch.bool)
    torch.testing.assert_close(short[off], full[off], rtol=2e-3, atol=0)
    # the approximate EMD feeds the same set metrics
    assert 0 <= pm.one_nna(short, short, full) <= 1


# ---------------------------------------------------------------------------------------------- bad inputs

def test_bad_inputs_raise_value_errors_naming_the_problem():
    ok = torch.zeros(4, 10, 3)
    with pytest.raises(ValueError, match=r"chamfer expects clouds of shape \(B, N, 3\), got \(4, 10, 2\)"):
        pm.chamfer(ok, torch.zeros(4, 10, 2))
    with pytest.raises(ValueError, match="same number of clouds, got 4 and 3"):
        pm.chamfer(ok, torch.zeros(3, 10, 3))
    with pytest.raises(ValueError, match="empty set of clouds"):
        pm.pairwise_chamfer(torch.zeros(0, 10, 3), ok)
    with pytest.raises(ValueError, match="hold no points"):
        pm.generation_metrics(ok, torch.zeros(4, 0, 3))
    bad = ok.clone()
    bad[1, 2, 0] = math.nan
    with pytest.raises(ValueError, match="non-finite"):
        pm.occupancy_jsd(ok, bad)
    bad[1, 2, 0] = math.inf
    with pytest.raises(ValueError, match="non-finite"):
        pm.emd_sinkhorn(ok, bad)
    with pytest.raises(ValueError, match="pairs_per_chunk"):
        pm.pairwise_chamfer(ok, ok, pairs_per_chunk=0)
    with pytest.raises(ValueError, match="points=16 but the clouds of a hold only 10 points"):
        pm.emd_sinkhorn(ok, ok, points=16)
    with pytest.raises(ValueError, match="epsilon"):
        pm.pairwise_emd_sinkhorn(ok, ok, epsilon=0)
    with pytest.raises(ValueError, match="resolution"):
        pm.occupancy_jsd(ok, ok, resolution=0)
    with pytest.raises(ValueError, match="2 dimensions"):
        pm.mmd([1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        pm.coverage(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="non-finite"):
        pm.mmd([[math.nan]])
    with pytest.raises(ValueError, match=r"d_gg \(2, 2\), d_rr \(3, 3\), d_gr \(2, 2\)"):
        pm.one_nna(torch.zeros(2, 2), torch.zeros(3, 3), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="non-negative"):
        pm.jsd([1, -1], [1, 1])


# ----------------------------------------------------------------------------------------------------- CUDA

@cuda
def test_cuda_matches_cpu_even_with_tf32_allowed():
    g = gen(14)
    x, y = spheres(5, 2048, g, (0.5, 1.0)), cubes(4, 1024, g)
    cpu = pm.pairwise_chamfer(x, y)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")  # TF32 allowed for float32 matmuls: must not matter here
    try:
        got = pm.pairwise_chamfer(x.cuda(), y.cuda())
        sym = pm.pairwise_chamfer(x.cuda(), x.cuda())
    finally:
        torch.set_float32_matmul_precision(previous)
    assert got.device.type == "cpu"
    torch.testing.assert_close(got, cpu, rtol=1e-4, atol=0)
    torch.testing.assert_close(sym, pm.pairwise_chamfer(x, x), rtol=1e-4, atol=1e-9)
    assert pm.chamfer(x.cuda(), x.cuda()).max().item() < 1e-9
    assert pm.chamfer(x.cuda(), y[:1].expand(5, -1, -1).cuda()).device.type == "cuda"


@cuda
def test_cuda_sinkhorn_and_occupancy_match_cpu():
    g = gen(15)
    a, b = spheres(3, 512, g), cubes(3, 512, g)
    torch.testing.assert_close(pm.emd_sinkhorn(a.cuda(), b.cuda()).cpu(), pm.emd_sinkhorn(a, b), rtol=2e-3, atol=0)
    assert pm.occupancy_jsd(a.cuda(), b.cuda()) == pytest.approx(pm.occupancy_jsd(a, b), abs=1e-12)
    out = pm.generation_metrics(a.cuda(), b.cuda())
    assert out == pytest.approx(pm.generation_metrics(a, b), rel=1e-4)
