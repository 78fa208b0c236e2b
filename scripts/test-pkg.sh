#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Checks what an operator installs, without a running systemd (make check-pkg; CI step
# "package"):
#   - `make install DESTDIR=...`: files and modes, a man page per subcommand, configs and
#     units rewritten for the install paths, bash completion answering from --help;
#   - every unit: the flags of its ExecStart are accepted (--check-config),
#     `systemd-analyze verify` is clean and `systemd-analyze security --offline=true`
#     exposure is at most 2.5 (skipped with a reason when systemd-analyze is missing);
#   - scripts/build-deb.sh: the package's files and modes, conffiles, a postinst that
#     creates the system user and /var/lib/dragonfly 0750 and enables no unit (run with
#     stub commands), lintian (skipped with a reason when missing). With CI=true as root
#     it also installs the package with apt, checks the user and the directory, and
#     purges it.
# Prints one line per check ("ok ..." / "FAIL ..." / "skip ...") and a summary line
# "check-pkg: ..." (which scripts/ci.sh shows), and exits non-zero on a failure.
set -u
cd "$(dirname "$0")/.." || exit 1

MAX_EXPOSURE=2.5
bin=./dragonfly
tmp=$(mktemp -d /tmp/df-pkg-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0
passed=0
skipped=''

ok() {
	echo "ok   $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL $*"
	failed=$((failed + 1))
}
skip() {
	echo "skip $*"
	skipped="$skipped; skipped: $*"
}
# check DESCRIPTION CMD...: ok when CMD succeeds, else FAIL with its output.
check() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
	else
		fail "$what"
		printf '%s\n' "$out" | sed 's/^/     | /' | head -n 30
	fi
}
# mode_is PATH MODE: the octal mode of PATH is MODE.
mode_is() { [ "$(stat -c %a "$1")" = "$2" ]; }

