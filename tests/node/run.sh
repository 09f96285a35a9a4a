#!/usr/bin/env bash
# Runs keyrouter's Node.js tests: installs the pinned NATS client packages,
# builds keyrouter (unless KEYROUTER_BIN names a binary) and nats-server at
# the version go.mod pins (unless NATS_SERVER_BIN names one; cached in the
# repository's ignored .cache/bin), then `node --test` (every *.test.mjs:
# the public contract, and the generated permissions over TLS, which also
# needs openssl). Needs Go and Node (>= 20).
# Extra arguments go to `node --test`, e.g. --test-name-pattern=duplicate.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
repo="$(cd ../.. && pwd)"

command -v node >/dev/null || { echo "run.sh: node not found" >&2; exit 1; }
command -v npm >/dev/null || { echo "run.sh: npm not found" >&2; exit 1; }
if [[ -z "${KEYROUTER_BIN:-}" || -z "${NATS_SERVER_BIN:-}" ]]; then
  command -v go >/dev/null || { echo "run.sh: go not found (or set KEYROUTER_BIN and NATS_SERVER_BIN)" >&2; exit 1; }
fi

if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi

bin="$repo/.cache/bin"
mkdir -p "$bin"
if [[ -z "${KEYROUTER_BIN:-}" ]]; then
  (cd "$repo" && go build -o "$bin/keyrouter" ./cmd/keyrouter)
  export KEYROUTER_BIN="$bin/keyrouter"
fi
if [[ -z "${NATS_SERVER_BIN:-}" ]]; then
  version="$(cd "$repo" && go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)"
  if [[ ! -x "$bin/nats-server" ]] || ! "$bin/nats-server" --version | grep -q "${version#v}"; then
    (cd "$repo" && GOBIN="$bin" go install "github.com/nats-io/nats-server/v2@$version")
  fi
  export NATS_SERVER_BIN="$bin/nats-server"
fi
exec node --test "$@"
