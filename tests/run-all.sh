#!/usr/bin/env bash
# The whole test suite: host setup (packages, dockerd), then every crate's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup-host.sh
export STRATA_REQUIRE_DOCKER=1
# Benches (harness = false) are not run here: they are measurements, run by hand (benches/).
cargo test --workspace "$@"