[ -x "$bin" ] || { echo "check-pkg: build ./dragonfly first (make)"; exit 1; }
subs=$("$bin" --help | awk '/^subcommands:$/ { on = 1; next }
	on && /^  [a-z]/ && $0 !~ /  the same as / { print $1 }')

# --- make install ---------------------------------------------------------------------
dest=$tmp/dest
if ! out=$(make -s install DESTDIR="$dest" PREFIX=/usr/local 2>&1); then
	fail "make install DESTDIR"
	printf '%s\n' "$out" | tail -n 20
	echo "check-pkg: make install failed"
	exit 1
fi
ok "make install DESTDIR=$dest PREFIX=/usr/local"
check "binary 0755" mode_is "$dest/usr/local/bin/dragonfly" 755
check "configs 0644 in etc/dragonfly" \
	sh -c "for f in conf/*.json; do [ \"\$(stat -c %a $dest/etc/dragonfly/\$(basename \$f))\" = 644 ] || exit 1; done"
check "etc/dragonfly/tls 0700" mode_is "$dest/etc/dragonfly/tls" 700
check "logrotate config 0644" mode_is "$dest/etc/logrotate.d/dragonfly" 644
if command -v logrotate >/dev/null; then
	check "logrotate config parses" logrotate -d "$dest/etc/logrotate.d/dragonfly"
fi
for u in conf/systemd/*.service; do
	check "$(basename "$u") reloads with SIGHUP" grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$u"
done
check "bash completion 0644" mode_is "$dest/usr/local/share/bash-completion/completions/dragonfly" 644
check "zsh completion 0644" mode_is "$dest/usr/local/share/zsh/site-functions/_dragonfly" 644
man1=$dest/usr/local/share/man/man1
for s in - $subs; do
	page=$man1/dragonfly-$s.1
	[ "$s" = - ] && page=$man1/dragonfly.1
	check "man page $(basename "$page")" test -s "$page"
done
# Every flag of --help is in the page (the page is made from --help: this catches a
# generator that drops entries).
for s in $subs; do
	missing=$("$bin" "$s" --help | grep -oE '^ +(-[a-zA-Z], )?--[a-z][a-z-]*' |
		sed 's/.*--/--/' | while read -r f; do
			grep -qF -- "$(printf '%s' "$f" | sed 's/-/\\-/g')" "$man1/dragonfly-$s.1" ||
				echo "$f"
		done)
	check "man page dragonfly-$s.1 has every flag of --help" test -z "$missing"
done
if command -v man >/dev/null; then
	for p in "$man1"/*.1; do
		check "man renders $(basename "$p") without warnings" \
			sh -c "! LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l '$p' 2>&1 >/dev/null | grep ."
	done
else
	skip "man rendering: man is not installed"
fi

# Bash completion, with the two helpers of the bash-completion package stubbed.
comp_out=$(PATH="$dest/usr/local/bin:$PATH" bash -c '
	_init_completion() { words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; cur=${words[cword]};
		prev=${words[cword-1]}; }
	_filedir() { COMPREPLY=("<files$*>"); }
	. "$1"
	t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _dragonfly dragonfly;
		echo "$*|${COMPREPLY[*]}"; }
	t dragonfly sche
	t dragonfly peer --data-d
	t dragonfly peer --data-dir ""
	t dragonfly scheduler --tls-mode ""
	t dragonfly cert issue --role s
' _ "$dest/usr/local/share/bash-completion/completions/dragonfly" 2>&1)
expect="dragonfly sche|scheduler
dragonfly peer --data-d|--data-dir
dragonfly peer --data-dir |<files-d>
dragonfly scheduler --tls-mode |auto mtls plaintext
dragonfly cert issue --role s|seed scheduler"
check "bash completion answers from --help" test "$comp_out" = "$expect"
[ "$comp_out" = "$expect" ] || printf '%s\n' "$comp_out" | sed 's/^/     | /'

# zsh completion, with the completion system's functions stubbed to print what they get.
if command -v zsh >/dev/null; then
	zcomp_out=$(PATH="$dest/usr/local/bin:$PATH" zsh -f -c '
		compadd() { print -r -- "compadd ${(j: :)@}"; }
		_describe() { print -r -- "describe ${(j: :)${(P)4}[1,2]}"; }
		_files() { print -r -- "files $*"; }
		_message() { print -r -- "message $*"; }
		_call_program() { shift; "$@"; }
		_dragonfly() { source "$1"; }
		t() { words=("$@"); CURRENT=$#; PREFIX=${words[CURRENT]}; _dragonfly "$f"; }
		f=$1
		t dragonfly sche
		t dragonfly peer --data-dir ""
		t dragonfly scheduler --tls-mode ""
		t dragonfly get --time
	' _ "$dest/usr/local/share/zsh/site-functions/_dragonfly" 2>&1)
	zexpect="describe scheduler:the scheduler\\: picks parents for every peer peer:the peer daemon (dfdaemon)\\: downloads, caches and uploads pieces
files -/
compadd -- auto mtls plaintext
describe --config:JSON config file; every flag is also a key in it -c:JSON config file; every flag is also a key in it"
	check "zsh completion answers from --help" test "$zcomp_out" = "$zexpect"
	[ "$zcomp_out" = "$zexpect" ] || printf '%s\n' "$zcomp_out" | sed 's/^/     | /'
else
	skip "zsh completion: zsh is not installed"
fi

# --- units ----------------------------------------------------------------------------
unitdir=$dest/usr/local/lib/systemd/system
units=$(find "$unitdir" -name '*.service' -printf '%f\n' | sort)
check "units installed: $(tr '\n' ' ' <<<"$units")" test -n "$units"
for u in $units; do
	check "$u 0644" mode_is "$unitdir/$u" 644
	check "$u runs the installed binary with the installed config" \
		grep -q '^ExecStart=/usr/local/bin/dragonfly .*-c /etc/dragonfly/' "$unitdir/$u"
	# The ExecStart line, continuations joined, %d (credentials) replaced.
	args=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$unitdir/$u" | sed -n 's/^ExecStart=[^ ]* //p' |
		sed -e "s#%d#$tmp/cred#g" -e "s#/etc/dragonfly#$dest/etc/dragonfly#g")
	# shellcheck disable=SC2086 # the unit's words, as systemd splits them
	check "$u: dragonfly accepts its ExecStart flags" "$bin" $args --check-config
done
if command -v systemd-analyze >/dev/null; then
	# verify resolves ExecStart= on this system: point the copies at the installed binary.
	mkdir -p "$tmp/verify"
	for u in $units; do
		sed "s#^ExecStart=/usr/local/bin/dragonfly#ExecStart=$dest/usr/local/bin/dragonfly#" \
			"$unitdir/$u" >"$tmp/verify/$u"
	done
	man_opt=--man=no
	command -v man >/dev/null && man_opt=--man=yes
	export MANPATH="$dest/usr/local/share/man"
	for u in $units; do
		check "systemd-analyze verify $man_opt $u" sh -c \
			"out=\$(systemd-analyze verify $man_opt '$tmp/verify/$u' 2>&1); rc=\$?; \
			printf '%s' \"\$out\"; [ \$rc -eq 0 ] && [ -z \"\$out\" ]"
		score=$(systemd-analyze security --offline=true --no-pager "$unitdir/$u" 2>&1 |
			sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
		if [ -n "$score" ] && awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
			ok "systemd-analyze security $u: exposure $score (at most $MAX_EXPOSURE)"
		else
			fail "systemd-analyze security $u: exposure '${score:-?}' (at most $MAX_EXPOSURE)"
		fi
	done
	unset MANPATH
else
	skip "systemd-analyze verify and security: systemd-analyze is not installed (apt-get install systemd)"
fi

# --- the .deb -------------------------------------------------------------------------
if ! command -v dpkg-deb >/dev/null; then
	skip "the .deb: dpkg-deb is not installed"
else
	if ! deb=$(sh scripts/build-deb.sh "$tmp/deb" 2>"$tmp/deb.log"); then
		fail "scripts/build-deb.sh"
		tail -n 20 "$tmp/deb.log"
	else
		ok "scripts/build-deb.sh: $(basename "$deb")"
		dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }' | sed 's#\./#/#' >"$tmp/deb.list"
		for want in "-rwxr-xr-x root/root /usr/bin/dragonfly" \
			"-rw-r--r-- root/root /etc/dragonfly/manager.json" \
			"-rw-r--r-- root/root /etc/dragonfly/peer.json" \
			"-rw-r--r-- root/root /etc/dragonfly/scheduler.json" \
			"-rw-r--r-- root/root /etc/logrotate.d/dragonfly" \
			"drwx------ root/root /etc/dragonfly/tls/" \
			"-rw-r--r-- root/root /lib/systemd/system/dragonfly-manager.service" \
			"-rw-r--r-- root/root /lib/systemd/system/dragonfly-peer.service" \
			"-rw-r--r-- root/root /lib/systemd/system/dragonfly-seed-peer.service" \
			"-rw-r--r-- root/root /lib/systemd/system/dragonfly-scheduler.service" \
			"-rw-r--r-- root/root /usr/share/bash-completion/completions/dragonfly" \
			"-rw-r--r-- root/root /usr/share/zsh/vendor-completions/_dragonfly" \
			"-rw-r--r-- root/root /usr/share/man/man1/dragonfly.1.gz" \
			"-rw-r--r-- root/root /usr/share/man/man1/dragonfly-peer.1.gz" \
			"-rw-r--r-- root/root /usr/share/doc/dragonfly/copyright"; do
			check "deb has $want" grep -qxF -- "$want" "$tmp/deb.list"
		done
		check "deb units run /usr/bin/dragonfly" sh -c \
			"dpkg-deb --fsys-tarfile '$deb' | tar -xOf - ./lib/systemd/system/dragonfly-peer.service |
			grep -q '^ExecStart=/usr/bin/dragonfly peer -c /etc/dragonfly/peer.json'"
		dpkg-deb -e "$deb" "$tmp/control"
		check "deb conffiles are the configs" test "$(cat "$tmp/control/conffiles")" = \
			"$(printf '/etc/dragonfly/manager.json\n/etc/dragonfly/peer.json\n/etc/dragonfly/scheduler.json\n/etc/logrotate.d/dragonfly')"
		# The postinst against stubs that log their arguments: a fresh system without the
		# user, and no systemd running.
		mkdir -p "$tmp/stub"
		for c in addgroup adduser install systemctl deb-systemd-helper; do
			printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$c" "$tmp/calls" >"$tmp/stub/$c"
			chmod +x "$tmp/stub/$c"
		done
		printf '#!/bin/sh\nexit 2\n' >"$tmp/stub/getent"
		chmod +x "$tmp/stub/getent"
		check "postinst configure runs" env PATH="$tmp/stub:$PATH" sh "$tmp/control/postinst" configure
		calls=$(cat "$tmp/calls" 2>/dev/null)
		check "postinst creates the system group dragonfly" \
			grep -qE '^addgroup --system .*dragonfly$' <<<"$calls"
		check "postinst creates the system user dragonfly" \
			grep -qE '^adduser --system .*--ingroup dragonfly .*dragonfly$' <<<"$calls"
		check "postinst makes /var/lib/dragonfly 0750 for dragonfly" \
			grep -qxF 'install -d -o dragonfly -g dragonfly -m 0750 /var/lib/dragonfly' <<<"$calls"
		check "postinst enables no unit" sh -c "! grep -qE 'enable|start' '$tmp/calls'"
		if command -v lintian >/dev/null; then
			check "lintian clean (overrides explained in scripts/build-deb.sh)" sh -c \
				"out=\$(lintian --pedantic -I '$deb' 2>&1 | grep -v 'running with root privileges');
				printf '%s' \"\$out\"; [ -z \"\$out\" ]"
		else
			skip "lintian: not installed (apt-get install lintian)"
		fi
		if [ "${CI:-}" = true ] && [ "$(id -u)" -eq 0 ] && ! dpkg -s dragonfly >/dev/null 2>&1; then
			if out=$(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" 2>&1); then
				ok "apt-get install ./$(basename "$deb")"
				check "user dragonfly exists" getent passwd dragonfly
				check "group dragonfly exists" getent group dragonfly
				check "/var/lib/dragonfly 0750 dragonfly:dragonfly" test \
					"$(stat -c '%a %U:%G' /var/lib/dragonfly)" = "750 dragonfly:dragonfly"
				check "units are not enabled" test ! -e \
					/etc/systemd/system/multi-user.target.wants/dragonfly-peer.service
				check "installed dragonfly runs" /usr/bin/dragonfly version
				check "apt-get purge dragonfly" env DEBIAN_FRONTEND=noninteractive \
					apt-get purge -y -qq dragonfly
			else
				fail "apt-get install ./$(basename "$deb")"
				printf '%s\n' "$out" | tail -n 20
			fi
		else
			skip "installing the .deb: only with CI=true, as root, without dragonfly installed"
		fi
	fi
fi

echo "check-pkg: $passed ok, $failed failed$skipped"
[ "$failed" -eq 0 ]
