#!/usr/bin/env bash
# The full test suite, as CI runs it: formatting, lints, unit and integration tests (real HTTP
# on loopback, rmcp's client), the official Python MCP SDK against the server, the MCP App in
# headless Chromium under the official ext-apps AppBridge, the OAuth login and consent pages in
# headless Chromium, then the
# official MCP conformance suite against `outpost serve --no-auth` for protocol 2025-11-25 and
# 2026-07-28.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
cargo build -p outpost-cli --locked
scripts/python-test.sh
OUTPOST_BIN="$root/target/debug/outpost" scripts/app-host-test.sh
OUTPOST_BIN="$root/target/debug/outpost" scripts/auth-browser-test.sh
scripts/conformance.sh target/debug/outpost
