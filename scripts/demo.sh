#!/usr/bin/env bash
# The demo command (README): install what is needed, build, start the local hub
# seeded with demo data on 127.0.0.1, mount angofs at ./mnt, print what to try.
#   ./scripts/demo.sh          start (idempotent: restarts a running demo)
#   ./scripts/demo.sh stop     unmount and stop the hub
# State (hub database, cache, logs, pids) lives in ./.demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
DEMO=$TOP/.demo
MNT=$TOP/mnt
PORT=${ANGOFS_DEMO_PORT:-8765}
KEY=demo-key-0123456789
BUILD=${ANGOFS_BUILD:-build}

stop_demo() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" || true
	fi
	for f in "$DEMO/angofs.pid" "$DEMO/hub.pid"; do
		if [ -f "$f" ]; then
			pid=$(cat "$f")
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$pid" 2>/dev/null || true
			rm -f "$f"
		fi
	done
}

if [ "${1:-}" = "stop" ]; then
	stop_demo
	echo "demo stopped (data kept in $DEMO; rm -rf .demo mnt to forget it)"
	exit 0
fi

bash scripts/install-deps.sh
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" >/dev/null
stop_demo
mkdir -p "$DEMO" "$MNT"
chmod 700 "$DEMO"

"$BUILD/contrib/hub/angofs-hub" --db "$DEMO/hub.db" --listen "127.0.0.1:$PORT" \
	--api-key "$KEY" --seed demo >"$DEMO/hub.log" 2>&1 &
echo $! >"$DEMO/hub.pid"
for _ in $(seq 100); do
	curl -fs -o /dev/null -H "apikey: $KEY" "http://127.0.0.1:$PORT/v2/listProjects" && break
	sleep 0.1
done
HUB=http://127.0.0.1:$PORT
echo "local hub: $HUB (api key $KEY, log $DEMO/hub.log)"
echo "\$ curl -s -H 'apikey: $KEY' $HUB/v2/listProjects?limit=3"
curl -fsS -H "apikey: $KEY" "$HUB/v2/listProjects?limit=3"
echo

if [ -x "$BUILD/src/angofs" ]; then
	printf '%s\n' "$KEY" >"$DEMO/api-key"
	chmod 600 "$DEMO/api-key"
	"$BUILD/src/angofs" "$MNT" -f -o "host=$HUB" -o "api_key_file=$DEMO/api-key" \
		-o "cache_dir=$DEMO/cache" >"$DEMO/angofs.log" 2>&1 &
	echo $! >"$DEMO/angofs.pid"
	for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
	if ! mountpoint -q "$MNT"; then
		echo "angofs did not mount; see $DEMO/angofs.log" >&2
		tail -20 "$DEMO/angofs.log" >&2
		exit 1
	fi
	cat <<EOF

angofs is mounted at ./mnt (log $DEMO/angofs.log). Try:
  ls -l mnt/
  jq .categorySchema.tools "mnt/Cars _ Trucks/project.json"   # "/" in a name shows as "_"
  ls mnt/*/export/
  jq length "mnt/Street Scenes/export/tasks.json"       # first read downloads the export
  head -c 300 mnt/*/export/tasks.ndjson
  ls "mnt/Street Scenes/tasks" | head -3; cat "mnt/Street Scenes/tasks/65a0000b01768233cfb37b52/answer.json"
  jq -c '.[:5][] | {externalId, tools: .task.tools}' "mnt/Street Scenes/export/tasks.json" > /tmp/labels.ndjson
  cp /tmp/labels.ndjson "mnt/Street Scenes/labels/"; cat "mnt/Street Scenes/labels/labels.ndjson.status"
  cat mnt/.status; $BUILD/src/angofs --status mnt
Stop: ./scripts/demo.sh stop
EOF
else
	echo "(angofs not built yet: only the hub runs.) Stop: ./scripts/demo.sh stop"
fi
