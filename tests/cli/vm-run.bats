#!/usr/bin/env bats
# vm-run's bad-input paths: each fails fast with a message naming what was wrong, before any boot.

load helpers

setup() {
	TMP=$(mktemp -d)
}

teardown() {
	rm -rf "$TMP"
}

@test "vm-run: missing kernel file is named" {
	run "$SM" vm-run --kernel "$TMP/nope" --initrd '' --cmdline true
	[ "$status" -ne 0 ]
	[[ "$output" == *"$TMP/nope"* ]]
}

@test "vm-run: a kernel that is not an ELF file is refused" {
	head -c 4096 /dev/urandom >"$TMP/garbage"
	run "$SM" vm-run --kernel "$TMP/garbage" --initrd '' --cmdline true
	[ "$status" -ne 0 ]
	[[ "$output" == *"ELF"* ]]
}

@test "vm-run: an ELF kernel without the PVH note is refused" {
	# A plain static x86_64 executable lacks XEN_ELFNOTE_PHYS32_ENTRY.
	echo 'void _start(void) { for (;;); }' >"$TMP/k.c"
	cc -static -no-pie -nostdlib -o "$TMP/k" "$TMP/k.c"
	run "$SM" vm-run --kernel "$TMP/k" --initrd '' --cmdline true
	[ "$status" -ne 0 ]
	[[ "$output" == *"PVH"* ]]
}

@test "vm-run: zero memory is refused naming --mem" {
	run "$SM" vm-run --kernel /bin/true --mem 0 --cmdline true
	[ "$status" -ne 0 ]
	[[ "$output" == *"--mem"* ]]
}

@test "vm-run: absurd memory is refused naming --mem" {
	run "$SM" vm-run --kernel /bin/true --mem 99999999 --cmdline true
	[ "$status" -ne 0 ]
	[[ "$output" == *"--mem"* ]]
}

@test "vm-run: bad vCPU count is refused naming --cpus" {
	run "$SM" vm-run --kernel /bin/true --cpus 0 --cmdline true
	[ "$status" -ne 0 ]
	[[ "$output" == *"--cpus"* ]]
}

@test "vm-run: unknown option is refused" {
	run "$SM" vm-run --frobnicate
	[ "$status" -ne 0 ]
	[[ "$output" == *"--frobnicate"* ]]
}

@test "vm-run: --template without --bundle is refused naming --template" {
	run "$SM" vm-run --kernel /bin/true --template --cmdline true
	[ "$status" -ne 0 ]
	[[ "$output" == *"--template"* ]]
}

@test "vm-run: --leave-running without --save-snapshot is refused naming it" {
	run "$SM" vm-run --kernel /bin/true --leave-running --cmdline true
	[ "$status" -ne 0 ]
	[[ "$output" == *"--leave-running"* ]]
}

@test "vm-run: no /dev/kvm access gives a clear error" {
	command -v unshare >/dev/null || skip "unshare not installed"
	# A private mount namespace where /dev/kvm is a regular empty file without permissions.
	kernel=$(sm_kernel) || skip "guest kernel not built (make guest-kernel)"
	run unshare -m sh -c "touch $TMP/kvm && chmod 000 $TMP/kvm && mount --bind $TMP/kvm /dev/kvm && \
		setpriv --reuid=65534 --regid=65534 --clear-groups $SM vm-run --kernel $kernel --initrd '' --cmdline true"
	[ "$status" -ne 0 ]
	[[ "$output" == *"/dev/kvm"* ]]
}

@test "sm-runtime: unknown command is refused" {
	run "$SM" frobnicate
	[ "$status" -ne 0 ]
	[[ "$output" == *"unknown command"* ]]
}

@test "sm-runtime --version prints runc-style lines" {
	run "$SM" --version
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "sm-runtime version "* ]]
	[[ "${lines[1]}" == "spec: 1."* ]]
	[[ "${lines[2]}" == "commit: "* ]]
}
