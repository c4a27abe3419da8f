#!/usr/bin/env bash
# Run the opencontainers runtime-tools validation suite against one or more OCI runtimes.
#
#   tests/conformance/run.sh [RUNTIME...]          (as root; `make conformance` calls it)
#
# The suite is built from Debian's packages only: the runtime-tools *source* package (fetched
# with a private apt configuration, /etc/apt untouched), Debian's Go in GOPATH mode, and
# tests/conformance/tap-go in place of github.com/mndrix/tap-go. The build is cached under
# $CONFORMANCE_CACHE/<hash of its inputs>/.
#
# Environment:
#   RUNTIME                    runtime to test (overrides the arguments; default: the arguments)
#   CONFORMANCE_RUNTIME_ARGS   global flags put before every runtime command, e.g. "--root=/run/x"
#   CONFORMANCE_TESTS          programs to run, space separated (default: all)
#   CONFORMANCE_TIMEOUT        seconds per program (default 1800: each VM boot takes ~a minute here)
#   CONFORMANCE_RESULTS        results folder (default ./conformance-results); one subfolder per runtime
#   CONFORMANCE_EXPECTED       known failures (default tests/conformance/expected.txt)
#   CONFORMANCE_CI=1           exit 1 on failures expected.txt does not list (regressions);
#                              without it the exit status is 0 once the suite ran (2: harness error)
#   CONFORMANCE_CACHE          build cache (default /var/cache/sm-runtime/conformance)
#   CONFORMANCE_MIRROR         Debian mirror for the source package (default: the one apt uses)
#   CONFORMANCE_SRC_VERSION    runtime-tools source version (default 0.9.0.109.ge931285-1, trixie)
#   CONFORMANCE_BUILD_ONLY=1   build (or find in the cache) and print the build folder; run nothing
#
# Output: per program, <results>/<runtime>/<program>.tap (stdout) and .err (stderr); summary.tsv
# and results.md; one line per program, then "N passed, M failed, K skipped" per runtime.
# Counting: TAP result lines; a program with no result line counts 1 failed if it exited non-zero,
# timed out or reported an "error:", else 1 passed; a program with results that exits non-zero
# adds 1 failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${CONFORMANCE_CACHE:-/var/cache/sm-runtime/conformance}
TIMEOUT=${CONFORMANCE_TIMEOUT:-1800}
RESULTS=${CONFORMANCE_RESULTS:-$PWD/conformance-results}
EXPECTED=${CONFORMANCE_EXPECTED:-$here/expected.txt}
SRC_PKG=golang-github-opencontainers-runtime-tools
SRC_VERSION=${CONFORMANCE_SRC_VERSION:-0.9.0.109.ge931285-1}
GO_PKG=github.com/opencontainers/runtime-tools
# Bump when the build steps below change, so the cache key changes with them.
RECIPE=2
PACKAGES=(golang-go golang-github-opencontainers-runtime-tools-dev golang-github-google-uuid-dev
	golang-github-mrunalp-fileutils-dev golang-github-urfave-cli-dev golang-gopkg-yaml.v2-dev
	golang-github-opencontainers-specs-dev dpkg-dev xz-utils util-linux coreutils procps)

