#!/usr/bin/env bash
# End to end: `process.terminal: true` under `sm-runtime vm-run --bundle` gives the container's
# process the VM's virtio console (/dev/hvc0) as its controlling terminal, relayed to the host's
# stdin/stdout: once with a pipe as stdin, once under a pty (script) with a window size. The VMs are
# restored from the template of their shape (--template): no guest boot once it exists.
set -u
. "$SM_TOP_SRCDIR/tests/e2e/lib.sh"
e2e_require_guest
have_script=1
command -v script >/dev/null || have_script=0
echo "1..9"
bundle=$(mktemp -d)
trap 'rm -rf "$bundle"' EXIT
"$SM_TOP_SRCDIR/scripts/make-bundle.sh" "$bundle" "$SM" >/dev/null
python3 - "$bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = True
c["process"]["args"] = ["sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-tty; stty size;"
                        " touch /reading; read line; echo got=$line; exit 5"]
c["root"]["readonly"] = False
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY

# 1. stdin from a pipe: the input is typed ahead, before the guest has booted.
out=$(echo typed-ahead | "$SM" vm-run "${E2E_VM[@]}" --bundle "$bundle" 2>&1)
status=$?
echo "$out" | sed "s/^/# [pipe] /"
raw=$out
out=$(tr -d '\r' <<<"$out")
check "pipe: exit status 5 comes back" [ $status -eq 5 ]
check "pipe: the terminal is /dev/hvc0" grep -qx /dev/hvc0 <<<"$out"
check "pipe: stdin and stdout are a tty" grep -qx stdio-is-tty <<<"$out"
check "pipe: input typed ahead reaches the process" grep -qx got=typed-ahead <<<"$out"
check "pipe: output has CRLF line ends (ONLCR on the guest tty)" grep -q $'/dev/hvc0\r$' <<<"$raw"

# 2. under a pty with a window size: the size reaches the guest, the host tty is restored.
if [ $have_script = 0 ]; then
	for d in "pty: window size" "pty: input" "pty: exit status" "pty: host tty restored"; do
		n=$((n + 1)); echo "ok $n - $d # SKIP script(1) is not installed"
	done
	exit 0
fi
# The input is typed once the process waits for it (it touches /reading in its rootfs first).
rm -f "$bundle/rootfs/reading"
typist() {
	for _ in $(seq 1 3000); do
		[ -e "$bundle/rootfs/reading" ] && break
		sleep 0.3
	done
	sleep 1
	printf 'late\r'
}
out=$(typist | script -qec "stty cols 101 rows 31 -echo; stty -g >$bundle/before; \
	$SM vm-run ${E2E_VM[*]} --bundle $bundle; echo status=\$?; stty -g >$bundle/after" /dev/null 2>&1)
echo "$out" | sed "s/^/# [pty] /"
out=$(tr -d '\r' <<<"$out")
check "pty: the window size 31x101 reaches the guest" grep -qx "31 101" <<<"$out"
check "pty: input reaches the process" grep -qx got=late <<<"$out"
check "pty: exit status 5 comes back" grep -qx status=5 <<<"$out"
check "pty: the host tty's modes are restored" cmp -s "$bundle/before" "$bundle/after"
