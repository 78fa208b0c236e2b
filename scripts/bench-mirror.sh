#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Registry mirror benchmark on one machine: an image of 3 layers of LAYER_MIB random bytes
# (uncompressed tar layers: gzip would time the compressor, not the transfer) in Debian's
# docker-registry, pulled with skopeo into an OCI layout
#   direct: from the registry itself;
#   cold:   through a peer's mirror with a scheduler and a seed (the seed fetches from the
#           registry, the peer from the seed, the client from the peer's stream);
#   warm:   the same pull again, every blob in the peer's cache;
# and the time to first byte of one layer with curl, directly and through the mirror (cold:
# a layer no one fetched yet). Prints times, throughputs and ratios against direct (issue 12's
# goals: cold >= 0.8 x direct throughput, warm >= 2 x, first byte <= 2 x direct).
# Usage: scripts/bench-mirror.sh [LAYER_MIB (128)] [BINARY (./dragonfly)] [DIR]
# (DIR: where the files live; default /dev/shm when it has room, else /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."

layer_mib=${1:-128}
bin=${2:-./dragonfly}
[ -x "$bin" ] || make -j2 >/dev/null
for c in docker-registry skopeo curl; do
	command -v "$c" >/dev/null || { echo "bench-mirror: $c is required (scripts/install-deps.sh)" >&2; exit 1; }
done

base=${3:-/dev/shm}
[ -n "${3:-}" ] || [ "$(df -m --output=avail /dev/shm | tail -1)" -gt $((layer_mib * 3 * 8)) ] || base=/tmp
dir=$(mktemp -d "$base/df-bench-mirror-XXXXXX")
# addresses of this run: 127.253.<pid>.x stays clear of the integration suites
ipb="127.253.$(($$ % 256))"
reg="$ipb.10:$((20000 + $$ % 10000))"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
ready_str() { sed -n "s/.*\"$2\": *\"\\([^\"]*\\)\".*/\\1/p" "$1"; }
wait_ready() { # file name
	for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done
	echo "bench-mirror: $2 did not start" >&2
	exit 1
}

