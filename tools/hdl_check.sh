#!/usr/bin/env bash
# The full hardware check of doc/hardware.md: for every sample, uniform 8, 6 and 4 bits and N random
# mixed configs (bits 2..16 per layer, random storage, multipliers and weight granularity), export, lint
# with Verilator, simulate W windows (Icarus by default) and require mismatches=0, every buffer equal to the integer model and the simulated
# cycles equal to the latency formula. One line per run, a summary at the end; exit 1 on any failure.
#
#   tools/hdl_check.sh [-b BUILD] [-n MIXED] [-w WINDOWS|all] [-s SEED] [-o WORKDIR] [--simulator S]
#                      [--synth] [--channel] [MODEL_DIR...]
#
# MODEL_DIR defaults to every samples/*/ with a model.json. --simulator verilator runs the same testbench
# in Verilator 5 (about 40 ms per window of seattle-hourly against about 3 s in Icarus, after a build of
# about 20 s CPU): `-w all --simulator verilator` checks every test window. --synth also runs Yosys
# synth_xilinx on the first model's uniform 8-bit export and prints its cell counts. --channel adds
# uniform 8, 6 and 4 bits with every layer's weights per channel (w_granularity "channel").
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MPQX_BUILD_DIR:-$root/build}
mixed=5
windows=32
seed=1
work=""
synth=0
channel=0
simulator=icarus
models=()
while (($#)); do
	case $1 in
	-b) build=$2; shift 2 ;;
	-n) mixed=$2; shift 2 ;;
	-w) windows=$2; shift 2 ;;
	-s) seed=$2; shift 2 ;;
	-o) work=$2; shift 2 ;;
	--simulator) simulator=$2; shift 2 ;;
	--synth) synth=1; shift ;;
	--channel) channel=1; shift ;;
	-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "hdl_check: unknown option $1" >&2; exit 2 ;;
	*) models+=("$1"); shift ;;
	esac
done
mpqx=$build/src/cli/mpqx
wlabel=$windows
[ "$windows" = all ] && windows=1000000
case $simulator in
icarus | verilator) ;;
*) echo "hdl_check: --simulator: expected icarus or verilator, got '$simulator'" >&2; exit 2 ;;
esac
[ -x "$mpqx" ] || { echo "hdl_check: $mpqx not built (meson setup/compile first, or -b BUILD)" >&2; exit 2; }
if ((${#models[@]} == 0)); then
	for d in "$root"/samples/*/; do
		[ -f "$d/model.json" ] && models+=("${d%/}")
	done
fi
((${#models[@]})) || { echo "hdl_check: no samples with a model.json under $root/samples" >&2; exit 1; }
[ -n "$work" ] || work=$(mktemp -d "${TMPDIR:-/tmp}/mpqx-hdl-check-XXXXXX")
mkdir -p "$work"

runs=0
failed=0
start_all=$(date +%s.%N)
printf '%-16s %-14s %-52s %8s %s\n' model config result seconds checks
for model in "${models[@]}"; do
	name=$(basename "$model")
	cfgdir=$work/$name-configs
	mkdir -p "$cfgdir"
	configs=()
	for b in 8 6 4; do
		printf '{"format":"mpqx-config","version":1,"device":"xc7s15","defaults":{"w_bits":%d,"a_bits":%d,"buffer":"auto","rom":"auto"},"layers":{}}\n' \
			"$b" "$b" >"$cfgdir/uniform-$b.json"
		configs+=("$cfgdir/uniform-$b.json")
		if ((channel)); then
			printf '{"format":"mpqx-config","version":1,"device":"xc7s15","defaults":{"w_bits":%d,"a_bits":%d,"buffer":"auto","rom":"auto","w_granularity":"channel"},"layers":{}}\n' \
				"$b" "$b" >"$cfgdir/uniform-$b-ch.json"
			configs+=("$cfgdir/uniform-$b-ch.json")
		fi
	done
	/usr/bin/python3 "$root/tools/hdl_configs.py" "$model" "$cfgdir" "$mixed" "$seed" || exit 1
	for ((i = 0; i < mixed; i++)); do configs+=("$cfgdir/mixed-$seed-$i.json"); done
	for cfg in "${configs[@]}"; do
		cname=$(basename "$cfg" .json)
		out=$work/$name-$cname
		t0=$(date +%s.%N)
		result=$("$mpqx" export "$model" -c "$cfg" -o "$out" --windows "$windows" --sim \
			--simulator "$simulator" --quiet 2>"$out.err")
		status=$?
		t1=$(date +%s.%N)
		checks="$simulator"
		if ((status == 0)) && command -v verilator >/dev/null; then
			if (cd "$out" && verilator --lint-only --language 1364-2005 --top-module mpqx_top rtl/*.v) \
				>"$out.lint" 2>&1; then
				checks="$checks+lint"
			else
				status=1
				checks="$checks+LINT-FAILED"
			fi
		fi
		runs=$((runs + 1))
		((status == 0)) || failed=$((failed + 1))
		printf '%-16s %-14s %-52s %8.1f %s%s\n' "$name" "$cname" "${result:-(no RESULT)}" \
			"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$checks" "$( ((status == 0)) || echo " FAILED: $(tr '\n' ' ' <"$out.err")")"
	done
done
end_all=$(date +%s.%N)
echo "hdl_check: $runs runs, $failed failed, $wlabel windows each ($simulator), $(awk -v a="$start_all" -v b="$end_all" 'BEGIN { printf "%d", b - a }') s; exports in $work"

if ((synth)); then
	first=$(basename "${models[0]}")
	dir=$work/$first-uniform-8
	echo "hdl_check: yosys synth_xilinx on $dir"
	t0=$(date +%s.%N)
	if (cd "$dir" && yosys -q -s synth.ys -l synth.log >/dev/null 2>&1); then
		t1=$(date +%s.%N)
		echo "hdl_check: synthesis completed in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", b - a }') s; whole design:"
		awk '/=== design hierarchy ===/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$dir/synth.log" |
			grep -E '(Number of cells|LUT[1-6]|RAM|DSP48E1|FD[RSCP]E|CARRY4|MUXF)'
	else
		echo "hdl_check: synthesis FAILED (see $dir/synth.log)"
		failed=$((failed + 1))
	fi
fi
((failed == 0))
