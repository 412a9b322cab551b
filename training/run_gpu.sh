#!/usr/bin/env bash
# One whole training run on the GPU machine, from the repository root, with .whl/ carried (tree-sitter):
#   bash training/run_gpu.sh [train.py arguments...]
# Results go to $OUT: the safetensors shards one by one (each < 15 MB) and everything else in
# meta.tar.gz (config, tokenizer, logs), since at most 8 files come back.
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/codepager-out}
RUN=${RUN:-/tmp/codepager-run}
mkdir -p "$OUT" "$RUN"

if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
# A plain (non-editable) install resolves the package-dir mapping (indexer/ -> codepager.indexer).
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . \
  >/dev/null 2>&1 || echo "warning: could not install codepager; samples fall back to ast outlines"
export PYTHONPATH="/tmp/site:$PWD/training"
python3 -c "import python_segments as s, torch; print('segmenter', s.BACKEND, 'torch', torch.__version__)"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

status=0
python3 training/train.py --out "$RUN" "$@" 2>&1 | grep -v "Writing model shards" | tee "$OUT/train_stdout.log" \
  || status=$?

cp "$RUN"/*.safetensors "$OUT"/ 2>/dev/null || true
tar -czf "$OUT/meta.tar.gz" -C "$RUN" --exclude='*.safetensors' --exclude='*.pt' .
ls -la "$OUT"
exit $status
