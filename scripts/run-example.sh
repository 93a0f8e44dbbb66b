#!/usr/bin/env bash
# Runs the example action end to end on a fresh machine: provisions Docker (and Redis), builds
# action-worker, then runs examples/log-scanner against examples/data and shows what it produced.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/provision.sh
npm run --silent build

output="$root/action-worker-output/example-$(date +%Y%m%d-%H%M%S)"
node bin/action-worker.js run examples/log-scanner --input examples/data --output "$output" "$@"

echo
echo "== outputs in $output"
(cd "$output" && find . -type f ! -path './.metadata/*' | sort)
echo "== metadata applied to them and to the dataset ($output/.metadata/action-worker.json)"
cat "$output/.metadata/action-worker.json"
