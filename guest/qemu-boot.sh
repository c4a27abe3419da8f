#!/bin/bash
# Boot the sm-runtime guest under QEMU's microvm with the kernel command line our VMM uses, as a
# reference for bench/boot.sh and for debugging the guest without our VMM.
#
# Usage: qemu-boot.sh KERNEL INITRD [CMD]
#   CMD  shell command run in the guest (passed base64-encoded as sm.cmd=); none: boot and exit 0
# Environment: SM_GUEST_MEM (MiB, default 128), SM_GUEST_APPEND (extra kernel parameters),
#   QEMU (default qemu-system-x86_64), SM_BOOT_TIMEOUT (seconds, default 300).
# stdin feeds the guest console (the command's stdin; ^D ends it). The guest console (the
# command's output, then the kernel's "reboot: Restarting system") goes to stdout. On stderr the
# last line is
#   qemu-boot: ready=<s> exit=<s> status=<n>
# with wall-clock seconds from starting QEMU to SM-READY and to QEMU's exit. The exit status is
# the command's (SM-EXIT), or 125 when the guest never reported one.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
die() {
	echo "qemu-boot: $*" >&2
	exit 125
}

[ $# -ge 2 ] && [ $# -le 3 ] || die "usage: qemu-boot.sh KERNEL INITRD [CMD]"
kernel=$1
initrd=$2
[ -r "$kernel" ] || die "kernel $kernel not readable"
[ -r "$initrd" ] || die "initrd $initrd not readable"
[ -w /dev/kvm ] || die "/dev/kvm is not accessible"
qemu=${QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || die "$qemu not found: install the Debian package qemu-system-x86"

# The same kernel command line as the VMM: fixed part, tuned part, kvm_pvm workarounds, command.
append="console=ttyS0 reboot=t panic=-1 $(cat "$here/kernel/cmdline.txt")"
cpu=host
if [ -d /sys/module/kvm_pvm ]; then
	append="$append $(cat "$here/kernel/cmdline-pvm.txt")"
	cpu=host,-arch-capabilities
fi
[ -z "${SM_GUEST_APPEND:-}" ] || append="$append $SM_GUEST_APPEND"
if [ $# -eq 3 ]; then
	append="$append sm.cmd=$(printf '%s' "$3" | base64 -w0)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sm-qemu-boot.XXXXXX")
qemu_pid=
cleanup() {
	[ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
mkfifo "$tmp/ctl"

now() { date +%s.%N; }
# The control channel (ttyS1): timestamp every line as it arrives.
while IFS= read -r line; do
	echo "$(now) $line"
done <"$tmp/ctl" >"$tmp/ctl.log" &

start=$(now)
# Our stdin is the guest console's input (bash would give a background job /dev/null).
exec 3<&0
# microvm has one ISA serial port of its own; ttyS1 (0x2f8, IRQ 3) is added as a device.
# -no-reboot: the guest's reboot (a triple fault with reboot=t) ends QEMU.
"$qemu" -enable-kvm -cpu "$cpu" -M microvm,acpi=off -m "${SM_GUEST_MEM:-128}" \
	-nodefaults -no-user-config -nographic -no-reboot \
	-serial stdio \
	-chardev file,id=smctl,path="$tmp/ctl" -device isa-serial,chardev=smctl,iobase=0x2f8,irq=3 \
	-kernel "$kernel" -initrd "$initrd" -append "$append" <&3 &
qemu_pid=$!

# Wait for QEMU; if the guest reported SM-EXIT but does not stop (a guest that cannot reboot),
# give it a few seconds, then stop QEMU ourselves.
deadline=$(($(date +%s) + ${SM_BOOT_TIMEOUT:-300}))
exit_seen=
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ -z "$exit_seen" ] && grep -q ' SM-EXIT ' "$tmp/ctl.log" 2>/dev/null; then
		exit_seen=$(date +%s)
	fi
	if [ -n "$exit_seen" ] && [ $(($(date +%s) - exit_seen)) -ge 5 ]; then
		echo "qemu-boot: guest reported SM-EXIT but did not stop; stopping QEMU" >&2
		kill "$qemu_pid"
	elif [ "$(date +%s)" -ge "$deadline" ]; then
		echo "qemu-boot: timeout after ${SM_BOOT_TIMEOUT:-300} s; stopping QEMU" >&2
		kill "$qemu_pid"
	fi
	sleep 0.1
done
end=$(now)
wait "$qemu_pid" || true
qemu_pid=
wait || true # the control channel reader ends when QEMU closes the FIFO

ready=$(awk '$2 == "SM-READY" { print $1; exit }' "$tmp/ctl.log")
status=$(awk '$2 == "SM-EXIT" { print $3; exit }' "$tmp/ctl.log")
elapsed() { [ -n "$1" ] && echo "$1 $start" | awk '{ printf "%.2f", $1 - $2 }' || echo none; }
echo "qemu-boot: ready=$(elapsed "$ready") exit=$(elapsed "$end") status=${status:-none}" >&2
exit "${status:-125}"
