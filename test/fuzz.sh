#!/usr/bin/env bash
# make fuzz: runs every fuzz target of the module for the given time each
# (default 60s). New crashers land in the package's testdata/fuzz/ as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-60s}
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
		echo "== $pkg $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
	done
done
