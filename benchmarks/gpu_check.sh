#!/bin/sh
# GPU check (parity + latency of every backend, < 4 min): run from anywhere; args go to gpu_check.py.
cd "$(dirname "$0")/.." && PYTHONPATH=. exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
