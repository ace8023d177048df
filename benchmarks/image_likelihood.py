"""Re-measure the likelihood of released image models alone (``image-eval/1``'s bits/dim) and compare it with
their metrics.json, without re-running the rest of the evaluation.

``modalities.image.likelihood`` on the first 64 test images, uniformly dequantised, seed 0: the probability-flow
ODE through ``zoo.core.log_likelihood`` (dopri5 at rtol = atol = 1e-4, one Hutchinson probe), as ``zoo eval``
measures it.  A consistency or latent model says "not computed" and why.

    OMP_NUM_THREADS=1 python benchmarks/image_likelihood.py image/fashion-dit image/fashion-flow

On a 2-core CPU at one thread: image/fashion-dit 74 s of CPU time, image/fashion-flow 4 minutes (a U-Net's
backward passes); the numbers agree with metrics.json to the ODE's tolerance, not bit for bit (the adaptive
solver's step count moves with the floating-point rounding of the threads and build).
"""
from __future__ import annotations

import argparse
import json
import time

import torch

import zoo
from modalities.image import dataset, likelihood
from zoo.evaluation import describe_device
from zoo.names import embedded_folder
from zoo.registry import releases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="released image models, e.g. image/fashion-dit")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.models:
        model = zoo.load(name, local_files_only=True, device=args.device)
        data = dataset(**model.config["data"])
        start, cpu = time.perf_counter(), time.process_time()
        result = likelihood(model, data.images["test"], seed=0)
        result.update(seconds=round(time.perf_counter() - start, 1), cpu_seconds=round(time.process_time() - cpu, 1),
                      device=describe_device(args.device))
        recorded = json.loads((embedded_folder(releases()[name]) / "metrics.json").read_text())
        if isinstance(result["bits_per_dim"], float) and isinstance(recorded.get("bits_per_dim"), float):
            result["recorded_bits_per_dim"] = recorded["bits_per_dim"]
            result["difference"] = result["bits_per_dim"] - recorded["bits_per_dim"]
        print(json.dumps({"model": name, **result}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
