#!/usr/bin/env bash
# The quick start: build strata, import the busybox base, build the demo image from
# testdata/demo, run it with strata's sandbox-free check and in docker when a daemon is there.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
strata=target/release/strata
export STRATA_ROOT=${STRATA_ROOT:-$PWD/target/demo-store}
out=target/demo
mkdir -p "$out"
testdata/make-rootfs.sh "$out/base.tar"
$strata import -m "busybox base" "$out/base.tar" strata-base:latest
$strata build -t strata-demo:latest testdata/demo
$strata images
$strata history strata-demo:latest
$strata inspect --type image strata-demo:latest
$strata save -o "$out/strata-demo.tar" strata-demo:latest
echo "saved $out/strata-demo.tar"
if docker info >/dev/null 2>&1; then
  docker load -i "$out/strata-demo.tar"
  docker run --rm --network none strata-demo:latest
fi
$strata system check
