#!/bin/sh
# demo.sh - run mailresponder drain on the bundled demo spool
#   scripts/demo.sh [BINARY]
# Copies config/demo to a scratch folder (demo-run/, or $MR_DEMO_DIR) so
# the demo can be run again, drains it with the embedded defaults (SQLite
# store, Maildir outbox) and shows what happened and where the replies are.
set -eu
cd "$(dirname "$0")/.."
bin=${1:-build/mailresponder}
work=${MR_DEMO_DIR:-$PWD/demo-run}

rm -rf "$work"
cp -r config/demo "$work"
n=$(ls "$work/spool/new" | wc -l)
echo "== mailresponder demo: $n requests in $work/spool/new"
echo "== mailresponder drain -c $work/settings.json"
"$bin" drain -c "$work/settings.json"
echo
echo "== where each request ended (design.md s.3)"
printf '  replied (cur/*:2,RS):   %s\n' "$(ls "$work/spool/cur" | grep -c ':2,RS$' || true)"
printf '  ignored (cur/*:2,S):    %s\n' "$(ls "$work/spool/cur" | grep -c ':2,S$' || true)"
printf '  failed  (.Failed/new/): %s\n' "$(ls "$work/spool/.Failed/new" | wc -l)"
echo
total=$(ls "$work/outbox/new" | wc -l)
fwd=$(grep -l -i '^To: ops@example.org' "$work"/outbox/new/* 2>/dev/null | wc -l)
echo "== outbox: $total mails in $work/outbox/new/: $((total - fwd)) replies," \
	"$fwd complaint/bounce forwards to the admins"
first=$(ls "$work/outbox/new" | head -n 1)
if [ -n "$first" ]; then
	echo "== headers of one reply ($first):"
	sed -n '1,/^\r*$/p' "$work/outbox/new/$first" | tr -d '\r' | sed 's/^/  /'
fi
echo "== event log (one JSON line per request): $work/events.jsonl"
head -n 3 "$work/events.jsonl" | sed 's/^/  /'
