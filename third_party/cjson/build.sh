#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Build a static libcjson.a from Debian's own cjson source package (Debian ships no static
# archive). A private sources list and apt state dir are used, so the machine's apt
# configuration is left alone; apt checks the archive signatures and dpkg-source the .dsc
# checksums, and we pin the upstream tarball's SHA-256 on top.
# Usage: build.sh OUTDIR   (produces OUTDIR/libcjson.a and OUTDIR/include/cjson/cJSON.h)
set -eu

out=${1:?usage: build.sh OUTDIR}
orig_sha256=5308fd4bd90cef7aa060558514de6a1a4a0819974a26e6ed13973c5f624c24b2
cc=${CC:-cc}

[ -f "$out/libcjson.a" ] && [ -f "$out/include/cjson/cJSON.h" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
cat >"$work/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
SRC
set -- -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null \
	-o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root
apt-get -qq "$@" update >/dev/null
(cd "$work/src" && apt-get -qq "$@" source cjson >/dev/null 2>&1)

tarball=$(ls "$work"/src/cjson_*.orig.tar.gz)
got=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$got" != "$orig_sha256" ]; then
	echo "third_party/cjson: checksum mismatch for $(basename "$tarball"): $got" >&2
	exit 1
fi
srcdir=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'cjson-*')

mkdir -p "$out/include/cjson"
$cc -O2 -g -fPIC -std=c89 -w -c "$srcdir/cJSON.c" -o "$work/cJSON.o"
ar rcs "$out/libcjson.a.tmp" "$work/cJSON.o"
cp "$srcdir/cJSON.h" "$out/include/cjson/cJSON.h"
mv "$out/libcjson.a.tmp" "$out/libcjson.a"
echo "third_party/cjson: built $(basename "$srcdir") -> $out/libcjson.a"
