#!/usr/bin/env bash
# Interop tests with the official Python MCP SDK (tests/python, pinned in its requirements.txt)
# against an already built `outpost` binary: OUTPOST_BIN, default target/debug/outpost (build it
# first with `cargo build -p outpost-cli`). The virtualenv lives in target/py-venv. Arguments go to
# pytest: scripts/test.sh runs `-m "not multi_instance"` and `-m multi_instance` (three instances
# behind haproxy, tests/python/cluster.py: OUTPOST_MULTI_STORE=sqlite|redis picks their store,
# OUTPOST_MULTI_READY_PATH what readiness is polled at) as two stages.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# A relative OUTPOST_BIN given by the caller is taken from the caller's directory.
if [[ -n "${OUTPOST_BIN:-}" && "$OUTPOST_BIN" != /* ]]; then
    OUTPOST_BIN="$PWD/$OUTPOST_BIN"
fi
cd "$root"

export OUTPOST_BIN="${OUTPOST_BIN:-target/debug/outpost}"
if [[ ! -x "$OUTPOST_BIN" ]]; then
    echo "python-test: outpost binary '$OUTPOST_BIN' not found or not executable;" \
        "build it with 'cargo build -p outpost-cli' or set OUTPOST_BIN" >&2
    exit 1
fi

venv=target/py-venv
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
# The Python SDK 1.x, whose server test_connect.py also connects to (OUTPOST_MCP1_PYTHON).
mcp1=target/py-venv-mcp1
if [[ ! -x "$mcp1/bin/python" ]]; then
    python3 -m venv "$mcp1"
fi
"$mcp1/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements-mcp1.txt
export OUTPOST_MCP1_PYTHON="$PWD/$mcp1/bin/python"

# No cache directory: nothing is written beside the tests.
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python "$@"
