#!/usr/bin/env bash
# Installs codepager (scripts/install.sh), then runs its main job on the embedded default model:
# index a sample repository and complete a line that needs a symbol defined in another file.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${CODEPAGER_SKIP_INSTALL:-}" = 1 ] || bash scripts/install.sh
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r tests/data/repo_sample "$work/shop-repo"
git -C "$work/shop-repo" init -q
git -C "$work/shop-repo" add -A
git -C "$work/shop-repo" -c user.name=demo -c user.email=demo@example.invalid commit -qm "sample"
export XDG_CACHE_HOME="$work/cache"   # keep the demo's index out of the user's cache
echo "== codepager index"
"$PY" -m codepager index "$work/shop-repo"
target="$work/shop-repo/shop/checkout.py"
line=$(grep -n "total = cart.total_price(" "$target" | head -1 | cut -d: -f1)
col=$(( $(sed -n "${line}p" "$target" | awk '{ match($0, /[^ ]/); print RSTART }') ))
echo "== codepager complete shop/checkout.py:$line:$col (the line's code removed from the buffer)"
sed "${line}s/[^ ].*//" "$target" > "$work/buffer.py"
"$PY" -m codepager complete "$target:$line:$col" --text-file "$work/buffer.py" --max-tokens 24 --json
