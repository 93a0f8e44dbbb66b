#!/usr/bin/env bash
# The whole test suite, as CI runs it: provisions Docker and Redis when needed, then type-checks, lints,
# checks formatting, and runs the unit and integration tests against the real engine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/provision.sh

echo "== typecheck" && npm run --silent typecheck
echo "== lint" && npm run --silent lint
echo "== format" && npm run --silent format:check

mkdir -p .test-results
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-results/vitest.json
status=$?
set -e
node scripts/test-summary.js .test-results/vitest.json || status=1
exit "$status"
