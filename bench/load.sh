#!/usr/bin/env bash
# Load benchmark (issue 6, item 5): LOAD_N containers (busybox `sleep infinity`, 128 MiB guest, from
# one snapshot template) are each created, started, killed and deleted by their own sequence of
# `sm-runtime` invocations, LOAD_PAR sequences in flight at once. Prints containers per minute,
# the failures (must be 0) with their errors, and the resources left behind (must be 0): the
# caller's fds, processes, mounts, host cgroups, state directories and sockets.
#
# Then one container is the target of concurrent commands (state, kill TERM/KILL, delete, delete
# --force, all at once) while its state.json is read in a loop, and LOAD_DUP creates of one id race:
# every command must either succeed or fail with one of the expected errors, every state output and
# every state.json read must be complete JSON, exactly one duplicate create must win, and nothing
# may be left behind.
#
# "fds of the caller": every invocation is given an extra open fd; no process may keep it, and this
# script's own fd count must not grow.
#
# Usage: bench/load.sh [BUILDDIR]   (BUILDDIR default: ./build; SM_RUNTIME=path overrides)
# Environment: LOAD_N        containers (default 50)
#              LOAD_PAR      sequences in flight (default 8)
#              LOAD_MEM_MIB  guest RAM (annotation org.sm-runtime.vm.mem_mib, default 128)
#              LOAD_TIMEOUT  seconds one sm-runtime invocation may take (default 300)
#              LOAD_DUP      concurrent creates of one id (default 4)
# Exit status: 0 when there were no failures and no leaks, 1 otherwise, 77 (skip, with the reason)
# when root, /dev/kvm, sm-runtime, jq or busybox is missing. tests/cli/concurrency.bats runs it.
set -euo pipefail
export LC_ALL=C
top=$(cd "$(dirname "$0")/.." && pwd)
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
BENCH_NAME=load.sh
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"

# Internal mode: one container's sequence. Prints "ok SECONDS" or "FAIL step: error" on stdout.
# Every invocation gets an extra open fd (9, the canary file): the monitor must not inherit it (runc
# passes only stdio and --preserve-fds). Its stdio is a file: a container's stdio is the caller's
# (pass-through, as with runc), so the monitor rightly keeps it.
if [ "${1-}" = --one ]; then
	id=$2
	sm=(timeout -k 5 "$LOAD_TIMEOUT" "$LOAD_SM" --root "$LOAD_ROOT")
	out=$LOAD_ROOT/../out.$id
	t0=${EPOCHREALTIME/./}
	step() {
		local what=$1
		shift
		if ! "${sm[@]}" "$@" </dev/null >"$out" 2>&1 9>>"$LOAD_CANARY"; then
			echo "FAIL $what: $(tr '\n' ' ' <"$out" | head -c 300)"
			"$LOAD_SM" --root "$LOAD_ROOT" delete --force "$id" >/dev/null 2>&1 || true
			exit 0
		fi
		REPLY=$(cat "$out")
	}
	step create create --bundle "$LOAD_BUNDLE" "$id"
	step start start "$id"
	step state state "$id"
	st=$(jq -r .status <<<"$REPLY" 2>/dev/null) || st="invalid JSON: $REPLY"
	[ "$st" = running ] || { echo "FAIL state: status $st after start"; "$LOAD_SM" --root "$LOAD_ROOT" delete --force "$id" >/dev/null 2>&1; exit 0; }
	step kill kill "$id" KILL
	for ((i = 0; i < LOAD_TIMEOUT * 10; i++)); do
		step state state "$id"
		[ "$(jq -r .status <<<"$REPLY")" = stopped ] && break
		sleep 0.1
	done
	step delete delete "$id"
	echo "ok $(bench_secs "$t0" 2)"
	exit 0
fi

bench_require "sm-runtime create needs it" "${1-}"
LOAD_SM=$BENCH_SM
n=${LOAD_N:-50} par=${LOAD_PAR:-8} mem=${LOAD_MEM_MIB:-128} ndup=${LOAD_DUP:-4}
export LOAD_TIMEOUT=${LOAD_TIMEOUT:-300} LOAD_SM

tmp=$(mktemp -d /tmp/sm-bench-load.XXXXXX)
export LOAD_ROOT=$tmp/root LOAD_BUNDLE=$tmp/bundle LOAD_CANARY=$tmp/canary
: >"$LOAD_CANARY"
# Container ids are unique on the host: sm-runtime's host cgroups (/sm-runtime/<id>) are not per --root.
pfx=load-$$-

