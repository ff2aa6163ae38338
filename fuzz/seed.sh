#!/bin/sh
# Seeds fuzz/corpus/{parse,expand} from the BuildKit conformance vectors.
# Usage: fuzz/seed.sh [CONFORMANCE_DIR]   (default: ../shared/conformance beside the checkout)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
conf=${1:-$here/../../shared/conformance}
[ -d "$conf" ] || { echo "no conformance dir at $conf" >&2; exit 1; }
mkdir -p "$here/corpus/parse" "$here/corpus/expand"

# parse: every Dockerfile (positive, negative, heredoc, line-number files) as it is.
n=0
find "$conf" -type f -name 'Dockerfile*' | sort | while read -r f; do
    n=$((n + 1))
    cp "$f" "$here/corpus/parse/seed-$(printf %03d "$n")"
done

# expand: envVarTest inputs with its environment, wordsTest inputs with the ENV lines
# seen so far. Format: WORD NUL NAME=VALUE NUL ...
awk -v out="$here/corpus/expand" '
    BEGIN { env = "\000PWD=/home\000SHELL=bash\000KOREAN=한국어\000NULL=" }
    /^#/ || /^[ \t]*$/ { next }
    {
        split($0, f, "|")
        if (f[1] == "W") next
        w = f[2]; gsub(/^[ \t]+|[ \t]+$/, "", w)
        n++
        printf "%s%s", w, env > (out "/env-" n); close(out "/env-" n)
    }' "$conf/buildkit-shell/envVarTest"
awk -v out="$here/corpus/expand" '
    /^#/ || /^[ \t]*$/ { next }
    /^ENV / { sub(/^ENV /, ""); env = env "\000" $0; next }
    {
        i = index($0, "|"); w = substr($0, 1, i - 1); gsub(/^[ \t]+|[ \t]+$/, "", w)
        n++
        printf "%s%s", w, env > (out "/words-" n); close(out "/words-" n)
    }' "$conf/buildkit-shell/wordsTest"
echo "parse: $(ls "$here/corpus/parse" | wc -l) seeds, expand: $(ls "$here/corpus/expand" | wc -l) seeds"
