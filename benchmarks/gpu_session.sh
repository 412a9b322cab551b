#!/usr/bin/env bash
# Everything that needs the GPU machine, in one call (run from the repository root there):
# GPU-marked tests, the end-to-end benchmark and the kernel benchmarks, logs under $OUT.
#   bash benchmarks/gpu_session.sh [e2e shapes, default 1.5b,7b] [e2e contexts, default 2048,16384,32768]
set -uo pipefail
OUT=${OUT:-/tmp/codepager-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || echo "editable install failed"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
# every kernel test (the interpreter tests run the real kernels on a GPU) and the GPU-marked ones
python3 -m pytest -o addopts="" -q -rf -p no:cacheprovider tests/kernels tests/model/test_fused_gpu.py \
  tests/model/test_loader.py tests/model/test_generation.py tests/engine/test_cuda_graphs.py \
  tests/engine/test_decode_bursts.py 2>&1 | tail -15 | tee "$OUT/gpu_tests.log"
python3 benchmarks/e2e.py --shapes "${1:-1.5b,7b}" --contexts "${2:-2048,16384,32768}" --out "$OUT/e2e" 2>&1 \
  | tail -60 | tee "$OUT/e2e.log"
python3 benchmarks/kernels.py --markdown "$OUT/kernels.md" 2>&1 | tail -40 | tee "$OUT/kernels.log"
python3 benchmarks/extend_shifted.py 2>&1 | tail -8 | tee "$OUT/extend_shifted.log"
