#!/usr/bin/env bash
# Sanitizer runs of the whole project (issue 6 item 5). Each build lives in its
# own directory so they never race the normal build:
#   asan      build-asan (gcc, ASan+UBSan): C unit tests + the whole integration
#             suite; any sanitizer report in a daemon's or hub's log fails the
#             test that stopped it (tests/conftest.py).
#   tsan      build-tsan (clang, TSan): the C unit tests and the concurrency
#             stress test (tests/stress), parallel readers and writers on one
#             mount. (The whole integration suite under TSan: `scripts/
#             sanitize.sh tsan tests/` — 17 min here, run before a release.)
#   valgrind  build-vg (plain debug build): the integration suite with the daemon
#             under valgrind memcheck (ANGOFS_VALGRIND=1); slow, opt-in.
# Usage: scripts/sanitize.sh [asan|tsan|valgrind|all] [pytest args...]
#        (default: asan tsan). Extra args go to pytest (e.g. -k, a test path).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
what=${1:-default}
[ $# -gt 0 ] && shift
PYTEST=(/usr/bin/python3 -m pytest -q -p no:cacheprovider)

# halt_on_error=0 for UBSan: the report lands in the log and fails the test;
# ASan aborts on its first error anyway. Leak checking is on (daemon exit).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=0}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1:suppressions=$ROOT/tests/stress/tsan.supp}

setup() { # dir, compiler, meson args...
	local dir=$1 cc=$2
	shift 2
	[ -f "$dir/build.ninja" ] || CC=$cc meson setup "$dir" "$@" >/dev/null
	ninja -C "$dir"
}

run_asan() {
	local t0=$SECONDS
	setup build-asan gcc -Db_sanitize=address,undefined -Db_lundef=false
	meson test -C build-asan --print-errorlogs
	# tests/fuzz builds its own instrumented harnesses: the normal pass ran them.
	# Under ASan on a loaded 2-core machine a test can miss a bound: failed
	# tests are run once more and named; a second failure fails the run.
	local cache=$ROOT/build-asan/pytest-cache
	local args=(/usr/bin/python3 -m pytest -q -o "cache_dir=$cache" --ignore=tests/fuzz)
	# no path given: pytest.ini testpaths (tests/); a path in "$@" replaces it
	rm -rf "$cache"
	if ! ANGOFS_BUILD=$ROOT/build-asan timeout --kill-after=30 3000 "${args[@]}" "$@"; then
		bash scripts/reruns.sh record asan "$cache"
		ANGOFS_BUILD=$ROOT/build-asan timeout --kill-after=30 3000 "${args[@]}" \
			--lf --last-failed-no-failures none "$@"
	fi
	echo "sanitize: asan+ubsan build and suite took $((SECONDS - t0)) s"
}

run_tsan() {
	local t0=$SECONDS
	[ -f build-tsan/build.ninja ] ||
		CC=clang meson setup build-tsan -Db_sanitize=thread -Db_lundef=false >/dev/null
	ninja -C build-tsan
	# the C unit tests too: the export cache, media and write side run their
	# threads there without a mount (tests/unit)
	meson test -C build-tsan --print-errorlogs
	ANGOFS_BUILD=$ROOT/build-tsan timeout --kill-after=30 1200 "${PYTEST[@]}" -s tests/stress "$@"
	echo "sanitize: tsan build and stress test took $((SECONDS - t0)) s"
}

run_valgrind() {
	local t0=$SECONDS
	setup build-vg gcc -Dbuildtype=debug
	# the 100k-task ls -l has a 300 s bound that valgrind's slowdown cannot meet
	ANGOFS_BUILD=$ROOT/build-vg ANGOFS_VALGRIND=1 timeout --kill-after=30 7200 \
		"${PYTEST[@]}" tests/fs tests/stress \
		--deselect tests/fs/test_read_large.py::test_ls_l_of_100k_tasks_under_the_rate_limit "$@"
	echo "sanitize: valgrind run took $((SECONDS - t0)) s"
}

case $what in
asan) run_asan "$@" ;;
tsan) run_tsan "$@" ;;
valgrind) run_valgrind "$@" ;;
default)
	# not `a && b`: errexit does not apply inside a function run as part of &&
	run_asan "$@"
	run_tsan
	;;
all)
	run_asan "$@"
	run_tsan
	run_valgrind
	;;
*) echo "usage: $0 [asan|tsan|valgrind|all] [pytest args...]" >&2; exit 2 ;;
esac