# shellcheck disable=SC2317 # run by the EXIT trap (bench_traps)
cleanup() {
	local d
	trap - EXIT INT TERM
	for d in "$LOAD_ROOT"/*/; do
		[ -d "$d" ] || continue
		"$LOAD_SM" --root "$LOAD_ROOT" delete --force "$(basename "$d")" >/dev/null 2>&1 || true
	done
	rm -rf "$tmp"
}
bench_traps cleanup

bench_bundle "$LOAD_BUNDLE" "$mem" '.process.args = ["sleep", "infinity"]'
mkdir -p "$LOAD_ROOT"

# What a container can leave behind, one "kind count" line each (all must return to the baseline).
resources() {
	local fds cgs
	fds=$(find /proc/$$/fd -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	echo "caller-fds $fds"
	# Processes (other than this script) holding the canary fd every invocation was given.
	echo "inherited-fds $(find /proc/[0-9]*/fd -lname "$LOAD_CANARY" 2>/dev/null | grep -v -c "^/proc/$$/" || true)"
	echo "processes $(pgrep -c -f -- "$LOAD_ROOT|$pfx" || true)"
	echo "mounts $(grep -c -e "$tmp" -e "$pfx" /proc/self/mountinfo || true)"
	cgs=$(find /sys/fs/cgroup -maxdepth 4 -type d -name "$pfx*" 2>/dev/null | wc -l)
	echo "cgroups $cgs"
	echo "state-dirs $(find "$LOAD_ROOT" -mindepth 1 -maxdepth 1 | wc -l)"
	echo "sockets $( (find "$LOAD_ROOT" -type s 2>/dev/null; ss -xa 2>/dev/null | grep -F -e "$LOAD_ROOT" -e "$pfx") | wc -l)"
}
# Differences between two resources() outputs: "kind before->after" for each that changed.
leaks() {
	join "$1" "$2" | awk '$2 != $3 {printf "%s %s->%s; ", $1, $2, $3; bad++} END {exit bad > 0}'
}

echo "load.sh: $n containers (sleep infinity, ${mem} MiB guest), create+start+state+kill+delete each, $par in flight"
echo "load.sh: $(bench_host), load $(cut -d' ' -f1-3 /proc/loadavg); $("$LOAD_SM" --version | head -n1)"

# Warm-up: one container, so the template of this VM shape exists (its boot is not measured).
t0=${EPOCHREALTIME/./}
out=$("$self" --one "${pfx}warm")
echo "load.sh: warm-up container (boots the template if missing): $out, $(bench_secs "$t0") s"
resources | sort >"$tmp/res.before"

t0=${EPOCHREALTIME/./}
seq 1 "$n" | sed "s/^/$pfx/" | xargs -P "$par" -I{} sh -c '"$0" --one "$1" | sed "s|^|$1 |"' "$self" {} >"$tmp/results"
wall=$((${EPOCHREALTIME/./} - t0))
sleep 1
resources | sort >"$tmp/res.after"
ok=$(grep -c ' ok ' "$tmp/results" || true)
fail=$((n - ok))
echo
awk -v n="$n" -v ok="$ok" -v w="$wall" '
	$2 == "ok" {print $3}' "$tmp/results" | sort -g |
	awk -v n="$n" -v ok="$ok" -v w="$wall" '{a[NR] = $1}
		END {printf "containers: %d, succeeded %d, wall %.1f s, %.1f containers per minute; one sequence: median %.2f s, min %.2f, max %.2f\n",
			n, ok, w / 1e6, ok * 60e6 / w, (NR ? a[int((NR + 1) / 2)] : 0), (NR ? a[1] : 0), (NR ? a[NR] : 0)}'
echo "failures: $fail"
grep -v ' ok ' "$tmp/results" | head -n 10 | sed 's/^/  /' || true
rc=0
[ "$fail" = 0 ] || rc=1
if l=$(leaks "$tmp/res.before" "$tmp/res.after"); then
	echo "leaked resources: 0 (caller fds, processes, mounts, cgroups, state dirs, sockets: $(awk '{printf "%s%s=%s", (NR > 1 ? ", " : ""), $1, $2}' "$tmp/res.after"))"
else
	echo "leaked resources: $l"
	rc=1
fi

# One container, many commands at once.
echo
rid=${pfx}race
"$LOAD_SM" --root "$LOAD_ROOT" run --detach --bundle "$LOAD_BUNDLE" "$rid" </dev/null >/dev/null 2>"$tmp/race.err" ||
	{ echo "race: create failed: $(cat "$tmp/race.err")"; exit 1; }
