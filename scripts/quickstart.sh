#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Install, build and show what exists working. Grows as roles land.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
make -j"$(nproc)"
file dragonfly
./dragonfly version
./dragonfly --help
