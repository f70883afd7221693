#!/usr/bin/env bash
# libfuse >= 3.17 for a second build of angofs (FUSE passthrough, issue 26).
#
# Debian 13 ships libfuse 3.17: then the system's is used and nothing is built.
# Debian 12 ships 3.14: this script builds 3.17 from Debian's own source
# package of the trixie suite into a private prefix (never over the system's
# libfuse): a deb-src entry is derived from the machine's own apt sources (the
# same archive URI and keyring; no host name lives in this repository), the
# source package is fetched with `apt-get source`, unpacked with Debian's
# patches, and only the library is built and installed.
#
#   scripts/libfuse-3.17.sh [DIR]   default DIR: build-libfuse (ignored by git)
#
# Prints one line: the pkg-config directory to build against (PKG_CONFIG_PATH),
# or "system" when the system's libfuse is new enough. Idempotent: a finished
# prefix is reused. Needs root for apt-get (as scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$(realpath -m "${1:-build-libfuse}")
PREFIX=$DIR/prefix
want=3.17

if pkg-config --atleast-version=$want fuse3 2>/dev/null; then
	echo system
	exit 0
fi
if [ -f "$PREFIX/lib/pkgconfig/fuse3.pc" ] &&
	PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --atleast-version=$want fuse3; then
	echo "$PREFIX/lib/pkgconfig"
	exit 0
fi
log() { echo "libfuse-3.17: $*" >&2; }
# on failure, say which stage stopped (the command's own error is above it)
stage="finding the machine's Debian archive"
said() {
	local rc=$?
	[ $rc = 0 ] || log "FAILED (exit $rc) while $stage; nothing was installed outside $DIR"
}
trap said EXIT

# The Debian archive this machine already uses: its first deb822 or one-line
# entry for the main archive (not -security), with its keyring.
archive() {
	local f uri key
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f")
		key=$(awk '/^Signed-By:/ {print $2; exit}' "$f")
		if [ -n "$uri" ] && grep -q '^Suites:.*\b\(bookworm\|trixie\|stable\)\b' "$f"; then
			echo "$uri ${key:-/usr/share/keyrings/debian-archive-keyring.gpg}"
			return 0
		fi
	done
	uri=$(awk '$1 == "deb" && $2 !~ /^\[/ && $2 !~ /security/ {print $2; exit}' \
		/etc/apt/sources.list 2>/dev/null || true)
	[ -n "$uri" ] && echo "$uri /usr/share/keyrings/debian-archive-keyring.gpg"
}

read -r uri key <<<"$(archive)" || true
if [ -z "${uri:-}" ]; then
	log "no Debian archive found in /etc/apt/sources.list{,.d}: cannot fetch fuse3's source"
	exit 1
fi
missing=()
for p in dpkg-dev meson ninja-build pkg-config gcc; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	stage="installing the build tools (${missing[*]})"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
mkdir -p "$DIR/apt" "$DIR/src"
# a private source list: only this entry is updated and read, the machine's
# own lists and sources stay as they are
list=$DIR/apt/trixie-src.sources
cat >"$list" <<EOF
Types: deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: $key
EOF
aptopts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$DIR/apt"
	-o "Dir::State::Lists=$DIR/apt/lists" -o "APT::Sandbox::User=root")
mkdir -p "$DIR/apt/lists/partial"
log "fetching fuse3's source package (trixie) from $uri"
stage="reading the trixie deb-src index from $uri (apt-get update; network?)"
apt-get "${aptopts[@]}" update -qq >&2
stage="fetching fuse3's trixie source package (apt-get source)"
(cd "$DIR/src" && apt-get "${aptopts[@]}" source --download-only -qq fuse3/trixie >&2)
dsc=$(ls "$DIR"/src/fuse3_*.dsc | sort -V | tail -n 1)
rm -rf "$DIR/src/tree"
stage="unpacking $(basename "$dsc") (dpkg-source)"
dpkg-source -x "$dsc" "$DIR/src/tree" >&2 # applies Debian's patches
log "building $(basename "$dsc" .dsc) into $PREFIX"
stage="building libfuse (meson, ninja)"
meson setup "$DIR/src/tree/build" "$DIR/src/tree" --prefix="$PREFIX" --libdir=lib \
	-Dexamples=false -Dutils=false -Dtests=false -Ddisable-mtab=true >&2
ninja -C "$DIR/src/tree/build" >&2
ninja -C "$DIR/src/tree/build" install >&2
stage="checking the installed fuse3.pc is >= $want"
PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --atleast-version=$want fuse3
echo "$PREFIX/lib/pkgconfig"
