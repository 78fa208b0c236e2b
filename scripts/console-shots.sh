#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Screenshots of the console's main pages for the README: a real manager with two sample
# clusters, headless chromium (test/browser/console.mjs --shots). Writes docs/console/*.png
# (or $1). Needs ./dragonfly built and scripts/install-deps.sh run.
set -eu
cd "$(dirname "$0")/.."
out=${1:-docs/console}
[ -x "${DF_BIN:-./dragonfly}" ] || { echo "console-shots: build ./dragonfly first (make)" >&2; exit 1; }
[ -d test/browser/node_modules/playwright-core ] ||
	{ echo "console-shots: no playwright-core: run scripts/install-deps.sh" >&2; exit 1; }
SHOTS=$out DF_BIN=${DF_BIN:-./dragonfly} timeout 300 node test/browser/console.mjs --shots
