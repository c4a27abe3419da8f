#!/usr/bin/env bash
# Sum test results into one line: "N passed, N failed, N skipped". Arguments: build trees (their
# automake .trs results) and TAP logs (files, e.g. build-ci/engines.log: each "ok" passed, each
# "not ok" or "Bail out!" failed, each "1..0 # SKIP" a skipped suite). Missing ones are ignored.
# Exits non-zero when anything failed or errored.
pass=0 fail=0 skip=0
for arg in "$@"; do
	if [ -f "$arg" ]; then
		read -r p f s < <(awk '/^ok / { p++ } /^not ok / || /^Bail out!/ { f++ } /^1\.\.0 # SKIP/ { s++ }
			END { print p + 0, f + 0, s + 0 }' "$arg")
		pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
		continue
	fi
	[ -d "$arg" ] || continue
	while read -r res; do
		case $res in
		PASS | XFAIL) pass=$((pass + 1)) ;;
		SKIP) skip=$((skip + 1)) ;;
		*) fail=$((fail + 1)) ;;
		esac
	done < <(find "$arg" -name '*.trs' -exec sed -n 's/^:test-result: //p' {} + 2>/dev/null)
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
