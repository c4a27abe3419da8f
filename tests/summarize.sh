#!/usr/bin/env bash
# Sum the automake .trs results of the given build trees into one line: "N passed, N failed, N skipped".
# Exits non-zero when anything failed or errored.
pass=0 fail=0 skip=0
for dir in "$@"; do
	[ -d "$dir" ] || continue
	while read -r res; do
		case $res in
		PASS | XFAIL) pass=$((pass + 1)) ;;
		SKIP) skip=$((skip + 1)) ;;
		*) fail=$((fail + 1)) ;;
		esac
	done < <(find "$dir" -name '*.trs' -exec sed -n 's/^:test-result: //p' {} + 2>/dev/null)
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
