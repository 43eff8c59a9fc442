#!/usr/bin/env bash
# Drives the embedded OAuth 2.1 authorization server's login and consent pages in headless
# Chromium (tests/auth-browser): registers a public client, runs /authorize with PKCE through a
# wrong password, the right one (alice / password123) and consent, checks the redirect to a
# loopback callback (code, state, iss) and redeems the code at /token; and the upstream OpenID
# login across two sites (Outpost on localhost, oidc-provider on 127.0.0.1).
# The caller builds outpost first: OUTPOST_BIN=/path/to/outpost, default target/debug/outpost.
# Needs node >= 20, npm and /usr/bin/chromium (Debian's `chromium`; CHROMIUM_BIN overrides).
# Screenshots go to artifacts/auth-browser/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OUTPOST_BIN="${OUTPOST_BIN:-$ROOT/target/debug/outpost}"
if [ ! -x "$OUTPOST_BIN" ]; then
  echo "auth-browser-test: no outpost binary at $OUTPOST_BIN (run cargo build -p outpost-cli, or set OUTPOST_BIN)" >&2
  exit 1
fi

# upstream-login.test.mjs runs the real OpenID provider of tests/oidc-provider (its pinned
# packages, Node 22 among them).
if [ ! -d "$ROOT/tests/oidc-provider/node_modules/oidc-provider" ]; then
  (cd "$ROOT/tests/oidc-provider" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
cd "$ROOT/tests/auth-browser"
npm ci --no-audit --no-fund --loglevel=error >/dev/null

node --test
