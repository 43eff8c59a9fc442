#!/usr/bin/env bash
# Every published crate packages: `cargo package` for the library crates and the binary together
# (in dependency order, each resolving its path dependencies by version against the ones packaged
# before it), without building the packages (--no-verify: the other stages build the same code).
# Fails on a missing field cargo requires, a file outside a crate, an unversioned path dependency.
set -euo pipefail
cd "$(dirname "$0")/.."

crates=(outpost-store outpost-store-sqlite outpost-store-redis outpost-oauth
        outpost-authorization-server outpost-mcp outpost-reference outpost-cli)
cargo package --locked --no-verify --allow-dirty "${crates[@]/#/-p=}"
echo "package: ${#crates[@]} crates packaged (target/package)"