log() { printf 'conformance: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[ "$(id -u)" -eq 0 ] || die "run as root (the suite creates containers, the build installs packages)"

ensure_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	apt-get update -qq || return 1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Debian mirror this machine's apt already uses (not the security archive).
debian_mirror() {
	if [ -n "${CONFORMANCE_MIRROR:-}" ]; then
		echo "$CONFORMANCE_MIRROR"
		return
	fi
	apt-cache policy 2>/dev/null | awk '$2 ~ /^https?:\/\// && $3 ~ /\/main$/ && $3 !~ /security/ \
		&& $0 ~ /Packages/ { print $2; exit }'
}

# Download the source package's tarballs into $CACHE/src with apt's own verification
# (the signed Sources index carries their checksums), using a private apt configuration.
fetch_source() {
	local src=$CACHE/src apt=$CACHE/apt mirror
	if compgen -G "$src/${SRC_PKG}_${SRC_VERSION%-*}.orig.tar.*" >/dev/null &&
		compgen -G "$src/${SRC_PKG}_${SRC_VERSION}.debian.tar.*" >/dev/null; then
		return 0
	fi
	mirror=$(debian_mirror)
	[ -n "$mirror" ] || die "cannot tell which Debian mirror apt uses; set CONFORMANCE_MIRROR"
	mkdir -p "$apt"/{sources.list.d,preferences.d,lists/partial,archives/partial} "$src"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
		>"$apt/sources.list"
	local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
		-o "Dir::Etc::Preferences=$apt/preferences" -o "Dir::Etc::PreferencesParts=$apt/preferences.d"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::archives=$apt/archives"
		-o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root")
	log "fetching $SRC_PKG $SRC_VERSION source from $mirror (trixie)"
	apt-get "${opts[@]}" -qq update || die "apt-get update with the private source list failed"
	# The mirror may not serve the .dsc (only the tarballs); the tarballs are what we build.
	(cd "$src" && apt-get "${opts[@]}" -qq source --download-only "$SRC_PKG=$SRC_VERSION" >/dev/null 2>&1)
	compgen -G "$src/${SRC_PKG}_${SRC_VERSION%-*}.orig.tar.*" >/dev/null ||
		die "could not download the $SRC_PKG $SRC_VERSION source tarball from $mirror"
}

input_hash() {
	{
		echo "recipe $RECIPE $SRC_VERSION"
		sha256sum "$CACHE/src/${SRC_PKG}_${SRC_VERSION%-*}".orig.tar.* | cut -d' ' -f1
		sha256sum "$here/tap-go/"*.go | cut -d' ' -f1
		dpkg-query -W "${PACKAGES[@]:0:7}" 2>/dev/null
		/usr/lib/go/bin/go version 2>/dev/null || go version
	} | sha256sum | cut -c1-16
}

# Build the validation programs and a static runtimetest into $1 (atomically: build aside, rename).
build_suite() {
	local out=$1 tmp gopath tree
	tmp=$(mktemp -d "$CACHE/build.XXXXXX") || return 1
	gopath=$tmp/gopath
	tree=$gopath/src/$GO_PKG
	mkdir -p "$tree" "$gopath/src/github.com/mndrix/tap-go" "$tmp/out/bin"
	tar -xf "$CACHE/src/${SRC_PKG}_${SRC_VERSION%-*}".orig.tar.* -C "$tree" --strip-components=1 || return 1
	cp "$here/tap-go/"*.go "$gopath/src/github.com/mndrix/tap-go/"
	# The suite's waits for a status (3-10 s) are fixed. Where guest kernel code is emulated
	# (kvm_pvm, see ../shared/notes) a container's process runs far slower than on hardware KVM,
	# so WaitingForStatus scales its timeout by $CONFORMANCE_TIME_SCALE at run time; unset or 1
	# leaves the suite exactly as shipped (runc's column always runs with 1).
	sed -i 's|^\tfor start := time.Now(); time.Since(start) < retryTimeout; time.Sleep(pollInterval) {|\tif s, err := strconv.Atoi(os.Getenv("CONFORMANCE_TIME_SCALE")); err == nil \&\& s > 1 {\n\t\tretryTimeout *= time.Duration(s)\n\t}\n&|; s|^\t"strings"$|\t"strconv"\n&|' "$tree/validation/util/test.go"
	grep -q CONFORMANCE_TIME_SCALE "$tree/validation/util/test.go" || { log "time-scale patch did not apply"; return 1; }
	log "building the suite (GOPATH mode, Debian's Go)"
	(
		cd "$tree" &&
			export GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$tmp/gocache" \
				GOFLAGS='' GOPROXY=off PATH="/usr/lib/go/bin:$PATH" &&
			go build -o "$tmp/out/bin/" ./validation/... &&
			CGO_ENABLED=0 go build -tags 'netgo osusergo' -o "$tmp/out/runtimetest" ./cmd/runtimetest
	) >"$tmp/build.log" 2>&1 || {
		tail -n 30 "$tmp/build.log" >&2
		return 1
	}
	if ! file "$tmp/out/runtimetest" 2>/dev/null | grep -q 'statically linked' &&
		ldd "$tmp/out/runtimetest" >/dev/null 2>&1; then
		log "runtimetest is not static"
		return 1
	fi
	cp "$tree/rootfs-$(dpkg --print-architecture).tar.gz" "$tmp/out/" || return 1
	cp "$tmp/build.log" "$tmp/out/"
	touch "$tmp/out/.complete"
	rm -rf "$out"
	mv "$tmp/out" "$out" && rm -rf "$tmp"
}

ensure_suite() {
	mkdir -p "$CACHE" || die "cannot create $CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	ensure_packages || die "installing the build packages failed"
	fetch_source
	SUITE=$CACHE/$(input_hash)
	if [ ! -f "$SUITE/.complete" ]; then
		build_suite "$SUITE" || die "building the suite failed"
	fi
	flock -u 9
	exec 9>&-
	if [ ! -f "$SUITE/runtimetest" ] || [ ! -d "$SUITE/bin" ]; then
		die "incomplete suite in $SUITE"
	fi
}

# Mount points at or below $1, deepest first (octal escapes from mountinfo decoded).
mounts_under() {
	local dir=$1
	awk -v d="$dir" '{ m = $5; gsub(/\\040/, " ", m); gsub(/\\011/, "\t", m); gsub(/\\134/, "\\", m);
		if (m == d || index(m, d "/") == 1) print length(m) "\t" m }' /proc/self/mountinfo |
		sort -rn | cut -f2-
}

