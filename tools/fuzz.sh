#!/usr/bin/env bash
# Builds the fuzz harnesses of tests/fuzz with libFuzzer (clang -fsanitize=fuzzer,address,undefined) and
# runs each for a fixed time, one after the other, at low priority.
#
#   tools/fuzz.sh [-t SECONDS] [-b BUILD_DIR] [HARNESS...]
#
# -t  seconds per harness (default 120); -b  build and work directory (default build-fuzz in the
# source tree). HARNESS: model config csv theme tmpl device (default: all present). The corpus a run
# grows is kept in BUILD_DIR/corpus/NAME (not in git); the seeds are tests/fuzz/corpus/NAME, the crash
# regressions tests/fuzz/regress/NAME and, per harness, the bad-input corpus or the shipped files.
# A crash leaves BUILD_DIR/crashes/NAME-crash-*; copy it into tests/fuzz/regress/NAME once fixed, so that
# the normal suite (test fuzz-NAME) replays it for ever. Prints one line per harness:
#   NAME: N execs in S s (E/s), corpus C inputs, crashes K
# and exits 1 when any harness crashed.
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
secs=120
bdir=$src/build-fuzz
while getopts "t:b:h" o; do
	case $o in
	t) secs=$OPTARG ;;
	b) bdir=$OPTARG ;;
	*) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

command -v clang >/dev/null || { echo "fuzz.sh: clang is missing (tools/deps.sh installs it)" >&2; exit 2; }

# the core library with coverage instrumentation and the sanitizers
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
if [ ! -f "$bdir/build.ninja" ]; then
	CC=clang meson setup "$bdir" "$src" -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" -Dbuildtype=debugoptimized \
		>"$bdir.setup.log" 2>&1 || { cat "$bdir.setup.log"; exit 2; }
fi
nice ninja -C "$bdir" -j2 src/core/libmpqx.a >/dev/null || exit 2
libs=$(pkg-config --libs libcjson inih)

declare -A extra=(
	[model]="$src/tests/bad/model"
	[config]="$src/tests/bad/config"
	[csv]="$src/tests/bad/csv"
	[theme]="$src/themes $src/tests/bad/theme"
	[tmpl]="$src/hdl_templates $src/tests/bad/tmpl"
	[device]="$src/devices $src/tests/bad/device"
	[cost]="$src/devices $src/tests/bad/cost"
)
declare -A dict=([model]=json [config]=json [theme]=ini [device]=ini [cost]=ini [tmpl]=tmpl)
declare -A maxlen=([model]=16384 [config]=4096 [csv]=8192 [theme]=4096 [tmpl]=16384 [device]=4096 [cost]=8192)

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in "$src"/tests/fuzz/fuzz_*.c; do
		n=$(basename "$f" .c)
		names+=("${n#fuzz_}")
	done
fi

mkdir -p "$bdir/corpus" "$bdir/crashes" "$bdir/logs"
status=0
for name in "${names[@]}"; do
	h=$src/tests/fuzz/fuzz_$name.c
	[ -f "$h" ] || { echo "fuzz.sh: no harness $h" >&2; exit 2; }
	exe=$bdir/fuzz-$name
	nice clang -g -O1 -fsanitize=fuzzer $san -I"$src/include" -I"$bdir" -DFUZZ_SRC_DIR="\"$src\"" \
		"$h" "$bdir/src/core/libmpqx.a" $libs -lm -lpthread -o "$exe" || exit 2
	mkdir -p "$bdir/corpus/$name"
	seeds=("$src/tests/fuzz/corpus/$name")
	[ -d "$src/tests/fuzz/regress/$name" ] && seeds+=("$src/tests/fuzz/regress/$name")
	for d in ${extra[$name]:-}; do [ -d "$d" ] && seeds+=("$d"); done
	opts=(-max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len="${maxlen[$name]:-8192}"
	      -print_final_stats=1 -artifact_prefix="$bdir/crashes/$name-")
	[ -n "${dict[$name]:-}" ] && opts+=(-dict="$src/tests/fuzz/dict.${dict[$name]}")
	log=$bdir/logs/$name.log
	before=$(ls "$bdir/crashes" | grep -c "^$name-" || true)
	start=$(date +%s)
	(cd "$bdir" && ASAN_OPTIONS=detect_leaks=1 nice -n 15 "$exe" "${opts[@]}" "$bdir/corpus/$name" "${seeds[@]}") >"$log" 2>&1
	rc=$?
	end=$(date +%s)
	after=$(ls "$bdir/crashes" | grep -c "^$name-" || true)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	corpus=$(ls "$bdir/corpus/$name" | wc -l)
	el=$((end - start))
	crashes=$((after - before))
	printf '%s: %s execs in %s s (%s/s), corpus %s inputs, crashes %s\n' "$name" "${execs:-?}" "$el" \
		"$(( ${execs:-0} / (el > 0 ? el : 1) ))" "$corpus" "$crashes"
	if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
		status=1
		grep -E "ERROR|SUMMARY|runtime error|abort|Test unit written" "$log" | head -8 | sed 's/^/  /'
	fi
done
exit $status
