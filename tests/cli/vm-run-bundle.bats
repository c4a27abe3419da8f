#!/usr/bin/env bats
# vm-run --bundle's bad-input paths: each fails before booting, naming the file or field.

load helpers

setup() {
	B=$(mktemp -d)
	"$SM_TOP_SRCDIR/scripts/make-bundle.sh" "$B" "$SM" >/dev/null
}

teardown() {
	rm -rf "$B"
}

@test "bundle without config.json" {
	rm "$B/config.json"
	run "$SM" vm-run --bundle "$B"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$B/config.json"* ]]
}

@test "config.json that is not JSON" {
	echo '{ "ociVersion": ' >"$B/config.json"
	run "$SM" vm-run --bundle "$B"
	[ "$status" -ne 0 ]
	[[ "$output" == *"config.json"* ]]
}

@test "config.json without process.args names the field" {
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); del c["process"]["args"]; json.dump(c, open(sys.argv[1], "w"))' "$B/config.json"
	run "$SM" vm-run --bundle "$B"
	[ "$status" -ne 0 ]
	[[ "$output" == *"process.args"* ]]
}

@test "rootfs that does not exist is named" {
	rm -rf "$B/rootfs"
	run "$SM" vm-run --bundle "$B"
	[ "$status" -ne 0 ]
	[[ "$output" == *"rootfs"* ]]
}

@test "no executable for args[0]: runc's message and exit 127" {
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["process"]["args"]=["no-such-program"]; json.dump(c, open(sys.argv[1], "w"))' "$B/config.json"
	run -127 "$SM" vm-run --bundle "$B"
	[ "$status" -eq 127 ]
	[[ "$output" == *'exec: "no-such-program": executable file not found in $PATH'* ]]
}

@test "args[0] that is a directory is not executable: exit 127" {
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["process"]["args"]=["/tmp"]; json.dump(c, open(sys.argv[1], "w"))' "$B/config.json"
	run -127 "$SM" vm-run --bundle "$B"
	[ "$status" -eq 127 ]
}

@test "args[0] symlink escaping the rootfs is not followed to the host" {
	ln -s /usr/bin/env "$B/rootfs/bin/escape"
	rm -f "$B/rootfs/usr/bin/env"
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["process"]["args"]=["/bin/escape"]; json.dump(c, open(sys.argv[1], "w"))' "$B/config.json"
	run -127 "$SM" vm-run --bundle "$B"
	[ "$status" -eq 127 ]
}

@test "unreadable config.json is named" {
	chmod 000 "$B/config.json"
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$SM" vm-run --bundle "$B"
	[ "$status" -ne 0 ]
	[[ "$output" == *"config.json"* ]]
}

@test "--bundle with --cmdline is refused" {
	run "$SM" vm-run --bundle "$B" --cmdline true
	[ "$status" -ne 0 ]
	[[ "$output" == *"--bundle"* ]]
}

@test "spec refuses to overwrite config.json" {
	run "$SM" spec --bundle "$B"
	[ "$status" -ne 0 ]
	[[ "$output" == *"config.json"* ]]
}
