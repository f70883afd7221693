#!/usr/bin/env bash
# The libfuse 3.17 step of the test command (scripts/test.sh; README "Hacking").
#
# FUSE passthrough needs libfuse >= 3.17; Debian 12 ships 3.14. This step
# builds libfuse 3.17 into a private prefix (scripts/libfuse-3.17.sh, from
# Debian's own trixie source package), a second build of angofs against it
# (build-317; meson gives the binary a RUNPATH into the prefix, so the system's
# libfuse stays what every other program uses), checks at run time that the
# daemon really runs on >= 3.17, then runs the C unit tests and the read-side
# integration suites (READ below) against that build.
#
#   scripts/test-libfuse317.sh [pytest args...]   test paths in args replace
#                                                 READ; options apply to it
#
# Failed tests run once more and are recorded (scripts/reruns.sh, pass
# "libfuse317"), the rule of the plain step. A libfuse that cannot be built
# fails the step loudly with the reason. When the system's libfuse is already
# >= 3.17 (Debian 13) the plain build is the 3.17 build: nothing to add here.
# ANGOFS_MOUNT_OPTS (tests/harness/procs.py) reaches every mount, e.g.
# ANGOFS_MOUNT_OPTS=log_level=debug.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B317=$ROOT/build-317
want=3.17
say() { echo "libfuse317: $*"; }
fail() { # why [hint]
	echo "################################################################" >&2
	echo "## libfuse 3.17 step FAILED: $1" >&2
	[ -z "${2:-}" ] || echo "## $2" >&2
	echo "################################################################" >&2
	exit 1
}
skip="ANGOFS_LIBFUSE317=0 skips this step (scripts/test.sh) in a local loop"
t0=$SECONDS

if ! pc=$(bash scripts/libfuse-3.17.sh "$ROOT/build-libfuse"); then
	fail "libfuse $want could not be built (scripts/libfuse-3.17.sh; its messages above say where it stopped)" "$skip"
fi
if [ "$pc" = system ]; then
	say "the system's libfuse is $(pkg-config --modversion fuse3) (>= $want): the plain build already runs on it; nothing more to run"
	exit 0
fi
say "libfuse $want prefix ready in $((SECONDS - t0)) s ($pc)"

# -Dpkg_config_path, not the environment: meson keeps it for every later
# reconfigure of build-317
if [ ! -f "$B317/build.ninja" ]; then
	meson setup "$B317" -Dpkg_config_path="$pc" >/dev/null ||
		fail "meson setup of build-317 against $pc failed" "$skip"
fi
ninja -C "$B317" || fail "build-317 (angofs against libfuse $want) does not compile"
# the library the daemon runs on, not the one it was compiled against
ver=$("$B317/src/angofs" --version | awk '/^FUSE library/ {print $3}')
lib=$(ldd "$B317/src/angofs" | awk '/libfuse3/ {print $3}')
if [ -z "$ver" ] || ! printf '%s\n%s\n' "$want" "$ver" | sort -V -C; then
	fail "build-317/src/angofs runs on libfuse '${ver:-?}' ($lib), not >= $want" "a stale build-317? remove it and run again"
fi
say "build-317/src/angofs runs on libfuse $ver ($lib)"
meson test -C "$B317" --print-errorlogs || fail "C unit tests of build-317"

# The read side (about 4 minutes of pytest here): every tests/fs file that
# reads (exports: download, refresh, incremental merge; tasks, layout, filters,
# streaming, large listings, hub errors, signals, assets, mmap, the
# consistency rules of docs/SEMANTICS.md) and the dataset views (derived
# files). Not the write side: the drop boxes and the spool do not depend on
# the library's version beyond what the plain step covers.
READ=(tests/fs/test_read_exports.py tests/fs/test_read_tasks.py
	tests/fs/test_read_layout.py tests/fs/test_read_filters.py
	tests/fs/test_read_streaming.py tests/fs/test_read_large.py
	tests/fs/test_read_errors.py tests/fs/test_read_signals.py
	tests/fs/test_read_mmap.py tests/fs/test_assets.py
	tests/fs/test_incremental.py tests/fs/test_consistency.py
	tests/fs/test_consistency_mmap.py tests/datasets)
# Nothing is deselected: the daemon is on fuse_lowlevel.h and answers
# FUSE_INTERRUPT itself (libfuse 3.17's high-level library answered it with
# ENOSYS unless -o intr, so Ctrl-C could not end a wait for the hub there).
SKIP=()
# ARGS naming a test path replace READ (as they replace tests/ in the plain
# step); options alone (-k, -x, ...) apply to READ
for a in "$@"; do
	if [ -e "${a%%::*}" ]; then
		READ=()
		break
	fi
done
READ+=("$@" "${SKIP[@]}")
export ANGOFS_BUILD=$B317
if [ -z "${ANGOFS_RERUNS:-}" ]; then # run alone: its own record and banner
	export ANGOFS_RERUNS=$B317/reruns.txt
	: >"$ANGOFS_RERUNS"
	trap 'bash scripts/reruns.sh summary' EXIT
fi
cache=$B317/pytest-cache
rm -rf "$cache"
PYTEST=(timeout --kill-after=30 1800 /usr/bin/python3 -m pytest -q -o "cache_dir=$cache")
t1=$SECONDS
if ! "${PYTEST[@]}" "${READ[@]}"; then
	bash scripts/reruns.sh record libfuse317 "$cache"
	"${PYTEST[@]}" --lf --last-failed-no-failures none "${READ[@]}" ||
		fail "read-side tests against build-317 (libfuse $ver) failed twice"
fi
say "read-side suites took $((SECONDS - t1)) s; the whole step $((SECONDS - t0)) s"
