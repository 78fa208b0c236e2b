#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Build dragonfly_<version>-1_<arch>.deb from the tree with dpkg-deb: no network, no
# debhelper. It holds what `make install PREFIX=/usr` installs (binary, man pages, example
# configs as conffiles, the units, bash and zsh completion). Installing it creates the system user
# and group dragonfly and /var/lib/dragonfly (0750); the units stay disabled:
#
#   scripts/build-deb.sh [OUTDIR]          (default build/deb; prints the .deb's path)
#   apt install ./build/deb/dragonfly_*.deb && systemctl enable --now dragonfly-peer
#
# Runs `make` first. lintian (scripts/test-pkg.sh runs it) is clean but for the tags that
# debian/lintian-overrides below explains.
set -eu
cd "$(dirname "$0")/.."

out=${1:-build/deb}
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
revision=1
arch=$(dpkg --print-architecture)
stage=build/deb-stage
maintainer="${DEBFULLNAME:-dragonfly developers} <${DEBEMAIL:-dragonfly@example.org}>"
deb="$out/dragonfly_${version}-${revision}_${arch}.deb"

make -s
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$out"
make -s install DESTDIR="$PWD/$stage" PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system \
	BASHCOMPDIR=/usr/share/bash-completion/completions \
	ZSHCOMPDIR=/usr/share/zsh/vendor-completions >/dev/null

# Debian's rules for what ships: a stripped binary, compressed man pages, the copyright
# and a changelog.
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
	"$stage/usr/bin/dragonfly"
gzip -9n "$stage"/usr/share/man/man1/*.1
doc=$stage/usr/share/doc/dragonfly
mkdir -p "$doc"
cat >"$doc/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: dragonfly
Comment: One static binary: the libraries below are linked in from Debian's own
 packages (libevent, nghttp2, mbedtls, sqlite3, xxhash) and cJSON is built from
 Debian's source package; their copyright files are in those packages.

Files: *
Copyright: 2026 the dragonfly authors
License: Apache-2.0

License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
date=$(date -uR -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")
cat >"$doc/changelog.Debian" <<EOF
dragonfly ($version-$revision) unstable; urgency=medium

  * Package built by scripts/build-deb.sh from git $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown).

 -- $maintainer  $date
EOF
gzip -9n "$doc/changelog.Debian"

# Tags that remain, and why (lintian reads this file from the package).
mkdir -p "$stage/usr/share/lintian/overrides"
cat >"$stage/usr/share/lintian/overrides/dragonfly" <<'EOF'
# One static binary is the design (README "Build"): libevent, nghttp2, mbedtls, sqlite3
# and xxhash come from Debian's static archives at build time.
dragonfly: statically-linked-binary [usr/bin/dragonfly]
dragonfly: embedded-library mbedtls [usr/bin/dragonfly]
# "UNKNOW" is upstream Dragonfly's wire name of a size scope (SizeScope_UNKNOW); the other
# two are in the text of linked libraries (nghttp2's error strings).
dragonfly: spelling-error-in-binary UNKNOW UNKNOWN [usr/bin/dragonfly]
dragonfly: spelling-error-in-binary "an other" "another" [usr/bin/dragonfly]
dragonfly: spelling-error-in-binary ment meant [usr/bin/dragonfly]
# The units need systemd (Type=notify, sandboxing, LoadCredential=): no init.d scripts.
dragonfly: package-supports-alternative-init-but-no-init.d-script [lib/systemd/*]
# Built from the project's tree, not uploaded to Debian: no bug to close.
dragonfly: initial-upload-closes-no-bugs [usr/share/doc/dragonfly/changelog.Debian.gz:1]
# The cluster's private keys live here: root only, handed to the units by LoadCredential=.
dragonfly: non-standard-dir-perm 0700 != 0755 [etc/dragonfly/tls/]
EOF

(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
	xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
find "$stage/etc" -type f | sed "s#^$stage##" | sort >"$stage/DEBIAN/conffiles"
installed=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: dragonfly
Version: $version-$revision
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed
Depends: adduser
Section: net
Priority: optional
Homepage: https://d7y.io/
Description: P2P file and container-image distribution
 A re-implementation of the CNCF Dragonfly P2P file distribution system as one
 static binary: the scheduler, the peer daemon and the seed peer, and the
 dragonfly get client that downloads through the local peer.
 .
 The systemd units dragonfly-scheduler, dragonfly-seed-peer and dragonfly-peer
 are installed disabled; they run as the system user dragonfly.
EOF

cat >"$stage/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	if ! getent group dragonfly >/dev/null; then
		addgroup --system --quiet dragonfly
	fi
	if ! getent passwd dragonfly >/dev/null; then
		adduser --system --quiet --ingroup dragonfly --home /var/lib/dragonfly \
			--no-create-home --shell /usr/sbin/nologin --gecos "dragonfly P2P daemon" dragonfly
	fi
	install -d -o dragonfly -g dragonfly -m 0750 /var/lib/dragonfly
fi
# The units stay disabled: systemctl enable --now dragonfly-peer (or -seed-peer, -scheduler).
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
exit 0
EOF

cat >"$stage/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	deb-systemd-invoke stop dragonfly-peer.service dragonfly-seed-peer.service \
		dragonfly-scheduler.service >/dev/null || true
fi
exit 0
EOF

# The user and group stay (files they own may remain); purge removes the cache and logs.
cat >"$stage/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/dragonfly /var/lib/dragonfly-seed /var/log/dragonfly
fi
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
exit 0
EOF
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"

dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
