#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the RESULTS.md table from run.sh's summary.tsv files, so that no figure is typed by hand.
#
#   merge-results.sh --runc RUNC_TSV LABEL=SM_TSV [LABEL=SM_TSV...]
#
# Each SM_TSV is a sm-runtime summary.tsv (<results>/sm-runtime/summary.tsv); when several
# measured one program, the last one given wins and its LABEL goes into the "run" column. Prints
# the table (every program of RUNC_TSV, plus any only sm-runtime ran) and, last, the summary line
# over the programs both runtimes ran.
set -euo pipefail

die() {
	echo "merge-results.sh: $*" >&2
	exit 2
}

runc_tsv=
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--runc)
		runc_tsv=${2:?--runc needs a file}
		shift 2
		;;
	*=*)
		args+=("$1")
		shift
		;;
	*) die "unexpected argument: $1 (see the header of this script)" ;;
	esac
done
[ -n "$runc_tsv" ] && [ -r "$runc_tsv" ] || die "no readable --runc summary.tsv"
[ ${#args[@]} -gt 0 ] || die "no sm-runtime summary.tsv given"

# One stream: "R<TAB>row" for runc, then "S<TAB>label<TAB>row" for each sm-runtime file in order.
{
	awk -F'\t' 'NR > 1 { print "R\t" $0 }' "$runc_tsv"
	for a in "${args[@]}"; do
		label=${a%%=*} file=${a#*=}
		[ -r "$file" ] || die "cannot read $file"
		awk -F'\t' -v l="$label" 'NR > 1 { print "S\t" l "\t" $0 }' "$file"
	done
} | awk -F'\t' '
	$1 == "R" { t = $2; if (!(t in seen)) { seen[t] = 1; order[++n] = t }
		rp[t] = $5; rf[t] = $6; rs[t] = $7; next }
	$1 == "S" { t = $3; if (!(t in seen)) { seen[t] = 1; order[++n] = t }
		sp[t] = $6; sf[t] = $7; ss[t] = $8; lab[t] = $2; note = $11
		gsub(/\|/, "\\|", note); if (length(note) > 160) note = substr(note, 1, 157) "...";
		nt[t] = note; next }
	END {
		print "| program | sm-runtime pass/fail/skip | run | runc pass/fail/skip | sm-runtime note |"
		print "|---|---|---|---|---|"
		for (i = 1; i <= n; i++) {
			t = order[i]
			s = (t in sp) ? sp[t] "/" sf[t] "/" ss[t] : "not run"
			r = (t in rp) ? rp[t] "/" rf[t] "/" rs[t] : "not run"
			printf "| %s | %s | %s | %s | %s |\n", t, s, (t in lab) ? lab[t] : "", r, nt[t]
			if ((t in sp) && (t in rp)) {
				both++; SP += sp[t]; SF += sf[t]; SS += ss[t]; RP += rp[t]; RF += rf[t]; RS += rs[t]
				if (sf[t] == 0) spass++
				if (rf[t] == 0) rpass++
			}
		}
		printf "\nOver the %d programs both ran: sm-runtime %d passed, %d failed, %d skipped " \
			"(%d programs without a failure); runc %d passed, %d failed, %d skipped (%d programs without a failure).\n",
			both, SP, SF, SS, spass, RP, RF, RS, rpass
	}'
