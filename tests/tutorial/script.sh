#!/bin/sh
# The tutorials' commands, run with the CLI in $CLI (docker or a strata wrapper) against the
# registry at $REG (127.0.0.1:PORT, htpasswd user $REG_USER/$REG_PASS) and the base image
# $BASE (already loaded/imported). Per command it appends to $OUT one line:
#   STEP<TAB>exit=N<TAB>HEADER
# HEADER is the first output line's columns (split on 2+ spaces, joined with |) for table
# commands, a normalized output for deterministic ones, else empty. tests/tutorial_cli.rs runs
# it once per CLI and compares the files line by line.
# Names are prefixed with $PFX so that runs against one dockerd do not collide.
set -u
: "${CLI:?}" "${REG:?}" "${BASE:?}" "${OUT:?}" "${REG_USER:?}" "${REG_PASS:?}" "${PFX:?}"
: >"$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# record STEP KIND: KIND is "header" (first line's columns), "out" (all stdout, one line),
# "frame", "col1" (see below), "none" (exit code only).
record() {
	code=$?
	step=$1 kind=$2
	case $kind in
	header) h=$(head -n 1 "$TMP/out" | sed -E 's/ {2,}/|/g; s/ +$//') ;;
	out) h=$(tr '\n' ' ' <"$TMP/out" | sed -E 's/ +$//') ;;
	# The first line and the last line's label (prune's "Deleted ...:" / "Total reclaimed space").
	frame) h="$(head -n 1 "$TMP/out") ... $(grep . "$TMP/out" | tail -n 1 | cut -d: -f1)" ;;
	# The first column of every line (system df's TYPE rows).
	col1) h=$(sed -E 's/ {2,}/|/g' "$TMP/out" | cut -d'|' -f1 | tr '\n' '|' | sed 's/|$//') ;;
	*) h= ;;
	esac
	printf '%s\texit=%s\t%s\n' "$step" "$code" "$h" >>"$OUT"
	# stderr kept for the log: mismatches are explained by it.
	if [ -s "$TMP/err" ]; then sed "s/^/  [$step] /" "$TMP/err" >&2; fi
}
# run STEP KIND ARGS...: $CLI ARGS with stdin from /dev/null.
run() {
	step=$1 kind=$2
	shift 2
	"$CLI" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
	record "$step" "$kind"
}

IMG=$REG/$PFX/base:v1
C1=${PFX}-c1 C2=${PFX}-c2 C3=${PFX}-c3 N1=${PFX}-n1 N2=${PFX}-n2

# --- images and the registry
run tag none tag "$BASE" "$IMG"
run images header images
run push-anonymous none push "$IMG"
printf '%s\n' "$REG_PASS" | "$CLI" login -u "$REG_USER" --password-stdin "$REG" >"$TMP/out" 2>"$TMP/err"
record login out
run push none push "$IMG"
# Expected difference: docker 20.10 searches a non-Hub registry through the v1 search API
# (GET /v1/search), which the distribution registry does not serve: docker fails (exit 1)
# where strata answers from the registry's catalog (/v2/_catalog). Recorded as such.
"$CLI" search "$REG/$PFX" </dev/null >"$TMP/out" 2>"$TMP/err"
code=$?
if [ "$(basename "$CLI")" = docker ] || [ "${CLI_KIND:-}" = docker ]; then
	printf 'search\texit=%s\t%s\n' "$code" "EXPECTED-DIFFERENCE docker: v1 search API" >>"$OUT"
else
	h=$(head -n 1 "$TMP/out" | sed -E 's/ {2,}/|/g; s/ +$//')
	printf 'search\texit=%s\t%s\n' "$code" "EXPECTED-DIFFERENCE strata: $h" >>"$OUT"
fi
run logout out logout "$REG"
run logout-again out logout "$REG"
run push-after-logout none push "$IMG"
run rmi-pushed none rmi "$IMG"

# --- containers
run run-detached none run -d --name "$C1" --network none "$BASE" sleep 1000
run run-foreground out run --rm --network none "$BASE" echo hello
run run-exit-code none run --rm --network none "$BASE" sh -c 'exit 3'
run ps header ps
run ps-a header ps -a
run exec out exec "$C1" echo from-exec
run exec-exit-code none exec "$C1" sh -c 'exit 5'
run exec-missing-container none exec "${PFX}-nosuch" true
run top header top "$C1"
run stats header stats --no-stream "$C1"
run pause none pause "$C1"
run pause-again none pause "$C1"
run unpause none unpause "$C1"
run stop none stop -t 1 "$C1"
run start none start "$C1"
run restart none restart -t 1 "$C1"
run kill none kill "$C1"
run kill-stopped none kill "$C1"
run start-again none start "$C1"
run run-for-attach none run -d --name "$C3" --network none "$BASE" sh -c 'sleep 2; echo attached; exit 4'
run attach out attach --no-stdin "$C3"
run rm-running none rm "$C1"
run rm-force none rm -f "$C1"
run rm-missing none rm "${PFX}-nosuch"
# With docker these prune the whole daemon's stopped containers and dangling images (no
# --filter label= here: strata's run has no --label yet); the interop tests use only --rm
# containers and tagged images, which these leave alone.
run container-prune frame container prune -f
run ps-a-after-prune header ps -a
# A dangling image on both sides, so that prune deletes something whatever else the daemon
# holds: the second import takes the tag from the first.
mkdir "$TMP/d" && echo one >"$TMP/d/f" && tar -C "$TMP/d" -cf "$TMP/one.tar" f &&
	echo two >"$TMP/d/f" && tar -C "$TMP/d" -cf "$TMP/two.tar" f
run import-first none import "$TMP/one.tar" "${PFX}-dangling:v1"
run import-second none import "$TMP/two.tar" "${PFX}-dangling:v1"
run image-prune frame image prune -f
run rmi-imported none rmi "${PFX}-dangling:v1"
run system-df col1 system df
run system-info none system info
run info none info

# --- networks (docker: host bridges of dockerd's own, no traffic between containers)
run network-create none network create "$N1"
run network-create-2 none network create "$N2"
run network-create-dup none network create "$N1"
run network-ls header network ls
run run-on-network none run -d --name "$C2" --network "$N1" "$BASE" sleep 1000
run network-connect none network connect "$N2" "$C2"
"$CLI" network inspect "$N2" </dev/null >"$TMP/out" 2>"$TMP/err"
code=$?
# The attached container's name is in the network's Containers map.
n=$(grep -c "\"Name\": \"$C2\"" "$TMP/out")
printf 'network-inspect\texit=%s\tcontainers-named-%s=%s\n' "$code" "c2" "$n" >>"$OUT"
run network-disconnect none network disconnect "$N2" "$C2"
run network-rm-in-use none network rm "$N1"
run rm-c2 none rm -f "$C2"
run network-rm none network rm "$N1" "$N2"
run network-rm-missing none network rm "$N1"
exit 0
