#!/usr/bin/env bash
# The rerun safety net of scripts/test.sh and scripts/sanitize.sh, made loud.
# A test that fails and then passes on its rerun lets the run pass, but it is a
# defect (a product race or a test's own): each one is written to
# $ANGOFS_RERUNS and printed again as the last thing the test command prints.
#   reruns.sh record PASS CACHE_DIR   after a failed pytest run: name the
#                                     failed tests (pytest's lastfailed)
#   reruns.sh summary                 at exit: the banner (nothing if none)
set -uo pipefail
file=${ANGOFS_RERUNS:-}
case ${1:-} in
record)
	pass=$2 cache=$3
	ids=$(/usr/bin/python3 -c 'import json,sys
try:
    d = json.load(open(sys.argv[1] + "/v/cache/lastfailed"))
except (OSError, ValueError):
    d = {}
print("\n".join(sorted(d)))' "$cache")
	echo "RERUN ($pass): the failed tests above run once more; each is a defect to find:"
	[ -n "$ids" ] || ids="(no test named: collection error or timeout)"
	while IFS= read -r id; do
		echo "RERUN ($pass): $id"
		[ -n "$file" ] && echo "$pass $id" >>"$file"
	done <<<"$ids"
	;;
summary)
	[ -n "$file" ] && [ -s "$file" ] || exit 0
	n=$(wc -l <"$file")
	echo
	echo "################################################################"
	echo "## $n test(s) failed on their first run and were run again."
	echo "## The command's status counts only the rerun; each line below"
	echo "## is a defect (product race or test) to find and fix:"
	sed 's/^/##   /' "$file"
	echo "################################################################"
	;;
*) echo "usage: $0 record PASS CACHE_DIR | summary" >&2; exit 2 ;;
esac
