#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser test
# (cmd/keyrouter/dashboard_browser_test.go) if /usr/bin/chromium is
# missing. Exits 0 either way: when it cannot install (not root, no apt,
# no package), it says so and the browser test skips with that reason.
set -uo pipefail

if [[ -x /usr/bin/chromium ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "tests/browser/install.sh: cannot install chromium (needs root and apt-get); the browser test will skip" >&2
  exit 0
fi
echo "tests/browser/install.sh: installing chromium (Debian package)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium; } >/tmp/keyrouter-chromium-install.log 2>&1; then
  echo "tests/browser/install.sh: apt-get install chromium failed (log: /tmp/keyrouter-chromium-install.log); the browser test will skip" >&2
fi
exit 0
