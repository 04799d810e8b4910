#!/usr/bin/env bash
# make fuzz (docs/testing.md, "Fuzzing"): every native fuzz target of the
# module, one after the other, each for FUZZTIME. The targets are found,
# not listed: the packages whose tests declare a `func Fuzz...`, then
# `go test -list '^Fuzz'` in each. FUZZ (a regular expression) picks some
# of them. A failing target's input is written to its package's
# testdata/fuzz/FuzzName/ (commit it with the fix); the other targets
# still run, and the script fails at the end.
#
# FUZZMINIMIZETIME bounds the minimisation of each new interesting input
# and of a crasher: Go's default of 60 s stalls FuzzTxPath, whose inputs
# each build two applications on disk. FUZZPARALLEL is the number of
# fuzzing workers per target (go test -parallel).
set -uo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-10x}
FUZZPARALLEL=${FUZZPARALLEL:-1}
FUZZ=${FUZZ:-.}

cd "$(dirname "$0")/.."
pkgs=$(grep -rl --include='*_test.go' --exclude-dir=.git --exclude-dir=build '^func Fuzz' . | xargs -n1 dirname | sort -u)
failed=()
for pkg in $pkgs; do
	targets=$($GO test "$pkg" -list '^Fuzz' | grep '^Fuzz' | grep -E -- "$FUZZ" || true)
	for name in $targets; do
		echo "== $pkg $name: $FUZZTIME"
		if ! $GO test "$pkg" -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" \
			-fuzzminimizetime "$FUZZMINIMIZETIME" -parallel "$FUZZPARALLEL"; then
			failed+=("$pkg $name")
		fi
	done
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: failed: %s\n' "${failed[@]}" >&2
	exit 1
fi
