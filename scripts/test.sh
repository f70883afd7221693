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
exec timeout --kill-after=30 3600 /usr/bin/python3 -m pytest -q -p no:cacheprovider tests "$@"
