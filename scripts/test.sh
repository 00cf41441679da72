#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run) and what a developer runs.
#
# Needs a Rust toolchain (with rustfmt and clippy) and Node.js with npm (the web app is
# built by cargo), and redis-server, redis-cli, nginx and Chromium for the Redis,
# load-balancer and browser tests: when one is missing and this runs as root (as in CI), it
# installs them with apt-get; otherwise it names the packages to install. Every test starts
# its own servers on free loopback ports.
#
# The contract suite (tests/api) runs three times, once per backend: the embedded default,
# one Redis, and a three-master Redis Cluster (MARAUDER_TEST_BACKEND).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v xmllint >/dev/null || missing+=(libxml2-utils)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        # The packages start system services; the tests start their own servers.
        service redis-server stop >/dev/null 2>&1 || true
        service nginx stop >/dev/null 2>&1 || true
    else
        echo "missing: ${missing[*]} (Debian: sudo apt-get install -y ${missing[*]})" >&2
        exit 1
    fi
fi

# Style and lints first: they fail in seconds where the tests take minutes.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cargo test --workspace --locked "$@"
MARAUDER_TEST_BACKEND=redis cargo test --locked -p marauder --test api "$@"
MARAUDER_TEST_BACKEND=redis-cluster cargo test --locked -p marauder --test api "$@"

# The web app in a real browser (Chromium driven by playwright-core, from web/'s lockfile,
# installed by the build), against the binary the tests above built.
cargo build --locked -p marauder
MARAUDER_BIN="$PWD/target/debug/marauder" node --test web/e2e/
