#!/usr/bin/env bash
# The refit path from Vivado (doc/estimator.md, "Refitting against Vivado"): tools/fit_costs.py --vivado
# on a hand-written report_utilization excerpt (tests/data/vivado) and the estimate of the same design;
# the refitted coefficients must bring the estimate's logic LUT and FF totals onto the report's.
# Usage: test_vivado_refit.sh MPQX SRC_DIR. Prints TAP; skipped (77) without NumPy.
set -u
mpqx=$1
src=$2
. "$src/tests/tap.sh"
py=/usr/bin/python3
if ! "$py" -c 'import numpy' 2>/dev/null; then
	echo "1..0 # SKIP NumPy is missing"
	exit 77
fi
tiny=$src/tests/data/tiny
rpt=$src/tests/data/vivado/tiny_utilization.rpt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$mpqx" estimate "$tiny" --json --features > "$tmp/est.json" && ok "estimate --json --features" ||
	not_ok "estimate --json --features"
out=$("$py" "$src/tools/fit_costs.py" --vivado "$tmp/est.json" "$rpt" --ini "$src/devices/xc7-cost.ini" \
	-o "$tmp/cost.ini" 2>&1)
status=$?
if [ "$status" -eq 0 ] && printf '%s' "$out" | grep -qE '^scales: LUT x0\.[0-9]+, FF x'; then
	ok "fit_costs --vivado reads the report and prints the scales"
else
	not_ok "fit_costs --vivado" "status $status" "output: $(printf '%s' "$out" | head -c 600)"
fi
printf '%s' "$out" | grep -qE 'LUTRAM [0-9]+ vs 184, FF [0-9]+ vs 1010, BRAM tiles [0-9.]+ vs 0.0, DSP [0-9]+ vs 15' &&
	ok "memories and DSPs compared side by side" || not_ok "side-by-side line" "output: $out"
grep -q "source = scaled to Vivado report_utilization of 1 design" "$tmp/cost.ini" &&
	ok "the ini names its source" || not_ok "ini source line" "$(head -6 "$tmp/cost.ini")"

# Logic LUT = Slice LUTs - LUT as Memory = 2932, FF = Slice Registers = 1010. The scale fits one design
# exactly up to the rounding of each block's figure.
"$mpqx" estimate "$tiny" --json --costs "$tmp/cost.ini" > "$tmp/after.json"
if "$py" - "$tmp/after.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["total"]
ok = abs(t["lut"] - 2932) <= 0.01 * 2932 and abs(t["ff"] - 1010) <= 0.01 * 1010 and t["lutram"] == 184
print(f"# after the refit: lut {t['lut']}, ff {t['ff']}, lutram {t['lutram']}")
sys.exit(0 if ok else 1)
PY
then ok "the refitted estimate matches the report (LUT, FF within 1%)"
else not_ok "refitted estimate" "$(cat "$tmp/after.json" | head -c 300)"
fi

printf '| Slice LUTs | 10 |\n' > "$tmp/short.rpt"
out=$("$py" "$src/tools/fit_costs.py" --vivado "$tmp/est.json" "$tmp/short.rpt" -o "$tmp/x.ini" 2>&1)
status=$?
[ "$status" -ne 0 ] && printf '%s' "$out" | grep -q "short.rpt: no row for lut_mem, ff" &&
	ok "a report without the rows is refused, naming the file" || not_ok "short report" "status $status: $out"
echo "1..$n"
[ "$fails" -eq 0 ]
