#!/bin/sh
# strata push vs docker push vs buildah push: see benches/README.md ("push").
exec python3 "$(dirname "$0")/push.py" "$@"
