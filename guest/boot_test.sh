#!/bin/sh
# TAP test: boot the real guest (kernel from `make guest-kernel`, guest/initramfs.cpio) under QEMU
# with guest/qemu-boot.sh and check the init's contract: command output on the console unchanged,
# SM-READY/SM-EXIT on the control channel, exit status and 128+signal, the guest stopping itself.
# Two boots: ~15-30 s each on kvm_pvm hosts.
src=${SM_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${SM_TOP_BUILDDIR:-.}

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}
[ -w /dev/kvm ] || skip_all "/dev/kvm is not accessible"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 missing (Debian package qemu-system-x86)"
[ "${SM_TEST_GUEST_BOOTS:-1}" = 0 ] && skip_all "guest boots run in the -Werror build only (SM_TEST_GUEST_BOOTS=0)"
[ -r "$build/guest/kernel.path" ] || skip_all "no guest kernel: run 'make guest-kernel' first"
kernel=$(cat "$build/guest/kernel.path")
[ -r "$kernel" ] || skip_all "guest kernel $kernel is missing: run 'make guest-kernel'"
initrd=$build/guest/initramfs.cpio
[ -r "$initrd" ] || skip_all "$initrd is missing: run 'make'"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
ok() { # cond-status description
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}

"$src/guest/qemu-boot.sh" "$kernel" "$initrd" 'echo hello-from-guest; printf "a\nb\n"; exit 3' </dev/null \
	>"$tmp/out1" 2>"$tmp/err1"
ok $(($? != 3)) "the command's exit status (3) is the script's exit status"
grep -q '^hello-from-guest$' "$tmp/out1"
ok $? "the command's output reaches the console"
printf 'a\nb\n' >"$tmp/ab"
grep -A1 '^a$' "$tmp/out1" | cmp -s - "$tmp/ab"
ok $? "output is not altered by the tty (no \\r added before \\n)"
grep -q '^qemu-boot: ready=[0-9.]* exit=[0-9.]* status=3$' "$tmp/err1"
ok $? "SM-READY and SM-EXIT 3 arrive on the control channel"
! grep -q 'did not stop' "$tmp/err1"
ok $? "the guest stops by itself after SM-EXIT (reboot=t triple fault)"
grep '^qemu-boot:' "$tmp/err1" | sed 's/^/# /'

"$src/guest/qemu-boot.sh" "$kernel" "$initrd" 'kill -9 $$' </dev/null >"$tmp/out2" 2>"$tmp/err2"
ok $(($? != 137)) "a command killed by SIGKILL reports 128+9"
grep '^qemu-boot:' "$tmp/err2" | sed 's/^/# /'

echo "1..$n"
[ "$failed" -eq 0 ]
