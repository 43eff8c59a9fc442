#!/usr/bin/env bash
# Renders the reference server's greeting_card MCP App in headless Chromium through the real
# AppBridge of @modelcontextprotocol/ext-apps (tests/app-host): builds and starts
# `outpost serve`, talks MCP over HTTP like a host, and checks the View in light and dark themes.
# Needs node >= 20, npm and /usr/bin/chromium (Debian's `chromium`; CHROMIUM_BIN overrides).
# Screenshots go to artifacts/app-host/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/tests/app-host"

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
else
  npm install --no-audit --no-fund --loglevel=error >/dev/null
fi

node --test
