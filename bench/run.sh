#!/bin/sh
# bench/run.sh - the one benchmark command (issue 5): builds angofs if needed,
# then runs bench/bench.py, which starts a local hub, generates the data, mounts
# angofs, runs every row A/B interleaved and prints the tables.
#
#   bench/run.sh --quick      a few minutes (smaller export and labels file)
#   bench/run.sh              full size (>= 1 GB export, 100 MB labels file)
#   bench/run.sh shared-cache [args]   N daemons on one shared cache (shared_cache.py)
#   bench/run.sh incremental [--quick] [args]   incremental refresh and poll rows
#                                      (issue 14, incremental.py)
#   bench/run.sh assets [--images N] [--runs R]   images/s through assets/ with 8
#                                      readers vs curl --parallel-max 8 (issue 13)
#   bench/run.sh uploads [--files F] [--assets A] [--runs R]   cp -r of F images
#                                      into an A-asset project vs curl's 3 calls
#                                      per file (issue 23)
#   bench/run.sh native [--smoke] [--build-317 DIR] [--rows R,..] [sizes]
#                                      near-native reads (issue 26): cached and
#                                      cold exports, small files, an epoch, cp,
#                                      each side with passthrough on/off
#   bench/run.sh training [--images N] [--runs R]   epoch time of a training
#                                      run's reads, mount vs a local copy (issue 23)
#
# ANGOFS_BUILD=DIR uses an existing build directory; otherwise build-bench/ in
# the repository is set up and built. BENCH_DIR=DIR puts the data (several GB
# for the full size) somewhere other than /var/tmp.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${ANGOFS_BUILD:-$repo/build-bench}
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$repo" --buildtype=release >/dev/null
fi
ninja -C "$build" src/angofs contrib/hub/angofs-hub >/dev/null
for tool in curl unzip cat cp ls fusermount3; do
	command -v "$tool" >/dev/null || { echo "bench: '$tool' is required" >&2; exit 2; }
done
# tests/harness (hub and mount harness shared with the tests) is imported as `harness`
export PYTHONPATH="$repo/tests:$repo/tests/hub:$repo/tests/scale${PYTHONPATH:+:$PYTHONPATH}"
if [ "${1:-}" = shared-cache ]; then # N daemons on one cache (docs/SCALE.md)
	shift
	ANGOFS_BUILD=$build exec /usr/bin/python3 "$repo/bench/shared_cache.py" "$@"
fi
if [ "${1:-}" = incremental ]; then # issue 14 rows (docs/PERFORMANCE.md)
	shift
	exec /usr/bin/python3 "$repo/bench/incremental.py" --build "$build" "$@"
fi
if [ "${1:-}" = assets ]; then # issue 13 item 6 (docs/PERFORMANCE.md)
	shift
	exec /usr/bin/python3 "$repo/bench/assets.py" --build "$build" "$@"
fi
if [ "${1:-}" = training ]; then # issue 23 item 7 (docs/PERFORMANCE.md)
	shift
	exec /usr/bin/python3 "$repo/bench/training.py" --build "$build" "$@"
fi
if [ "${1:-}" = native ]; then # issue 26 item 7 (docs/PERFORMANCE.md)
	shift
	exec /usr/bin/python3 "$repo/bench/native.py" --build "$build" "$@"
fi
if [ "${1:-}" = uploads ]; then # issue 23 item 2 (docs/PERFORMANCE.md)
	shift
	exec /usr/bin/python3 "$repo/bench/uploads.py" --build "$build" "$@"
fi
exec /usr/bin/python3 "$repo/bench/bench.py" --build "$build" "$@"
