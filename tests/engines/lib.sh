# shellcheck shell=bash
# Shared helpers of the engine tests (tests/engines/*.sh): TAP output, package installation from
# Debian's mirror, a busybox root file system, and cleanup of the private folders the engines use.
# Sourced, not run.

ENG_N=0
ENG_FAILED=0
ENG_T0=${EPOCHREALTIME/./}
ENG_T=$ENG_T0

# Seconds since microsecond timestamp $1, one decimal.
eng_secs() { awk -v d=$((${EPOCHREALTIME/./} - $1)) 'BEGIN { printf "%.1f", d / 1e6 }'; }

# ok COND-STATUS DESCRIPTION: one TAP result from the status of the previous command, with the
# seconds since the previous result (where the time goes: most of it is containers starting).
ok() {
	local status=$1 took
	shift
	ENG_N=$((ENG_N + 1))
	took=$(eng_secs "$ENG_T")
	ENG_T=${EPOCHREALTIME/./}
	if [ "$status" -eq 0 ]; then
		echo "ok $ENG_N - $* ($took s)"
	else
		echo "not ok $ENG_N - $* ($took s)"
		ENG_FAILED=$((ENG_FAILED + 1))
	fi
}

# is WHAT GOT EXPECTED: passes when GOT equals EXPECTED, showing both otherwise.
is() {
	local what=$1 got=$2 want=$3
	[ "$got" = "$want" ]
	ok $? "$what"
	[ "$got" = "$want" ] || printf "#   got:      '%s'\n#   expected: '%s'\n" \
		"$(printf '%s' "$got" | tr '\n' ' ' | cut -c1-300)" "$want"
}

diag() { printf '# %s\n' "$*"; }

# skip_all REASON: the whole test cannot run here (automake's SKIP status).
skip_all() {
	echo "1..0 # SKIP $*"
	exit 77
}

# bail_out REASON: the test is misconfigured (not a property of this machine): fail at once.
bail_out() {
	echo "Bail out! $*"
	exit 1
}

# Ends the TAP stream; the exit status says whether every result passed.
done_testing() {
	diag "$(basename "$0"): $(eng_secs "$ENG_T0") s"
	echo "1..$ENG_N"
	[ "$ENG_FAILED" -eq 0 ]
}

# ensure_debian_packages PKG...: install what is missing, from the mirror apt is configured with.
ensure_debian_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	diag "installing ${missing[*]} from Debian"
	apt-get update -qq >/dev/null 2>&1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
		>/dev/null 2>&1
}

# make_busybox_rootfs DIR: a minimal root file system of Debian's static busybox.
make_busybox_rootfs() {
	local dir=$1 bb=/bin/busybox applet
	[ -x "$bb" ] && file -L "$bb" 2>/dev/null | grep -q 'statically linked' || return 1
	mkdir -p "$dir"/{bin,dev,etc,proc,sys,tmp,root,run} || return 1
	cp "$bb" "$dir/bin/busybox"
	for applet in $("$bb" --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
	done
	ln -sf bin "$dir/sbin"
	mkdir -p "$dir/usr" && ln -sf ../bin "$dir/usr/bin"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
	echo 'root:x:0:' >"$dir/etc/group"
	chmod 1777 "$dir/tmp"
}

# Mount points at or below DIR, deepest first.
mounts_under() {
	awk -v d="$1" '{ m = $5; gsub(/\\040/, " ", m);
		if (m == d || index(m, d "/") == 1) print length(m) "\t" m }' /proc/self/mountinfo |
		sort -rn | cut -f2-
}

# remove_private_dir DIR: unmount what the engine left mounted below DIR, then delete DIR
# without ever crossing into a mount.
remove_private_dir() {
	local dir=$1 m _
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	for _ in 1 2 3; do
		while IFS= read -r m; do
			[ -n "$m" ] && { umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
		done < <(mounts_under "$dir")
	done
	if [ -n "$(mounts_under "$dir")" ]; then
		diag "mounts remain under $dir; leaving it in place"
		return 1
	fi
	rm -rf --one-file-system "$dir"
}

# resolve_runtime NAME-OR-PATH: the runtime's absolute path, or nothing.
resolve_runtime() {
	local r
	r=$(command -v "$1" 2>/dev/null) || return 1
	case "$r" in /*) echo "$r" ;; *) echo "$PWD/$r" ;; esac
}