# ---- the image: an OCI layout with three uncompressed layers
mkdir -p "$dir/layout/blobs/sha256" "$dir/work"
blob() { d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$dir/layout/blobs/sha256/$d"; echo "$d"; }
layers='' diffs=''
for i in 1 2 3; do
	mkdir -p "$dir/work/l$i"
	head -c $((layer_mib * 1024 * 1024)) /dev/urandom >"$dir/work/l$i/f$i"
	tar -C "$dir/work/l$i" -cf "$dir/work/layer$i.tar" "f$i"
	rm -rf "$dir/work/l$i"
	s=$(stat -c %s "$dir/work/layer$i.tar")
	d=$(blob "$dir/work/layer$i.tar")
	layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$d\",\"size\":$s}"
	diffs="$diffs${diffs:+,}\"sha256:$d\""
done
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
	"$diffs" >"$dir/work/config.json"
cs=$(stat -c %s "$dir/work/config.json")
c=$(blob "$dir/work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
	"$c" "$cs" "$layers" >"$dir/work/manifest.json"
ms=$(stat -c %s "$dir/work/manifest.json")
m=$(blob "$dir/work/manifest.json")
printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
	"$m" "$ms" >"$dir/layout/index.json"
first_layer=$(echo "$layers" | sed 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/')

# ---- the registry, with the image pushed
cat >"$dir/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/regdata
http:
  addr: $reg
YML
docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://$reg/v2/" && break; sleep 0.1; done
# --preserve-digests: the layers stay uncompressed in the registry (skopeo would gzip them,
# and the time to first byte below would ask for a digest the registry does not have)
skopeo --insecure-policy copy -q --preserve-digests --dest-tls-verify=false \
	"oci:$dir/layout:v1" "docker://$reg/bench/img:v1"

# ---- a scheduler, a seed and a peer whose mirror serves the registry
"$bin" scheduler --plaintext --listen "$ipb.13:0" --metrics-listen "$ipb.13:0" --seed-wait 2s \
	--ready-file "$dir/sched.ready" --log-file "$dir/sched.log" &
pids+=($!)
wait_ready "$dir/sched.ready" scheduler
sched=$(ready_str "$dir/sched.ready" rpc)
"$bin" peer --plaintext --seed --ip "$ipb.14" --rpc-port 0 --upload-port 0 --proxy-listen 0 \
	--data-dir "$dir/seed" --scheduler "$sched" --announce-interval 1s \
	--back-to-source-allow "$ipb.10" --ready-file "$dir/seed.ready" --log-file "$dir/seed.log" &
pids+=($!)
wait_ready "$dir/seed.ready" seed
start_peer() { # name ip proxy-listen: a peer mirroring the registry, data in $dir/peer
	"$bin" peer --plaintext --ip "$2" --rpc-port 0 --upload-port 0 --proxy-listen "$3" \
		--data-dir "$dir/peer" --scheduler "$sched" --announce-interval 1s \
		--registry-mirror "http://$reg" --back-to-source-allow "$ipb.10" \
		--ready-file "$dir/$1.ready" --log-file "$dir/$1.log" &
	pids+=($!)
	wait_ready "$dir/$1.ready" "$1"
	sleep 1.5 # the seed and the peer announced themselves
}
start_peer peer "$ipb.11" "$ipb.11:0"
proxy=$(ready_str "$dir/peer.ready" proxy)

cat >"$dir/registries.conf" <<CONF
[[registry]]
prefix = "$ipb.12:1"
location = "$ipb.12:1"
insecure = true
[[registry.mirror]]
location = "$proxy"
insecure = true
CONF

pull() { # src dest-name [skopeo global flags...]: seconds taken
	local src=$1 dst=$2 t0
	shift 2
	t0=$(now)
	# uncompressed into the layout too: else skopeo gzips each layer, and every figure is
	# the compressor's speed
	skopeo --insecure-policy "$@" copy -q --src-tls-verify=false \
		--dest-oci-accept-uncompressed-layers "$src" "oci:$dir/$dst:v1" ||
		{ echo "bench-mirror: the $dst pull failed" >&2; return 1; }
	echo "$(now) - $t0" | bc -l
	rm -rf "${dir:?}/$dst"
}

mib=$((layer_mib * 3))
# the first byte of a blob no one fetched yet (through the mirror it becomes a task now)
# (and the whole layer's time: the transfer alone, without skopeo's own work)
read -r ttfb_direct curl_direct < <(curl -sS -o /dev/null -w '%{time_starttransfer} %{time_total}\n' \
	"http://$reg/v2/bench/img/blobs/$first_layer")
read -r ttfb_proxy curl_cold < <(curl -sS -o /dev/null -w '%{time_starttransfer} %{time_total}\n' \
	"http://$proxy/v2/bench/img/blobs/$first_layer")
curl_warm=$(curl -sS -o /dev/null -w '%{time_total}' "http://$proxy/v2/bench/img/blobs/$first_layer")
# the pulls: that layer is now cached in the peer; drop it so the cold pull is cold
kill "${pids[-1]}" && wait "${pids[-1]}" 2>/dev/null || true
unset 'pids[-1]'
rm -rf "$dir/peer"
start_peer peer2 "$ipb.15" "$proxy"

direct=$(pull "docker://$reg/bench/img:v1" direct)
cold=$(pull "docker://$ipb.12:1/bench/img:v1" cold --registries-conf "$dir/registries.conf")
warm=$(pull "docker://$ipb.12:1/bench/img:v1" warm --registries-conf "$dir/registries.conf")

printf 'image: 3 layers x %d MiB (uncompressed tar), skopeo copy to an OCI layout\n' "$layer_mib"
for r in direct cold warm; do
	t=${!r}
	printf '%-7s %7.2f s  %7.1f MiB/s  %5.2f x direct throughput\n' "$r" "$t" \
		"$(echo "$mib / $t" | bc -l)" "$(echo "$direct / $t" | bc -l)"
done
printf 'first byte of a %d MiB layer: direct %.4f s, through the mirror (cold) %.4f s (%.2f x)\n' \
	"$layer_mib" "$ttfb_direct" "$ttfb_proxy" "$(echo "$ttfb_proxy / $ttfb_direct" | bc -l)"
printf 'one %d MiB layer with curl: direct %.3f s, cold %.3f s (%.2f x direct throughput), warm %.3f s (%.2f x)\n' \
	"$layer_mib" "$curl_direct" "$curl_cold" "$(echo "$curl_direct / $curl_cold" | bc -l)" \
	"$curl_warm" "$(echo "$curl_direct / $curl_warm" | bc -l)"
printf 'goals: cold >= 0.8 x, warm >= 2 x direct throughput; first byte <= 2 x direct\n'
