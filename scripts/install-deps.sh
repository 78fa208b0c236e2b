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
prometheus umoci python3-yaml chromium nodejs"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
# The console's browser tests: playwright-core at the version test/browser/package-lock.json
# pins, into test/browser/node_modules; it drives the chromium above, never a download.
command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends npm >/dev/null
(cd "$(dirname "$0")/../test/browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
echo "install-deps: ok"
