#!/bin/sh
# run.sh - run the whole suite for each build directory given
#   test/run.sh build [build-asan]
# Unit test binaries and end-to-end scripts print "ok - ..." and
# "not ok - ..." lines (and "skip - ..."); this script counts them. A test
# program that exits non-zero without reporting a failure counts as one
# failure. The last line is "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
pass=0 fail=0 skip=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # name, rc, output file
	p=$(grep -c '^ok ' "$3")
	f=$(grep -c '^not ok ' "$3")
	s=$(grep -c '^skip ' "$3")
	if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $1 exited with status $2"
		tail -n 15 "$3" | sed "s|^|  [$1] |"
		f=1
	fi
	grep -E '^(not ok|#)' "$3" | sed "s|^|  [$1] |" | head -40
	echo "$1: $p passed, $f failed, $s skipped"
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
}

# documentation: the man pages lint clean (mandoc) and samples are valid
for m in man/*.[0-9]; do
	if out=$(mandoc -Tlint -W warning "$m" 2>&1) && [ -z "$out" ]; then
		echo "ok - mandoc -Tlint $m" >"$log"
	else
		{ echo "not ok - mandoc -Tlint $m"; echo "$out" | sed 's/^/# /'; } >"$log"
	fi
	count "man/$(basename "$m")" 0 "$log"
done

for b in "$@"; do
	echo "== suite with $b =="
	for t in "$b"/test/unit/test_*; do
		[ -x "$t" ] || continue
		name="$b:unit/$(basename "$t")"
		"$t" >"$log" 2>&1
		count "$name" $? "$log"
	done
	# fuzz regression: every seed and past crash input through its target
	for t in "$b"/test/fuzz/replay_*; do
		[ -x "$t" ] || continue
		n=${t##*/replay_}
		"$t" "test/fuzz/corpus/$n" "test/fuzz/crashes/$n" >"$log" 2>&1
		count "$b:fuzz/$n" $? "$log"
	done
	for t in test/e2e/test_*.py; do
		name="$b:e2e/$(basename "$t")"
		MR_BIN="$PWD/$b/mailresponder" MR_BUILD="$PWD/$b" \
			timeout 1800 $PY "$t" >"$log" 2>&1
		count "$name" $? "$log"
	done
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