# Unmount whatever a program left under its scratch folder, then remove the folder, never
# crossing into a mount that is still there.
clean_scratch() {
	local dir=$1 m n=0 _
	for _ in 1 2 3; do
		while IFS= read -r m; do
			[ -n "$m" ] || continue
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
			n=$((n + 1))
		done < <(mounts_under "$dir")
	done
	if [ -n "$(mounts_under "$dir")" ]; then
		log "mounts remain under $dir; not removing it"
		echo "-1"
		return
	fi
	rm -rf --one-file-system "$dir"
	echo "$n"
}

# Ids of the suite's containers the runtime lists (the suite names them with UUIDs; containers
# others run under the same --root keep their other names and are never touched).
container_ids() {
	"$WRAPPER" list --format json 2>/dev/null | grep -o '"id": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' |
		grep -E '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' | sort
}

# Kill processes still in session $1 (the program's own session), by pid.
kill_session() {
	local sid=$1 pids
	pids=$(ps -eo pid=,sid= | awk -v s="$sid" '$2 == s && $1 != s { print $1 }')
	[ -n "$pids" ] || return 1
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	return 0
}

# count FILE -> "pass fail skip todo" of its top-level TAP result lines
count_tap() {
	awk 'BEGIN { p = f = s = t = 0 }
		/^(not )?ok([ \t]|$)/ {
			if ($0 ~ /# *[Tt][Oo][Dd][Oo]/) t++
			else if ($0 ~ /^ok/ && $0 ~ /# *[Ss][Kk][Ii][Pp]/) s++
			else if ($0 ~ /^ok/) p++
			else f++
		}
		END { print p, f, s, t }' "$1"
}

# The numbers of the failed results in FILE, one a line.
failed_numbers() {
	awk '/^not ok / && $0 !~ /# *[Tt][Oo][Dd][Oo]/ { print $3 }' "$1"
}

# is_expected RUNTIME PROGRAM WHAT: does expected.txt list this failure? WHAT is a result number
# or "exit" (the program's own failure). Lines: RUNTIME PROGRAM SELECTOR REASON...; RUNTIME may be
# "*"; SELECTOR is "*" (any failure of the program), a result number, or "exit".
is_expected() {
	[ -f "$EXPECTED" ] || return 1
	awk -v r="$1" -v p="$2" -v w="$3" '
		/^[ \t]*(#|$)/ { next }
		($1 == r || $1 == "*") && $2 == p && ($3 == "*" || $3 == w) { found = 1 }
		END { exit !found }' "$EXPECTED"
}

# The first top-level "error:" of a YAML block in a TAP file, on one line.
yaml_error() {
	awk '/^  error: / { v = substr($0, 10);
			if (v ~ /^[|>]/) { getline; sub(/^ +/, ""); v = $0 }
			gsub(/^"|"$/, "", v); print substr(v, 1, 160); exit }' "$1"
}

# The most telling line of a program's stderr: the last one that is not Go's "exit status N",
# with a logrus-style msg="..." reduced to the message.
last_error() {
	grep -v -E '^((exit status [0-9]+)|(Refer to: .*))?$' "$1" | tail -n1 |
		sed -E 's/.*msg="(([^"\\]|\\.)*)".*/\1/' | cut -c1-160
}

# CONFORMANCE_TIME_SCALE for the runtime under test: sm-runtime on a kvm_pvm host gets 12 unless
# set; other runtimes (runc, crun) never get scaled waits.
# `kill` and `delete` use a 10 s wait as a pause that must end while their `sleep 30` container
# still runs ("the 'runningConfig' testcase sleeps 30 seconds, so 10 seconds are enough"); scaled
# past 30 s the wait outlasts the sleep and the check flips (the container is stopped by then).
# Those two get at most SHORT_SLEEP_SCALE (20 s < 30 s).
SHORT_SLEEP_SCALE=2
time_scale() { # time_scale PROGRAM
	local s=1
	case "$(basename "${CURRENT_RUNTIME:-}")" in
	sm-runtime*) [ -d /sys/module/kvm_pvm ] && s=${CONFORMANCE_TIME_SCALE:-12} || s=${CONFORMANCE_TIME_SCALE:-1} ;;
	esac
	case "$1" in
	kill | delete) [ "$s" -gt "$SHORT_SLEEP_SCALE" ] 2>/dev/null && s=$SHORT_SLEEP_SCALE ;;
	esac
	echo "$s"
}

