"""Loading and running a model package needs neither the FITS reader nor astropy.

A GPU host has torch and onnxruntime but not the ingest stack; the GPU check
(``benchmarks/gpu_check.py``) imports exactly these modules. Each import runs
in a fresh interpreter so that nothing this test session imported counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Imported only by ingest, preprocessing geometry and saliency coordinates.
INGEST_ONLY = ("astropy", "sunpy", "erfa", "monitor.ingest", "monitor.preprocess")

MODULES = [
    "monitor.models",
    "monitor.models.package",
    "monitor.models.testing",
    "monitor.models.onnx_export",
    "monitor.inference",
    "monitor.inference.registry",
    "monitor.inference.torch_cpu",
    "monitor.inference.torch_cuda",
    "monitor.inference.ort_backend",
    "monitor.inference.trt_backend",
    "monitor.inference.trt_build",
    "monitor.saliency.cam",
]


def leaks_after(modules: list[str]) -> dict[str, list[str]]:
    """Ingest-stack modules newly loaded by each of ``modules``, imported in turn in a new
    interpreter (one torch start-up for all)."""
    code = f"""
import importlib, json, sys
ingest = {INGEST_ONLY!r}
def bad():
    return {{m for m in sys.modules if any(m == p or m.startswith(p + ".") for p in ingest)}}
out = {{}}
for name in sys.argv[1:]:
    before = bad()
    importlib.import_module(name)
    out[name] = sorted(bad() - before)
print(json.dumps(out))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True,
                          text=True, env=env, timeout=300, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_model_and_backend_modules_do_not_import_the_ingest_stack() -> None:
    leaks = leaks_after(MODULES)
    assert set(leaks) == set(MODULES)
    leaked = {name: found[:6] for name, found in leaks.items() if found}
    assert not leaked, f"these imports pulled in the ingest stack: {leaked}"


def test_the_check_itself_notices_a_leak() -> None:
    # The same check on the ingest package must see astropy, or it proves nothing.
    assert "astropy" in leaks_after(["monitor.ingest"])["monitor.ingest"]
