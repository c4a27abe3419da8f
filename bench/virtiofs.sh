#!/usr/bin/env bash
# virtio-fs benchmark: in one run, boots one guest with a DAX window and one without, and in each
# measures sequential read of a large file (twice: cold, then cached) and stat/open/read of many
# small files. Prints the figures and the DAX/no-DAX ratios.
#
# Usage: bench/virtiofs.sh [-s BIG_MIB] [-f SMALL_FILES] [BUILDDIR]   (BUILDDIR default: ./build)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
big=128 files=1000
while getopts s:f: o; do
	case $o in
	s) big=$OPTARG ;;
	f) files=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
build=$(cd "${1:-$top/build}" && pwd)
sm=$build/sm-runtime
share=$(mktemp -d)
trap 'rm -rf "$share"' EXIT
dd if=/dev/urandom of="$share/big" bs=1M count="$big" status=none
mkdir "$share/small"
for i in $(seq 1 "$files"); do echo "file $i" >"$share/small/f$i"; done

# Timed with the guest's /proc/uptime (10 ms resolution) around each step.
guest='mkdir -p /mnt; mount -t virtiofs sm-root /mnt $OPTS
t0=$(cut -d" " -f1 /proc/uptime); dd if=/mnt/big of=/dev/null bs=1M 2>/dev/null; t1=$(cut -d" " -f1 /proc/uptime)
dd if=/mnt/big of=/dev/null bs=1M 2>/dev/null; t2=$(cut -d" " -f1 /proc/uptime)
ls -l /mnt/small >/dev/null; t3=$(cut -d" " -f1 /proc/uptime)
cat /mnt/small/* >/dev/null; t4=$(cut -d" " -f1 /proc/uptime)
echo "RESULT cold_read_s=$(awk "BEGIN{print $t1-$t0}") warm_read_s=$(awk "BEGIN{print $t2-$t1}") stat_s=$(awk "BEGIN{print $t3-$t2}") open_read_s=$(awk "BEGIN{print $t4-$t3}")"'

declare -A res
for mode in dax nodax; do
	if [ $mode = dax ]; then args=(--dax 256); opts='-o dax=always'; else args=(); opts=''; fi
	out=$("$sm" vm-run --mem 256 --share "$share" "${args[@]}" --cmdline "OPTS='$opts'; $guest" 2>&1) || {
		echo "$out" >&2; echo "virtiofs.sh: $mode run failed" >&2; exit 1; }
	line=$(grep '^RESULT' <<<"$out")
	for kv in ${line#RESULT }; do res[$mode.${kv%%=*}]=${kv#*=}; done
done
printf '%-28s %12s %12s %10s\n' "guest measure (${big} MiB, ${files} files)" dax nodax "nodax/dax"
for k in cold_read_s warm_read_s stat_s open_read_s; do
	d=${res[dax.$k]} n=${res[nodax.$k]}
	printf '%-28s %12s %12s %10s\n' "$k" "$d" "$n" "$(awk -v a="$n" -v b="$d" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}')"
done
for mode in dax nodax; do
	c=${res[$mode.cold_read_s]} w=${res[$mode.warm_read_s]}
	echo "$mode: sequential read $(awk -v m="$big" -v s="$c" 'BEGIN {printf "%.1f", m / s}') MiB/s cold, $(awk -v m="$big" -v s="$w" 'BEGIN {printf "%.1f", m / s}') MiB/s cached"
done
