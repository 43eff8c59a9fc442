#!/usr/bin/env bash
# A library user who serves tools without authentication (`default-features = false`, the
# example in examples/no-auth) builds, and compiles none of what only the embedded
# authorization server or the SQLite and Redis stores need: SQLite, Redis, argon2, rustls, ring,
# askama.
set -euo pipefail
cd "$(dirname "$0")/.."

package=outpost-example-no-auth
forbidden='^(rusqlite|libsqlite3-sys|argon2|rustls|ring|askama|hyper-rustls|webpki-roots|redis|outpost-store-sqlite|outpost-store-redis|outpost-authorization-server) '

cargo build -p "$package" --locked
tree=$(cargo tree -p "$package" -e normal --prefix none --locked | sort -u)
found=$(grep -E "$forbidden" <<<"$tree" || true)
echo "$package: $(wc -l <<<"$tree") crates in its dependency tree"
if [ -n "$found" ]; then
  echo "no-auth-library: FAILED: a no-auth library user compiles:" >&2
  echo "$found" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
echo "no-auth-library: none of SQLite, Redis, argon2, rustls, ring, askama in the tree"
echo "1 passed, 0 failed"
