#!/usr/bin/env bash
# Installs what scripts/test.sh needs beyond a Rust toolchain, on Debian: the rustfmt and clippy
# components (by rustup) and the Debian packages listed in needs() below, each only if its check
# fails. As root it says which packages it installs and why, then runs apt-get; as any other user
# it prints the one command to run and exits non-zero. scripts/test.sh runs it as its first stage.
set -euo pipefail
me=install-test-deps
CARGO_DENY_VERSION=0.20.2
CARGO_FUZZ_VERSION=0.13.2

# What the tests need, one `want` line each: the Debian packages that provide it, why, and a
# command that succeeds when it is already there. A new need (a server the tests start, say) is
# one more line here.
needs() {
    want "nodejs npm" "node runs the browser tests, npm fetches them and the conformance suite" \
        sh -c 'command -v node && command -v npm'
    want python3 "the Python SDK interop tests, and conformance.sh's tally" \
        command -v python3
    # Debian's python3 has the venv module but not ensurepip, so `python3 -m venv` fails until
    # python3-venv is installed (and `python3 -m venv --help` succeeds all the same).
    want python3-venv "python3 -m venv for the official Python MCP SDK" \
        python3 -c 'import ensurepip, venv'
    want curl "conformance.sh probes /health" \
        command -v curl
    # The browser tests launch CHROMIUM_BIN, by default Debian's /usr/bin/chromium.
    want chromium "the MCP App and the login pages are rendered in headless Chromium" \
        test -x "${CHROMIUM_BIN:-/usr/bin/chromium}"
    want fonts-dejavu-core "a font for the text in Chromium's screenshots" \
        test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
    # The multi-instance tests (tests/python/test_multi_instance.py) put three instances behind
    # a real load balancer, on a real Redis.
    want haproxy "the load balancer in front of the multi-instance tests" \
        test -x "${HAPROXY_BIN:-/usr/sbin/haproxy}"
    want redis-server "the Redis the store tests, the multi-instance tests and the bench start" \
        command -v "${REDIS_SERVER_BIN:-redis-server}"
}

# Runs the checks; missing_pkgs gets the packages of each one that fails (each package once),
# missing_why a "packages (why)" line and missing_check the failing check, per failed check.
missing_pkgs=()
missing_why=()
missing_check=()
want() {
    local pkgs=$1 why=$2 pkg
    shift 2
    "$@" >/dev/null 2>&1 && return 0
    for pkg in $pkgs; do
        [[ " ${missing_pkgs[*]} " == *" $pkg "* ]] || missing_pkgs+=("$pkg")
    done
    missing_why+=("$pkgs ($why)")
    missing_check+=("$*")
}
check() {
    missing_pkgs=()
    missing_why=()
    missing_check=()
    needs
}
why() {
    local line out=""
    for line in "${missing_why[@]}"; do out+="${out:+; }$line"; done
    echo "$out"
}

# rustfmt and clippy are components of the user's own toolchain: rustup adds them, no root needed.
# rustup's proxies for them exist even when the component is not installed, and then fail.
if ! command -v cargo >/dev/null 2>&1; then
    echo "$me: no Rust toolchain on PATH; install one with rustup (Rust 1.88 or newer)" >&2
    exit 1
fi
if ! rustfmt --version >/dev/null 2>&1 || ! cargo-clippy --version >/dev/null 2>&1; then
    if ! command -v rustup >/dev/null 2>&1; then
        echo "$me: rustfmt or clippy is missing and there is no rustup to add them;" \
            "install both for your Rust toolchain" >&2
        exit 1
    fi
    echo "$me: rustup component add rustfmt clippy (for the fmt and clippy stages)"
    rustup component add rustfmt clippy
fi
# cargo-deny checks licences, bans and sources (the deny stage); built from crates.io into the
# user's ~/.cargo/bin, no root needed. Pinned, so a new release cannot change the verdict.
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
    echo "$me: cargo install cargo-deny $CARGO_DENY_VERSION (for the deny stage; takes a few minutes)"
    cargo install --quiet --locked cargo-deny --version "$CARGO_DENY_VERSION"
fi
# cargo-fuzz builds and runs the fuzz targets of fuzz/ (the fuzz stage, scripts/fuzz.sh); its
# nightly flags come from a nightly toolchain when rustup has one, else RUSTC_BOOTSTRAP=1.
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "$me: cargo install cargo-fuzz $CARGO_FUZZ_VERSION (for the fuzz stage; takes a few minutes)"
    cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

check
if [ ${#missing_pkgs[@]} -eq 0 ]; then
    echo "$me: everything the tests need is installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$me: missing, and no apt-get to install them (not Debian?): $(why)" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "$me: the tests need Debian packages that are not installed: $(why)" >&2
    echo "$me: installing them needs root; run this, then scripts/test.sh again:" >&2
    echo "    sudo apt-get install -y ${missing_pkgs[*]}" >&2
    exit 1
fi

echo "$me: installing Debian packages with apt-get: $(why)"
# dpkg's hundreds of progress lines are kept out of the test log unless the install fails.
log=$(mktemp -t outpost-apt.XXXXXX.log)
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}"; } \
    >"$log" 2>&1; then
    cat "$log" >&2
    echo "$me: apt-get install ${missing_pkgs[*]} failed (log above)" >&2
    exit 1
fi
rm -f "$log"

# A check that still fails was not fixed by its package here (another python3 first on PATH,
# CHROMIUM_BIN pointing elsewhere): say so now rather than as a puzzling failure stages later.
check
if [ ${#missing_why[@]} -ne 0 ]; then
    echo "$me: still missing after apt-get install: $(why)" >&2
    for c in "${missing_check[@]}"; do echo "$me: this check still fails: $c" >&2; done
    exit 1
fi
echo "$me: installed"
