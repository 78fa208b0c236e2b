#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Install everything the build, the tests and the benchmarks need on Debian 12 (as root).
# Idempotent: apt-get skips what is already installed. systemd is there for
# systemd-analyze (the unit checks need no running systemd), man-db and lintian for the
# man page and package checks of scripts/test-pkg.sh, zsh for its completion check.
set -eu

pkgs="build-essential pkg-config file git ca-certificates curl dpkg-dev
libevent-dev libnghttp2-dev libmbedtls-dev libsqlite3-dev libxxhash-dev
check clang clang-format libclang-rt-14-dev nghttp2-client nginx-light openssl bc
docker-registry skopeo containerd podman
systemd man-db lintian adduser zsh
prometheus umoci python3-yaml"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
echo "install-deps: ok"
