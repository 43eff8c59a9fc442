#!/usr/bin/env bash
# The API documentation builds without a warning (broken or private intra-doc links included)
# and its examples compile and run: `cargo doc` and `cargo test --doc` with every feature on, so
# the feature-gated modules' docs are checked too (`cargo test --all-targets` runs no doctests).
set -euo pipefail
cd "$(dirname "$0")/.."

RUSTDOCFLAGS="-D warnings" cargo doc --workspace --exclude outpost-bench --no-deps --all-features --locked
cargo test --doc --workspace --all-features --locked
