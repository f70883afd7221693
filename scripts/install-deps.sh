#!/usr/bin/env bash
# Install the Debian 12 packages angofs needs to build, test and benchmark.
# Idempotent: skips apt entirely when every package is already present.
set -euo pipefail
PKGS=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev
      libfuse3-dev fuse3 libcurl4-openssl-dev libjansson-dev libarchive-dev
      libmicrohttpd-dev libsqlite3-dev sqlite3 libpng-dev libssl-dev
      python3 python3-pytest python3-yaml curl unzip zip jq time procps psmisc
      groff-base util-linux valgrind openssl clang-format
      glusterfs-server glusterfs-client
      rsync vim ed file perl tar python3-pandas  # tools/ conformance pack
      python3-pil python3-opencv python3-torchvision)  # dataset consumers
missing=()
for p in "${PKGS[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]} (run as root to install)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
