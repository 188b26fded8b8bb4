"""Training-step benchmark: ms per sample of one optimiser step, and what threads cost.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/train.py          # threads 1 and 2
    python benchmarks/train.py --threads 1 2 --batch 32 --steps 6

Times forward + backward + AdamW step of the network shape of
``config/train-default.yaml`` (or ``--config``) on random inputs, batch
``--batch``, after two untimed warm-up steps; median and minimum over
``--steps``. Also times the log-space augmentation of one batch. The OpenMP
wait policy in effect is printed: with the default (spinning) policy and
shared cores a multi-threaded step can be an order of magnitude slower (see
docs/training.md). Results go to ``benchmarks/results/train_<host>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    """Run the benchmark; prints a table and writes JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "train-default.yaml")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()

    import torch

    from monitor.models.network import SolarResNet
    from monitor.train.augment import Augmenter
    from monitor.train.command import load_config
    from monitor.train.pipeline import machine_description
    from monitor.train.trainer import network_config

    config, _ = load_config(args.config)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        model = SolarResNet(network_config(config)).train()
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        size = config.model.size
        x = torch.randn(args.batch, len(config.model.channels), size, size)
        times = []
        for i in range(args.steps + 2):
            t0 = time.perf_counter()
            logits, irradiance, _ = model(x)
            (logits.sum() + irradiance.sum()).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if i >= 2:
                times.append((time.perf_counter() - t0) / args.batch * 1000)
        aug = Augmenter(config.augment, config.model.channels, size, config.model.input_offset)
        gen = torch.Generator().manual_seed(0)
        t_log = torch.rand(args.batch, len(config.model.channels), size, size) * 3
        aug_times = []
        for _ in range(3):
            t0 = time.perf_counter()
            aug(t_log, gen)
            aug_times.append((time.perf_counter() - t0) / args.batch * 1000)
        rows.append({"threads": threads, "step_ms_per_sample_median": statistics.median(times),
                     "step_ms_per_sample_min": min(times),
                     "augment_ms_per_sample_median": statistics.median(aug_times)})
    policy = os.environ.get("OMP_WAIT_POLICY", "(unset: spinning)")
    print(f"machine: {machine_description()}; OMP_WAIT_POLICY={policy}; batch {args.batch}")
    print("| threads | step ms/sample (median) | (min) | augmentation ms/sample |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['step_ms_per_sample_median']:.1f} | "
              f"{r['step_ms_per_sample_min']:.1f} | {r['augment_ms_per_sample_median']:.2f} |")
    out = ROOT / "benchmarks" / "results" / f"train_{socket.gethostname()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_description(), "platform": platform.platform(),
                               "omp_wait_policy": policy, "batch": args.batch,
                               "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
