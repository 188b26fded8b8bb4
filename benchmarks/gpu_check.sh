#!/bin/sh
# The GPU check in one call (docs/benchmarks.md, "GPU check"), from the repository root:
#   1. installs the wheels that travel with the tree (.gpu-wheels/, made by
#      `python3 benchmarks/gpu_wheels.py fetch` where PyPI is reachable) with
#      pip --no-index --no-deps into a temporary folder, and verifies the pins;
#   2. prints what this host has: GPU, driver, CUDA, torch, TensorRT or its absence;
#   3. runs benchmarks/gpu_check.py with the remaining arguments (--out DIR, --dry-run,
#      --require-tensorrt, ...), which also runs the suite's GPU tests.
# --no-install skips step 1 where the interpreter already has every dependency (a
# development virtualenv). Environment: PYTHON (default python3), SDO_MONITOR_WHEELS
# (default .gpu-wheels).
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WHEELS=${SDO_MONITOR_WHEELS:-.gpu-wheels}
install=yes
for arg do
    shift
    if [ "$arg" = --no-install ]; then install=no; else set -- "$@" "$arg"; fi
done
export PYTHONUNBUFFERED=1

if [ "$install" = yes ]; then
    if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        echo "gpu_check.sh: no wheels in $WHEELS: run 'python3 benchmarks/gpu_wheels.py fetch'" \
             "where PyPI is reachable and carry $WHEELS, or pass --no-install" >&2
        exit 2
    fi
    SITE=${TMPDIR:-/tmp}/sdo-monitor-gpu-site
    rm -rf "$SITE"
    "$PYTHON" -m pip install --quiet --no-index --no-deps --no-cache-dir \
        --disable-pip-version-check --target "$SITE" "$WHEELS"/*.whl
    export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
    "$PYTHON" benchmarks/gpu_wheels.py verify "$SITE"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

echo "== host: $(uname -srm), $(nproc) cores"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || true
else
    echo "nvidia-smi: absent"
fi
"$PYTHON" - <<'EOF'
import sys

import onnxruntime
import torch

gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none visible"
print(f"python {sys.version.split()[0]}; torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"cuDNN {torch.backends.cudnn.version()}, GPU: {gpu}")
try:
    import tensorrt
    print(f"tensorrt {tensorrt.__version__}")
except Exception as exc:  # noqa: BLE001 - absent or broken: say which
    print(f"tensorrt: absent ({type(exc).__name__}: {exc})")
print(f"onnxruntime {onnxruntime.__version__}, providers {onnxruntime.get_available_providers()}")
EOF

exec "$PYTHON" benchmarks/gpu_check.py "$@"
