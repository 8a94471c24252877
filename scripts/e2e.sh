#!/usr/bin/env bash
# The long end-to-end check (not part of npm test): the whole vtab-mini study in a fresh workspace,
# then a reviewer's `verify --rerun` of the final runs against the lock it wrote. ~30 min on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ws="$(mktemp -d /tmp/vpt-e2e-XXXXXX)"
cd "$root" && npm run build
cp -r "$root/pipelines" "$ws/pipelines"
rm -f "$ws/pipelines/"*.lock
cd "$ws"
pipeline() { node "$root/dist/cli/main.js" "$@"; }
pipeline validate pipelines/vtab-mini.yaml
time pipeline run pipelines/vtab-mini.yaml --jobs 2
pipeline status pipelines/vtab-mini.yaml
pipeline verify pipelines/vtab-mini.yaml
# Training on the cpu/wasm backends is deterministic: a rerun must reproduce the same bytes.
pipeline verify pipelines/vtab-mini.yaml 'final[task=shapes,*]' --rerun --jobs 2
test -s results/vtab-mini/report.html
echo "e2e ok: $ws"
