#!/usr/bin/env bash
# Runs keyrouter's Node.js contract tests: installs the pinned NATS client
# packages, then `node --test` (which builds keyrouter with `go build`
# unless KEYROUTER_BIN names a binary). Needs only Go and Node (>= 20).
# Extra arguments go to `node --test`, e.g. --test-name-pattern=duplicate.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v node >/dev/null || { echo "run.sh: node not found" >&2; exit 1; }
command -v npm >/dev/null || { echo "run.sh: npm not found" >&2; exit 1; }
if [[ -z "${KEYROUTER_BIN:-}" ]]; then
  command -v go >/dev/null || { echo "run.sh: go not found (or set KEYROUTER_BIN)" >&2; exit 1; }
fi

if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
exec node --test "$@"
