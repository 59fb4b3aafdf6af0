#!/usr/bin/env bash
# Headless Chromium for the browser tests (tests/browser): Debian's chromium package. Playwright drives it through
# its Python API pointed at /usr/bin/chromium (it cannot download its own browser here). Idempotent; needs root
# (CI and these machines run as root) or an existing /usr/bin/chromium.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(chromium --version 2>/dev/null | head -1)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium is not installed and this is not root: the browser tests will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
echo "chromium: $(chromium --version 2>/dev/null | head -1)"
