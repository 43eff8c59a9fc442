#!/usr/bin/env bash
# The full test suite, as CI runs it: first whatever the tests need that is missing on this
# Debian machine (scripts/install-test-deps.sh: apt-get as root, else it prints the command to
# run), then formatting, lints, the API documentation (no warning, its examples compiled and
# run), the dependency policy (cargo deny: licences, bans, sources;
# deny.toml), unit and integration tests (real HTTP on loopback, rmcp's
# client), a short run of each fuzz target (scripts/fuzz.sh short), the build (the binary and the
# library examples), `cargo package` of every published crate, the official Python MCP SDK against the server, then against three instances on one store
# behind haproxy (a stage of its own, multi-instance: with parked sessions it also runs the
# official conformance server suites through the balancer), the MCP App in headless Chromium under
# the official ext-apps AppBridge, the OAuth login and consent pages in headless Chromium, then
# the official MCP conformance suite against `outpost serve --no-auth` for protocol 2025-11-25 and
# 2026-07-28. Each stage prints its duration, and a table of them all comes at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/stage.sh
. scripts/stage.sh
trap stage_summary EXIT

stage deps scripts/install-test-deps.sh
stage fmt cargo fmt --all -- --check
stage clippy cargo clippy --workspace --all-targets --locked -- -D warnings
stage doc scripts/doc-check.sh
stage deny cargo deny --locked check bans licenses sources
stage cargo-test cargo test --workspace --all-targets --locked
stage fuzz scripts/fuzz.sh short
stage build cargo build -p outpost-cli -p outpost-example-authenticated -p outpost-example-custom-users --locked
stage package scripts/package-check.sh
stage no-auth-library scripts/no-auth-library-test.sh
stage python scripts/python-test.sh -m "not multi_instance"
stage multi-instance scripts/python-test.sh -m multi_instance
stage app-host env OUTPOST_BIN="$root/target/debug/outpost" scripts/app-host-test.sh
stage auth-browser env OUTPOST_BIN="$root/target/debug/outpost" scripts/auth-browser-test.sh
stage conformance scripts/conformance.sh target/debug/outpost
