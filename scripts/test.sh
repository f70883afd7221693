#!/usr/bin/env bash
# The test command (README): install what is needed, build, run the C unit tests
# (meson test) and the integration tests (pytest; they start the local hub and
# really mount angofs). Must run as root on Debian 12 (FUSE mounts, apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD=${ANGOFS_BUILD:-build}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD"
meson test -C "$BUILD" --print-errorlogs
export ANGOFS_BUILD="$PWD/$BUILD"
timeout --kill-after=30 3600 /usr/bin/python3 -m pytest -q -p no:cacheprovider tests "$@"
# Sanitizer step (issue 6): an ASan+UBSan build runs the C unit tests and the
# integration suite, a TSan build runs the concurrency stress test
# (scripts/sanitize.sh; its own build dirs). ANGOFS_SANITIZE=0 skips it.
if [ "${ANGOFS_SANITIZE:-1}" != 0 ]; then
	unset ANGOFS_BUILD
	bash scripts/sanitize.sh default "$@"
fi
