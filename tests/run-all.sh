#!/usr/bin/env bash
# The whole test suite: host setup (packages, dockerd), then every crate's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup-host.sh
export STRATA_REQUIRE_DOCKER=1
cargo test --workspace --all-targets "$@"
