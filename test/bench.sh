#!/bin/sh
# bench.sh - throughput and memory figures (make bench)
#   test/bench.sh [BUILD]
# Prints figures; asserts nothing (timings on a shared 2-core machine are
# too noisy for pass/fail). Sizes can be changed with MR_BENCH_N.
set -eu
cd "$(dirname "$0")/.."
b=${1:-build}
MR_BIN="$PWD/$b/mailresponder" /usr/bin/python3 test/bench.py
MR_BIN="$PWD/$b/mailresponder" /usr/bin/python3 test/bench_stats.py
MR_BIN="$PWD/$b/mailresponder" /usr/bin/python3 test/bench_cloudwatch.py
MR_BIN="$PWD/$b/mailresponder" /usr/bin/python3 test/bench_postfix.py 2>&1 |
	grep -v 'overriding earlier entry'

MR_BIN="$PWD/$b/mailresponder" /usr/bin/python3 test/bench_mysql.py
