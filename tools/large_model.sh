#!/usr/bin/env bash
# A large model for the limits of mpqx: d_model 128, 4 encoder layers, 4 heads, FFN 512, window 96, trained
# briefly (by tools/mpqx_torch.py, default 1 epoch) on a real sample's CSV, then measured: load,
# float evaluation, integer evaluation and (when the subcommand exists) the estimate, each with its wall
# time and peak memory from /usr/bin/time -v.
#
#   tools/large_model.sh [-c CSV] [-o OUT] [-e EPOCHS] [-m MEMORY_LIMIT_MB] [-n]
#
# -c  the CSV (default samples/seattle-hourly/data.csv: pressure, temperature, wind; the target is
#     temperature). Another sample's CSV needs -C COLUMNS -t TARGET.
# -o  output sample directory (default build-large/seattle-hourly-large); an existing model.json is reused
# -m  address-space limit for each mpqx run (ulimit -v, default 16000 MB), so a run that needs more fails
#     with "out of memory" instead of starving the machine
# -n  generate only, do not measure
# -s  STEPS: only these measurements (comma-separated: load,float,integer,estimate; default all)
# Prints one line per measurement: STEP  wall_s  peak_MB  status  (the command behind it).
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
csv=$src/samples/seattle-hourly/data.csv
out=$src/build-large/seattle-hourly-large
epochs=1
mem_mb=16000
columns=pressure,temperature,wind
target=temperature
measure=1
steps=load,float,integer,estimate
while getopts "c:o:e:m:C:t:s:nh" o; do
	case $o in
	c) csv=$OPTARG ;;
	o) out=$OPTARG ;;
	e) epochs=$OPTARG ;;
	m) mem_mb=$OPTARG ;;
	C) columns=$OPTARG ;;
	t) target=$OPTARG ;;
	n) measure=0 ;;
	s) steps=$OPTARG ;;
	*) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
mpqx=${MPQX:-$src/build/src/cli/mpqx}

if [ ! -f "$out/model.json" ]; then
	[ -f "$csv" ] || { echo "large_model.sh: no CSV $csv (give one with -c)" >&2; exit 2; }
	mkdir -p "$out"
	echo "training d_model 128, 4 layers, 4 heads, window 96 for $epochs epoch(s) on $csv" >&2
	/usr/bin/python3 "$src/tools/mpqx_torch.py" train --csv "$csv" --out "$out" --name "$(basename "$out")" \
		--columns "$columns" --target "$target" --window 96 --horizon 1 --d-model 128 --heads 4 \
		--ffn 512 --layers 4 --epochs "$epochs" --patience "$epochs" --seed 1 >&2 || exit 1
fi
[ "$measure" = 1 ] || exit 0
[ -x "$mpqx" ] || { echo "large_model.sh: build mpqx first ($mpqx), or set MPQX" >&2; exit 2; }

# run STEP EXPECTED_STATUS ARGS...: one measured mpqx run
run() {
	local step=$1 want=$2
	shift 2
	[[ ",$steps," == *",$step,"* ]] || return 0
	local log
	log=$(mktemp)
	(ulimit -v $((mem_mb * 1024)); /usr/bin/time -v "$mpqx" "$@" >"$log.out" 2>"$log") 
	local st=$?
	local wall rss cpu
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
	cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$log")
	printf '%-10s %8.2f s wall %8.2f s CPU %8.0f MB peak  status %d  (mpqx %s)\n' "$step" "${wall:-0}" "${cpu:-0}" \
		"$(( ${rss:-0} / 1024 ))" "$st" "$*"
	if [ "$st" -ne "$want" ]; then
		grep -v -E '^\s+[A-Z].*: ' "$log" | grep -v "Command being timed" | head -5 | sed 's/^/    /'
	fi
	rm -f "$log" "$log.out"
}

echo "model: $(grep -c '"op"' "$out/model.json") layers, $(du -h "$out/model.json" | cut -f1) JSON; limit $mem_mb MB"
# load only: the model and its CSV are read and checked, then the missing config stops the run
run load 1 eval "$out" -c /nonexistent-config.json
run float 0 eval "$out" --float --json
run integer 0 eval "$out" --json
if "$mpqx" --help 2>&1 | grep -q "estimate MODEL"; then
	run estimate 0 estimate "$out" --json
fi
