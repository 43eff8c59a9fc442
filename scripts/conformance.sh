#!/usr/bin/env bash
# Runs the official MCP conformance suite: the server scenarios (protocol 2025-11-25 and
# 2026-07-28) against `outpost serve --no-auth`, then the authorization-server scenarios against
# `outpost serve --demo`, and exits non-zero if any scenario failed.
#
#   scripts/conformance.sh [OUTPOST_BINARY]
#
# Without an argument it builds the release binary first. The server listens on a free loopback
# port for the duration of the run. The suite runner is ../shared/tools/conformance.sh relative to
# the repository root (CI clones the repo next to a copy of shared/). Documented expected
# failures, if any, live in conformance/expected-failures.yaml.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
suite="$root/../shared/tools/conformance.sh"
expected="$root/conformance/expected-failures.yaml"

if [ ! -f "$suite" ]; then
  echo "conformance.sh: suite runner not found at $suite" >&2
  exit 2
fi

if [ $# -ge 1 ]; then
  binary=$1
else
  (cd "$root" && cargo build --release -p outpost-cli)
  binary="$root/target/release/outpost"
fi
[ -x "$binary" ] || { echo "conformance.sh: $binary is not an executable" >&2; exit 2; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
base="http://127.0.0.1:$port"
log=$(mktemp -t outpost-conformance.XXXXXX.log)

"$binary" serve --no-auth --bind "127.0.0.1:$port" >"$log" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap stop EXIT

ready=""
for _ in $(seq 1 100); do
  if curl -fsS "$base/health" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "conformance.sh: outpost did not become healthy on $base; its log:" >&2
  tail -n 50 "$log" >&2
  exit 1
fi

args=(server "$base/mcp")
[ -f "$expected" ] && args+=("$expected")
status=0
bash "$suite" "${args[@]}" || status=$?
if [ "$status" -ne 0 ]; then
  echo "conformance.sh: server log at $log"
else
  rm -f "$log"
fi
stop

# The authorization-server scenarios, against `outpost serve --demo` (embedded AS, fresh
# store): register a public client for the suite's callback port, then let the suite log in
# as alice through shared/tools/login-driver.py.
store=$(mktemp -d -t outpost-conformance-store.XXXXXX)
"$binary" serve --demo --bind "127.0.0.1:$port" --store "sqlite://$store/outpost.db" >"$log" 2>&1 &
server=$!
trap 'stop; rm -rf "$store"' EXIT
ready=""
for _ in $(seq 1 100); do
  if curl -fsS "$base/health" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ready" ] || { echo "conformance.sh: outpost --demo did not become healthy; its log:" >&2; tail -n 50 "$log" >&2; exit 1; }
callback=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
client=$(curl -fsS "$base/register" -H 'content-type: application/json' \
  -d "{\"redirect_uris\":[\"http://127.0.0.1:$callback/callback\"],\"token_endpoint_auth_method\":\"none\",\"application_type\":\"native\",\"client_name\":\"MCP conformance suite\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')
as_status=0
bash "$suite" as "$base" "$client" "$callback" alice password123 "$base/mcp" || as_status=$?
[ "$as_status" -eq 0 ] || echo "conformance.sh: server log at $log"
[ "$status" -ne 0 ] || status=$as_status
exit "$status"
