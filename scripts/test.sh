#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run) and what a developer runs.
# Needs only a Rust toolchain; every test starts its own servers on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
