#!/usr/bin/env bash
# The GPU throughput benchmark from a clean copy of the tree: the Makefile's venv (made on first
# use: pinned torch, sam2 built without its CUDA extension), then benchmarks/gpu.py, whose JSON
# goes to $OUT when set (a device machine's output folder), else to benchmarks/runs/.
# Extra arguments go to gpu.py: benchmarks/gpu.sh --seconds 300, benchmarks/gpu.sh --dry-run.
set -euo pipefail
cd "$(dirname "$0")/.."
make .venv/.installed
exec .venv/bin/python benchmarks/gpu.py --out "${OUT:-benchmarks/runs}" "$@"
