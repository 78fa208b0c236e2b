#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Build the OCI image of dragonfly with umoci: no network, no daemon, no base image. One
# image for every role (`dragonfly scheduler|seed|peer|up`, chosen by the command):
#
#   FROM scratch
#   /usr/bin/dragonfly                      the static binary (make)
#   /etc/ssl/certs/ca-certificates.crt      this host's CA bundle (origins over https)
#   /etc/passwd, /etc/group                 user and group dragonfly, 65532
#   /var/lib/dragonfly (0700), /var/log/dragonfly, /run/dragonfly   owned by dragonfly
#   /tmp (1777)
#   USER 65532:65532, ENTRYPOINT ["/usr/bin/dragonfly"], CMD ["peer"]
#
#   scripts/build-image.sh [OUTDIR]   (default build/image; prints "oci:OUTDIR/oci:TAG")
#
# The image is an OCI layout directory; `skopeo copy oci:build/image/oci:0.1.0
# docker-daemon:dragonfly:0.1.0` (or oci-archive:, docker://REGISTRY/...) moves it on.
# Every file's owner and mode is set here, so the image does not depend on who builds it.
set -eu
cd "$(dirname "$0")/.."

out=${1:-build/image}
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
uid=65532
cacert=/etc/ssl/certs/ca-certificates.crt
layout="$out/oci"
ref="$layout:$version"
arch=$(uname -m)
case $arch in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
esac

command -v umoci >/dev/null || { echo "build-image: umoci is not installed" >&2; exit 1; }
[ -r "$cacert" ] || { echo "build-image: no CA bundle at $cacert (ca-certificates)" >&2; exit 1; }
make -s >&2
file -L dragonfly | grep -q 'statically linked' ||
	{ echo "build-image: ./dragonfly is not static: a FROM scratch image cannot run it" >&2; exit 1; }

rm -rf "$layout" "$out/bundle"
mkdir -p "$out"
umoci init --layout "$layout"
umoci new --image "$ref"
# As root the layer keeps the owners set below; another user can only build with
# --rootless, where every file maps to root (the warning below says so).
rootless=--rootless
[ "$(id -u)" -ne 0 ] || rootless=
umoci unpack $rootless --image "$ref" "$out/bundle" >/dev/null
root="$out/bundle/rootfs"
install -d -m 0755 "$root/usr/bin" "$root/etc/ssl/certs" "$root/run"
install -m 0755 dragonfly "$root/usr/bin/dragonfly"
install -m 0644 "$cacert" "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\ndragonfly:x:%s:%s:dragonfly:/var/lib/dragonfly:/sbin/nologin\n' \
	"$uid" "$uid" >"$root/etc/passwd"
printf 'root:x:0:\ndragonfly:x:%s:\n' "$uid" >"$root/etc/group"
chmod 0644 "$root/etc/passwd" "$root/etc/group"
install -d -m 0700 "$root/var/lib/dragonfly"
install -d -m 0750 "$root/var/log/dragonfly"
install -d -m 0755 "$root/run/dragonfly"
install -d -m 1777 "$root/tmp"
# Owners in the layer: umoci repack writes what it reads.
if [ "$(id -u)" -eq 0 ]; then
	chown -R 0:0 "$root"
	chown "$uid:$uid" "$root/var/lib/dragonfly" "$root/var/log/dragonfly" "$root/run/dragonfly"
else
	echo "build-image: not root: the image's directories belong to root (run as root to give" \
		"/var/lib/dragonfly to uid $uid)" >&2
fi
umoci repack --image "$ref" "$out/bundle"
umoci config --image "$ref" \
	--author "dragonfly developers" \
	--architecture "$arch" --os linux \
	--config.user "$uid:$uid" \
	--config.entrypoint /usr/bin/dragonfly --config.cmd peer \
	--config.workingdir /var/lib/dragonfly \
	--config.volume /var/lib/dragonfly \
	--config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
	--config.exposedports 4002/tcp --config.exposedports 65000/tcp \
	--config.exposedports 65001/tcp --config.exposedports 65002/tcp \
	--config.exposedports 8000/tcp --config.exposedports 8002/tcp \
	--config.label org.opencontainers.image.title=dragonfly \
	--config.label "org.opencontainers.image.version=$version" \
	--config.label "org.opencontainers.image.revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
	--config.label org.opencontainers.image.licenses=Apache-2.0
umoci gc --layout "$layout"
rm -rf "$out/bundle"
echo "oci:$ref"
