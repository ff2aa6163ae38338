#!/usr/bin/env bash
# strata build benchmarks against docker BuildKit and buildah; see benches/README.md.
#   benches/run.sh [--tools strata,buildkit,buildah] [--only ten,fifty,stages,context,gib] [--keep]
set -euo pipefail
exec python3 "$(dirname "$0")/run.py" "$@"
