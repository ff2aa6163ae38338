#!/usr/bin/env bash
# Installs what strata's tests use on a Debian 12 machine and starts dockerd if it is not
# running. Idempotent; safe to run repeatedly.
set -euo pipefail

packages=(docker.io skopeo umoci busybox-static docker-registry runc zstd bzip2 xz-utils python3 ca-certificates)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# dockerd proves interoperability (strata save -> docker load -> docker run). It gets no bridge
# and no iptables rules: the tests run containers with --network none and touch nothing of the
# host's network.
if ! docker info >/dev/null 2>&1; then
  nohup dockerd --host unix:///var/run/docker.sock --bridge=none --iptables=false \
    --ip6tables=false >/tmp/strata-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/strata-dockerd.log" >&2; exit 1; }
fi
