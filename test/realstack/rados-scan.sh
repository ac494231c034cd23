#!/usr/bin/env bash
# rados-scan.sh MARKER... reads every object of RGW's data pool straight from
# RADOS (what is at rest) and exits 1 naming each object that holds any of
# the MARKERs, 0 if none does, 2 on usage or RADOS errors.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ $# -eq 0 ]; then
	echo "usage: rados-scan.sh MARKER..." >&2
	exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# RGW keeps multipart and shadow objects in the default namespace, but list
# them all: a namespaced object is just as much at rest.
if ! ceph_cmd rados -p "$DATA_POOL" ls --all --format=json >"$tmp/list.json"; then
	echo "rados-scan.sh: cannot list pool $DATA_POOL" >&2
	exit 2
fi
found=0
n=0
gone=0
# Namespace and name come NUL-separated: the namespace is usually empty, and
# names may hold any byte but NUL.
while IFS= read -r -d '' ns && IFS= read -r -d '' name; do
	if ! ceph_cmd rados -p "$DATA_POOL" -N "$ns" get "$name" "$tmp/obj" 2>"$tmp/err"; then
		# RGW's garbage collector removes the data of deleted objects
		# while the scan runs: an object listed and then gone is not at
		# rest any more. Anything else is an error.
		if grep -q 'No such file or directory' "$tmp/err" &&
			! ceph_cmd rados -p "$DATA_POOL" -N "$ns" stat "$name" >/dev/null 2>&1; then
			gone=$((gone + 1))
			continue
		fi
		cat "$tmp/err" >&2
		echo "rados-scan.sh: cannot read $name" >&2
		exit 2
	fi
	n=$((n + 1))
	for m in "$@"; do
		if grep -qaF -- "$m" "$tmp/obj"; then
			echo "rados-scan.sh: plaintext marker '$m' at rest in $DATA_POOL/${ns:+$ns/}$name" >&2
			found=1
		fi
	done
done < <("$PY" -c '
import json, sys
for o in json.load(open(sys.argv[1])):
    sys.stdout.write("%s\0%s\0" % (o.get("namespace", ""), o["name"]))
' "$tmp/list.json")
echo "rados-scan.sh: $n objects read from $DATA_POOL ($gone removed by RGW's garbage collector while scanning), marker found: $([ $found = 1 ] && echo yes || echo no)" >&2
exit "$found"
