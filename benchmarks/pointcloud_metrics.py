"""Pairwise Chamfer throughput: modalities.pointcloud.metrics.pairwise_chamfer against scipy cKDTree queries, one run.

Two sets of ``--n`` clouds of ``--points`` points each (unit-sphere surfaces and cube surfaces, seeded), all
n x n pairs between them.  Measured in pairs per second, median of ``--repeats`` timed runs after one
warm-up run of each, the runs alternating so that other load on a shared machine hits both alike:

- zoo: ``pairwise_chamfer(x, y)`` on ``--device`` (brute force: batched products per chunk of pairs, in
  cache-sized tiles on the CPU, float64 on CUDA; ``--pairs-per-chunk`` or its default; the inputs already on
  the device, the float64 matrix brought back to the CPU);
- peer: exact nearest-neighbour queries with scipy.spatial.cKDTree, single thread (``workers=1``): one tree
  per cloud, built inside the timed run, then for every pair the queries both ways and the squared
  Chamfer sum.

Both compute the same squared-distance Chamfer; the largest absolute and relative differences between the two
matrices are printed.  On the CPU torch runs with ``--threads`` intra-op threads (1 by default, like the peer).

    OMP_NUM_THREADS=1 python benchmarks/pointcloud_metrics.py --n 12 --points 2048   # CPU, about a minute
    python benchmarks/pointcloud_metrics.py --device cuda --n 64 --points 2048
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import scipy
import torch
from scipy.spatial import cKDTree

from modalities.pointcloud.metrics import pairwise_chamfer


def clouds(n: int, points: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-sphere surfaces (n, points, 3) and surfaces of the cube [-0.6, 0.6]^3 (n, points, 3)."""
    g = torch.Generator().manual_seed(seed)
    sphere = torch.randn(n, points, 3, generator=g)
    sphere = sphere / sphere.norm(dim=-1, keepdim=True)
    cube = torch.rand(n, points, 3, generator=g) * 2 - 1
    face = torch.randint(0, 3, (n, points, 1), generator=g)
    sign = torch.randint(0, 2, (n, points, 1), generator=g).float() * 2 - 1
    return sphere, cube.scatter(2, face, sign) * 0.6


def kdtree_chamfer(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The (n, m) squared-distance Chamfer matrix by exact cKDTree queries, single thread."""
    trees_x, trees_y = [cKDTree(c) for c in x], [cKDTree(c) for c in y]
    out = np.empty((len(x), len(y)))
    for i, (cloud_x, tree_x) in enumerate(zip(x, trees_x)):
        for j, (cloud_y, tree_y) in enumerate(zip(y, trees_y)):
            d_xy = tree_y.query(cloud_x, k=1, workers=1)[0]
            d_yx = tree_x.query(cloud_y, k=1, workers=1)[0]
            out[i, j] = np.mean(d_xy ** 2) + np.mean(d_yx ** 2)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device):
    sync(device)
    start = time.perf_counter()
    result = fn()
    sync(device)
    return time.perf_counter() - start, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--n", type=int, default=12, help="clouds per set (n x n pairs)")
    parser.add_argument("--points", type=int, default=2048, help="points per cloud")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads on the CPU")
    parser.add_argument("--pairs-per-chunk", type=int, help="pairwise_chamfer's chunk (default: its own)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    x, y = clouds(args.n, args.points, args.seed)
    x_np, y_np = x.double().numpy(), y.double().numpy()
    x_dev, y_dev = x.to(device), y.to(device)
    pairs = args.n * args.n

    def zoo():
        return pairwise_chamfer(x_dev, y_dev, pairs_per_chunk=args.pairs_per_chunk)

    def peer():
        return kdtree_chamfer(x_np, y_np)

    runs = {"zoo": zoo, "peer": peer}
    results = {name: timed(fn, device)[1] for name, fn in runs.items()}  # warm-up
    seconds = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            seconds[name].append(timed(fn, device)[0])
    median = {name: statistics.median(s) for name, s in seconds.items()}
    zoo_matrix, peer_matrix = results["zoo"].numpy(), results["peer"]
    abs_diff = float(np.abs(zoo_matrix - peer_matrix).max())
    rel_diff = float((np.abs(zoo_matrix - peer_matrix) / peer_matrix).max())

    cpu_name = platform.processor() or platform.machine()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({cpu_name})"
    print(f"Pairwise Chamfer, {args.n} x {args.n} = {pairs} pairs of {args.points}-point clouds (spheres x cubes); "
          f"zoo on {where}, torch {torch.__version__}, {torch.get_num_threads()} torch thread(s); "
          f"pairs_per_chunk {args.pairs_per_chunk or 'default'}; peer scipy {scipy.__version__} cKDTree, workers=1; "
          f"median of {args.repeats} after 1 warm-up")
    print("| method | device | threads | median s | pairs/s | vs cKDTree |")
    print("|---|---|---|---|---|---|")
    zoo_threads = torch.get_num_threads() if device.type == "cpu" else "-"
    print(f"| zoo pairwise_chamfer (brute force) | {args.device} | {zoo_threads} | {median['zoo']:.3f} | "
          f"{pairs / median['zoo']:.1f} | {median['peer'] / median['zoo']:.2f}x |")
    print(f"| scipy cKDTree queries (exact) | cpu | 1 | {median['peer']:.3f} | {pairs / median['peer']:.1f} | 1.00x |")
    print(f"Chamfer values agree: max |zoo - cKDTree| = {abs_diff:.2e}, max relative {rel_diff:.2e} "
          f"(values {peer_matrix.min():.4f} .. {peer_matrix.max():.4f})")


if __name__ == "__main__":
    main()
