#!/bin/sh
# run.sh - run each libFuzzer target for a while, one at a time, niced
#   test/fuzz/run.sh BUILD SECONDS NAME...
# Seeds come from test/fuzz/corpus/NAME (read only); what libFuzzer adds
# goes to BUILD/corpus/NAME, crash inputs to BUILD/crashes/NAME. Prints
# libFuzzer's final stats line per target and the CPU time used.
set -u
cd "$(dirname "$0")/../.."
b=$1 secs=$2
shift 2
rc=0
for t in "$@"; do
	mkdir -p "$b/corpus/$t" "$b/crashes/$t"
	log="$b/fuzz_$t.log"
	dict=""
	[ -f "test/fuzz/$t.dict" ] && dict="-dict=test/fuzz/$t.dict"
	/usr/bin/time -f "cpu: %U user %S sys seconds, max rss %M KB" \
		nice -n 19 "$b/test/fuzz/fuzz_$t" -max_total_time="$secs" \
		-max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$b/crashes/$t/" $dict \
		"$b/corpus/$t" "test/fuzz/corpus/$t" >"$log" 2>&1 || rc=1
	echo "== $t"
	grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^cpu:|ERROR|SUMMARY' "$log"
done
exit $rc