run_program() { # run_program NAME OUTDIR -> prints "pass fail skip todo rc secs note"
	local name=$1 out=$2 scratch rc t0 t1 p f s t note="" before after id left
	scratch=$out/scratch/$name
	mkdir -p "$scratch"
	before=$(container_ids)
	t0=$(date +%s.%N)
	# setsid: the program and everything it leaves behind share one session we can find later.
	(cd "$SUITE" && exec env RUNTIME="$WRAPPER" TMPDIR="$scratch" CONFORMANCE_TIME_SCALE="$(time_scale "$name")" \
		setsid timeout -k 15 "$TIMEOUT" "$SUITE/bin/$name") >"$out/$name.tap" 2>"$out/$name.err" &
	local pid=$!
	wait "$pid"
	rc=$?
	t1=$(date +%s.%N)
	[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && note="timed out after ${TIMEOUT}s;"
	# Leftovers: containers, then processes of the program's session, then mounts and bundles.
	after=$(container_ids)
	for id in $(comm -13 <(echo "$before") <(echo "$after")); do
		"$WRAPPER" delete --force "$id" >/dev/null 2>&1 && note="$note deleted leftover container;"
	done
	local sid
	sid=$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')
	kill_session "${sid:-$pid}" && note="$note killed leftover processes;"
	left=$(clean_scratch "$scratch")
	[ "$left" = -1 ] && note="$note MOUNTS LEFT under $scratch;"
	[ "$left" -gt 0 ] 2>/dev/null && note="$note unmounted $left leftover mounts;"
	read -r p f s t < <(count_tap "$out/$name.tap")
	if [ $((p + f + s + t)) -eq 0 ]; then
		local err
		err=$(yaml_error "$out/$name.tap")
		if [ "$rc" -ne 0 ] || [ -n "$err" ]; then
			f=1
			[ -n "$err" ] && note="no result; error: $err; $note" ||
				note="no result; exit $rc: $(last_error "$out/$name.err"); $note"
		else
			p=1
			note="no result line, exit 0; $note"
		fi
	elif [ "$rc" -ne 0 ]; then
		f=$((f + 1))
		note="exit $rc: $(last_error "$out/$name.err"); $note"
	fi
	note=$(printf '%s' "$note" | sed -E 's/^[; ]+//; s/[; ]+$//')
	printf '%s %s %s %s %s %.1f %s\n' "$p" "$f" "$s" "$t" "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$note"
}

# Sets WRAPPER: an executable that runs the runtime with the global flags.
make_wrapper() {
	local runtime=$1 out=$2 arg
	WRAPPER=$out/runtime
	{
		echo '#!/bin/bash'
		printf 'exec %q' "$runtime"
		# shellcheck disable=SC2086
		for arg in ${CONFORMANCE_RUNTIME_ARGS:-}; do printf ' %q' "$arg"; done
		echo ' "$@"'
	} >"$WRAPPER"
	chmod +x "$WRAPPER"
}

run_runtime() { # run_runtime RUNTIME -> summary line on the last line of $out/summary.txt
	local runtime=$1 rname out prog p f s t rc secs note
	local tp=0 tf=0 ts=0 tt=0 regress=0 n
	command -v "$runtime" >/dev/null || die "runtime not found: $runtime"
	runtime=$(command -v "$runtime")
	case "$runtime" in /*) ;; *) runtime=$PWD/$runtime ;; esac
	rname=$(basename "$runtime")
	out=$RESULTS/$rname
	mkdir -p "$out" || die "cannot create $out"
	make_wrapper "$runtime" "$out"
	CURRENT_RUNTIME=$runtime
	log "running ${#PROGRAMS[@]} programs against $runtime ${CONFORMANCE_RUNTIME_ARGS:-} (results in $out)"
	printf 'test\trc\tseconds\tpass\tfail\tskip\ttodo\tregressions\tnote\n' >"$out/summary.tsv"
	for prog in "${PROGRAMS[@]}"; do
		[ -x "$SUITE/bin/$prog" ] || die "no such test program: $prog"
		read -r p f s t rc secs note < <(run_program "$prog" "$out")
		# Regressions: failures expected.txt does not list.
		n=0
		if [ "$f" -gt 0 ]; then
			local nums num
			nums=$(failed_numbers "$out/$prog.tap")
			[ "$f" -gt "$(echo "$nums" | grep -c .)" ] && nums="$nums exit"
			for num in $nums; do
				is_expected "$rname" "$prog" "$num" || n=$((n + 1))
			done
		fi
		regress=$((regress + n))
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$prog" "$rc" "$secs" "$p" "$f" "$s" "$t" "$n" \
			"$note" >>"$out/summary.tsv"
		printf '%-32s %4d passed %3d failed %3d skipped%s %5.1fs%s%s\n' "$prog" "$p" "$f" "$s" \
			"$([ "$t" -gt 0 ] && echo " $t todo")" "$secs" "$([ "$n" -gt 0 ] && echo " REGRESSION($n)")" \
			"${note:+  ($note)}"
		tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + s)) tt=$((tt + t))
	done
	rmdir "$out/scratch" 2>/dev/null
	write_markdown "$out" "$runtime"
	TOTALS+=("$rname: $tp passed, $tf failed, $ts skipped ($regress unexpected failures)")
	[ -n "$FIRST_LINE" ] || FIRST_LINE="$tp passed, $tf failed, $ts skipped"
	RESULT_DIRS+=("$out")
	REGRESSIONS=$((REGRESSIONS + regress))
}

write_markdown() { # a results table (test, pass/fail/skip, reason) next to summary.tsv
	local out=$1 runtime=$2
	{
		echo "# runtime-tools validation: $(basename "$runtime")"
		echo
		echo "\`$runtime ${CONFORMANCE_RUNTIME_ARGS:-}\`, $(date -u '+%Y-%m-%d %H:%M UTC'), suite $SRC_PKG $SRC_VERSION."
		echo
		echo "| test | passed | failed | skipped | result | note |"
		echo "|---|---:|---:|---:|---|---|"
		awk -F'\t' 'NR > 1 { r = ($5 > 0) ? "fail" : (($4 == 0 && $6 > 0) ? "skip" : "pass");
			if ($8 > 0) r = r " (regression)"; n = $9; gsub(/\|/, "\\|", n);
			printf "| %s | %s | %s | %s | %s | %s |\n", $1, $4, $5, $6, r, n }' "$out/summary.tsv"
	} >"$out/results.md"
}

# Per program, the counts of every runtime side by side (stdout and <results>/comparison.md).
compare_runtimes() {
	local d
	{
		printf '| test |'
		for d in "$@"; do printf ' %s passed / failed / skipped |' "$(basename "$d")"; done
		printf '\n|---|'
		for d in "$@"; do printf -- '---|'; done
		printf '\n'
		# shellcheck disable=SC2016
		awk -F'\t' 'FNR == 1 { nf++; next }
			!($1 in seen) { seen[$1] = 1; order[++n] = $1 }
			{ cell[$1, nf] = $4 " / " $5 " / " $6 }
			END { for (i = 1; i <= n; i++) { t = order[i]; printf "| %s |", t;
				for (j = 1; j <= nf; j++) printf " %s |", ((t, j) in cell) ? cell[t, j] : "-";
				printf "\n" } }' "${@/%//summary.tsv}"
	} >"$RESULTS/comparison.md"
	cat "$RESULTS/comparison.md"
}

main() {
	local runtimes=("$@")
	[ -n "${RUNTIME:-}" ] && runtimes=("$RUNTIME")
	ensure_suite
	if [ "${CONFORMANCE_BUILD_ONLY:-0}" = 1 ]; then
		echo "$SUITE"
		return 0
	fi
	[ ${#runtimes[@]} -gt 0 ] || die "no runtime given (argument or RUNTIME=...)"
	if [ -n "${CONFORMANCE_TESTS:-}" ]; then
		read -r -a PROGRAMS <<<"$CONFORMANCE_TESTS"
	else
		mapfile -t PROGRAMS < <(ls "$SUITE/bin")
	fi
	TOTALS=() RESULT_DIRS=() REGRESSIONS=0 FIRST_LINE=
	local r
	for r in "${runtimes[@]}"; do
		run_runtime "$r"
	done
	if [ ${#runtimes[@]} -gt 1 ]; then
		compare_runtimes "${RESULT_DIRS[@]}"
		printf '%s\n' "${TOTALS[@]}"
	else
		log "${TOTALS[0]}"
	fi
	echo "$FIRST_LINE"
	# A report by default; with CONFORMANCE_CI=1, failures expected.txt does not explain fail it.
	if [ "${CONFORMANCE_CI:-0}" = 1 ]; then
		[ "$REGRESSIONS" -eq 0 ]
	fi
}

main "$@"
