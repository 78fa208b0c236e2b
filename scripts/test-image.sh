#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Check the OCI image scripts/build-image.sh makes (make check-pkg):
#   - skopeo inspect reads it: linux, this architecture, one layer, user 65532, the
#     entrypoint, the ports, the labels;
#   - its files: the static binary (0755), the CA bundle, /etc/passwd naming the user,
#     /var/lib/dragonfly 0700 owned by 65532;
#   - it runs: its own binary in its own rootfs as uid 65532 (chroot, as root), and with
#     `podman run` where podman can start containers (else skipped, with the reason).
set -u
cd "$(dirname "$0")/.."

# lowercase: podman names an oci: image after its path, and names are lowercase
tmp=/tmp/df-image-$$-$(date +%s%N)
mkdir -m 0700 "$tmp" || exit 1
nok=0 nfail=0 skipped=""
iid=""
cleanup() {
	[ -z "$iid" ] || podman rmi -f "$iid" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok   $*"; nok=$((nok + 1)); }
fail() { echo "FAIL $*"; nfail=$((nfail + 1)); }
skip() { echo "skip $*"; skipped="$skipped; $*"; }
check() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$what"; else fail "$what"; printf '%s\n' "$out" | tail -n 5; fi
}

for t in umoci skopeo; do
	command -v "$t" >/dev/null || { echo "check-image: $t is not installed (scripts/install-deps.sh)"; exit 1; }
done
if ! ref=$(sh scripts/build-image.sh "$tmp/img" 2>"$tmp/build.log" | tail -n 1); then
	tail -n 20 "$tmp/build.log"
	echo "check-image: scripts/build-image.sh failed"
	exit 1
fi
ok "scripts/build-image.sh: $ref"

# --- what skopeo sees --------------------------------------------------------------------
skopeo inspect "$ref" >"$tmp/inspect.json" 2>&1 && skopeo inspect --config "$ref" >"$tmp/config.json" 2>&1
check "skopeo inspect $ref" test -s "$tmp/config.json"
jq_py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
arch=$(uname -m)
case $arch in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
check "os/arch linux/$arch" test "$(jq_py "$tmp/inspect.json" "d['Os']+'/'+d['Architecture']")" = "linux/$arch"
check "one layer (FROM scratch)" test "$(jq_py "$tmp/inspect.json" "len(d['Layers'])")" = 1
check "user 65532:65532 (not root)" test "$(jq_py "$tmp/config.json" "d['config']['User']")" = 65532:65532
check "entrypoint /usr/bin/dragonfly, cmd peer" test \
	"$(jq_py "$tmp/config.json" "d['config']['Entrypoint']+d['config']['Cmd']")" = "['/usr/bin/dragonfly', 'peer']"
check "ports 4002 65000-65002 8000 8002 exposed" test \
	"$(jq_py "$tmp/config.json" "' '.join(sorted(d['config']['ExposedPorts']))")" = \
	"4002/tcp 65000/tcp 65001/tcp 65002/tcp 8000/tcp 8002/tcp"
check "version label" test "$(jq_py "$tmp/config.json" \
	"d['config']['Labels']['org.opencontainers.image.version']")" = "$(sed -n 's/^VERSION *:= *//p' Makefile)"

# --- its files ---------------------------------------------------------------------------
umoci unpack --image "${ref#oci:}" "$tmp/bundle" >/dev/null 2>&1
root=$tmp/bundle/rootfs
check "binary 0755 root, static" sh -c "[ \"\$(stat -c '%a %u' $root/usr/bin/dragonfly)\" = '755 0' ] &&
	file $root/usr/bin/dragonfly | grep -q 'statically linked'"
check "CA bundle" cmp -s "$root/etc/ssl/certs/ca-certificates.crt" /etc/ssl/certs/ca-certificates.crt
check "/etc/passwd has dragonfly 65532" grep -qx 'dragonfly:x:65532:65532:.*' "$root/etc/passwd"
check "/var/lib/dragonfly 0700 65532" test "$(stat -c '%a %u:%g' "$root/var/lib/dragonfly")" = "700 65532:65532"
check "nothing else in /usr/bin" test "$(ls "$root/usr/bin")" = dragonfly

# --- it runs -----------------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ] && command -v chroot >/dev/null; then
	check "runs in its rootfs as 65532: version" sh -c \
		"chroot --userspec=65532:65532 $root /usr/bin/dragonfly version | grep -q '^dragonfly '"
	check "runs in its rootfs as 65532: peer --check-config" sh -c \
		"chroot --userspec=65532:65532 $root /usr/bin/dragonfly peer --plaintext --check-config | grep -q '\"metricsPort\"'"
else
	skip "running the rootfs with chroot: needs root"
fi
if ! command -v podman >/dev/null; then
	skip "podman run: podman is not installed"
elif ! iid=$(podman pull -q "$ref" 2>"$tmp/pull.log"); then
	skip "podman run: podman cannot load the image here: $(tail -n 1 "$tmp/pull.log")"
	iid=""
elif out=$(timeout 60 podman run --rm --network none "$iid" version 2>&1); then
	check "podman run IMAGE version" grep -q '^dragonfly ' <<<"$out"
elif grep -qE 'OCI runtime|runc create failed|crun:|cannot (set|setup|create)|permission denied' <<<"$out"; then
	# A container that cannot even be created says nothing about the image: a sandbox
	# without the rights runc needs (rlimits, namespaces, cgroups).
	skip "podman run: this host cannot start containers: $(tail -n 1 <<<"$out")"
else
	fail "podman run IMAGE version"
	printf '%s\n' "$out" | tail -n 5
fi

echo "check-image: $nok ok, $nfail failed${skipped:+; skipped:${skipped#;}}"
[ "$nfail" -eq 0 ]
