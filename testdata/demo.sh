#!/usr/bin/env bash
# The quick start: build strata, make the base rootfs, import it as an image, list and
# inspect it, and prove it runs under docker when a docker daemon is there.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
strata=target/release/strata
export STRATA_ROOT=${STRATA_ROOT:-$PWD/target/demo-store}
out=target/demo
mkdir -p "$out"
testdata/make-rootfs.sh "$out/base.tar"
$strata import -c 'CMD ["/bin/sh", "-c", "echo hello from strata"]' -m "strata demo base" \
  "$out/base.tar" strata-demo:latest
$strata images
$strata inspect strata-demo:latest
$strata history strata-demo:latest
$strata save -o "$out/strata-demo.tar" strata-demo:latest
echo "saved $out/strata-demo.tar"
if docker info >/dev/null 2>&1; then
  docker load -i "$out/strata-demo.tar"
  docker run --rm --network none strata-demo:latest
fi
$strata system check