: >"$tmp/race.bad"
(
	# state.json read in a loop while the commands run: every read must be complete JSON.
	reads=0
	while [ -d "$LOAD_ROOT/$rid" ]; do
		if s=$(cat "$LOAD_ROOT/$rid/state.json" 2>/dev/null) && [ -n "$s" ]; then
			jq -e . <<<"$s" >/dev/null 2>&1 || echo "state.json read $reads: not valid JSON: ${s:0:200}" >>"$tmp/race.bad"
			reads=$((reads + 1))
		fi
	done
	echo "$reads" >"$tmp/race.reads"
) &
reader=$!
cmds=(state state state state state state "kill $rid TERM" "kill $rid KILL" "kill $rid KILL" delete delete "delete --force"
	"delete --force" state state state state)
for i in "${!cmds[@]}"; do
	c=${cmds[$i]}
	read -r -a args <<<"$c"
	case $c in kill*) ;; *) args+=("$rid") ;; esac
	(
		set +e
		out=$(timeout -k 5 "$LOAD_TIMEOUT" "$LOAD_SM" --root "$LOAD_ROOT" "${args[@]}" </dev/null 2>&1)
		echo "$? ${args[*]}: $(echo "$out" | tr '\n' ' ')" >"$tmp/race.$i"
	) &
done
# shellcheck disable=SC2046 # one pid per word
wait $(jobs -p | grep -v "^$reader\$") 2>/dev/null || true
# Whatever the race left (a delete without --force loses against a running container): finish it.
"$LOAD_SM" --root "$LOAD_ROOT" delete --force "$rid" >/dev/null 2>&1 || true
wait "$reader" || true
nstate=0
for f in "$tmp"/race.[0-9]*; do
	read -r st rest <"$f"
	cmd=${rest%%:*} msg=${rest#*: }
	case "$st:$cmd" in
	0:state*)
		jq -e .status <<<"$msg" >/dev/null 2>&1 || echo "$cmd: output is not complete state JSON: ${msg:0:200}" >>"$tmp/race.bad"
		nstate=$((nstate + 1)) ;;
	0:*) ;;
	124:* | 137:*) echo "$cmd: timed out (lock never released?)" >>"$tmp/race.bad" ;;
	*)
		case $msg in
		*"does not exist"* | *"not stopped"* | *"not running"* | *"cannot kill"* | *"is stopped"* | *"no such process"*) ;;
		*) echo "$cmd (exit $st): unexpected error: ${msg:0:300}" >>"$tmp/race.bad" ;;
		esac ;;
	esac
done
[ ! -d "$LOAD_ROOT/$rid" ] || echo "the raced container's state directory is still there" >>"$tmp/race.bad"

# LOAD_DUP creates of one id at once: exactly one may win.
did=${pfx}dup
for ((i = 0; i < ndup; i++)); do
	(
		set +e
		# A file, not $(...): the winner's monitor keeps the container's stdio (pass-through).
		timeout -k 5 "$LOAD_TIMEOUT" "$LOAD_SM" --root "$LOAD_ROOT" create --bundle "$LOAD_BUNDLE" "$did" \
			</dev/null >"$tmp/dupout.$i" 2>&1
		echo "$? $(tr '\n' ' ' <"$tmp/dupout.$i")" >"$tmp/dup.$i"
	) &
done
wait
won=$(cat "$tmp"/dup.* | grep -c '^0 ' || true)
[ "$won" = 1 ] || echo "$ndup concurrent creates of one id: $won succeeded (want 1): $(cat "$tmp"/dup.* | tr '\n' ' ')" >>"$tmp/race.bad"
grep -v -e '^0 ' -e 'already exists' "$tmp"/dup.* | sed 's/^/duplicate create: unexpected error: /' >>"$tmp/race.bad" || true
st=$("$LOAD_SM" --root "$LOAD_ROOT" state "$did" 2>&1 | jq -r .status 2>/dev/null || true)
[ "$st" = created ] || echo "after the duplicate creates, state says \"$st\", want created" >>"$tmp/race.bad"
"$LOAD_SM" --root "$LOAD_ROOT" delete --force "$did" >/dev/null 2>&1 || echo "delete --force of the duplicate failed" >>"$tmp/race.bad"
sleep 1
resources | sort >"$tmp/res.race"
l=$(leaks "$tmp/res.before" "$tmp/res.race") || echo "after the races, leaked: $l" >>"$tmp/race.bad"

echo "same container, ${#cmds[@]} concurrent commands (state x10, kill x3, delete x2, delete --force x2), $(cat "$tmp/race.reads" 2>/dev/null || echo 0) state.json reads; $ndup concurrent creates of one id:"
for f in "$tmp"/race.[0-9]*; do sed 's/^/  exit /' "$f" | cut -c1-160; done
if [ -s "$tmp/race.bad" ]; then
	echo "race: FAILED:"
	sed 's/^/  /' "$tmp/race.bad"
	rc=1
else
	echo "race: ok ($nstate state outputs complete, every state.json read valid JSON, 1 of $ndup duplicate creates won, nothing left behind)"
fi
exit $rc
