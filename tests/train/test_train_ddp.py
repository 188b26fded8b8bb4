"""``torchrun`` with two CPU processes (gloo) trains through the same entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from train_tiny import TINY_YAML

from monitor.models import load_package


def test_two_process_gloo_run(tmp_path: Path, tiny_cache: Path) -> None:
    config = tmp_path / "tiny.yaml"
    out = tmp_path / "run"
    config.write_text(TINY_YAML + f"out_dir: {out}\ncache_dir: {tiny_cache}\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "monitor.train", "--config", str(config), "--epochs", "2", "--no-progress"],
        capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank=1" in proc.stderr and "world_size=2" in proc.stderr
    metrics = json.loads((out / "package" / "metrics.json").read_text())
    training = metrics["training"]
    assert training["processes"] == 2 and training["epochs_run"] == 2
    # Each epoch covers the training split once across both processes.
    assert training["samples_seen"] == 2 * 192
    assert training["history"][-1]["train_loss"] < training["history"][0]["train_loss"]
    load_package(out / "package")         # hashes and ONNX/torch parity verified
    assert json.loads(proc.stdout.strip().splitlines()[-1])["package"] == str(out / "package")
