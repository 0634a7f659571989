#!/usr/bin/env bash
# Cross-check of the integer engine: `mpqx eval --dump` against tools/qref.py (an independent NumPy
# implementation of doc/quantization.md), every layer's integer outputs on every test window, bit for bit,
# plus the clamp counts, accumulator widths and MSE that `mpqx eval --json` reports; and tools/calib_spread.py
# (built on qref.py) reproducing mpqx's MSE, float MSE and output step when it widens nothing.
# Configurations: uniform 8 bits, uniform 4 bits, and SAMPLE/configs/mixed.json (when the sample has none,
# a mixed one is generated from the layer names: a_bits and w_bits cycling through 3..12); with CHANNEL
# also uniform 4 bits with every layer's weights per channel and the mixed config with every other layer
# per channel.
#
# usage: qref_check.sh MPQX SRCDIR SAMPLE_DIR [CHANNEL]
# Exit 0 when everything matches, 1 on a mismatch or failure, 77 (skip) when NumPy is missing.
set -u
mpqx=$1
src=$2
sample=$3
configs="uniform8 uniform4 mixed"
[ "${4:-}" = channel ] && configs="uniform8 uniform4 channel4 mixed mixedch"
py=${QREF_PYTHON:-/usr/bin/python3}

if ! [ -x "$py" ] || ! "$py" -c 'import numpy' 2>/dev/null; then
	echo "SKIP: the cross-check needs Debian's python3 with NumPy (apt-get install python3-numpy)"
	exit 77
fi
if ! [ -f "$sample/model.json" ]; then
	echo "FAIL: $sample/model.json not found"
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '{"format":"mpqx-config","version":1,"device":"xc7s15","defaults":{"w_bits":4,"a_bits":4,"buffer":"auto","rom":"auto"},"layers":{}}\n' \
	>"$tmp/uniform4.json"
printf '{"format":"mpqx-config","version":1,"device":"xc7s15","defaults":{"w_bits":4,"a_bits":4,"w_granularity":"channel"},"layers":{}}\n' \
	>"$tmp/channel4.json"
mixed=$sample/configs/mixed.json
if ! [ -f "$mixed" ]; then
	mixed=$tmp/mixed.json
	"$py" - "$sample/model.json" "$mixed" <<'PY' || exit 1
import json, sys
names = [l["name"] for l in json.load(open(sys.argv[1]))["layers"]]
layers = {n: {"w_bits": 3 + (5 * i + 2) % 10, "a_bits": 3 + (7 * i) % 10} for i, n in enumerate(names)}
json.dump({"format": "mpqx-config", "version": 1, "device": "xc7s15",
           "defaults": {"w_bits": 8, "a_bits": 8, "buffer": "auto", "rom": "auto"}, "layers": layers},
          open(sys.argv[2], "w"), indent=1)
PY
fi

"$py" - "$mixed" "$tmp/mixedch.json" <<'PY' || exit 1
import json, sys
c = json.load(open(sys.argv[1]))
for i, lc in enumerate(c.setdefault("layers", {}).values()):
    lc["w_granularity"] = ("channel", "tensor")[i % 2]
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY

fail=0
"$py" "$src/tools/qref.py" --selftest || fail=1
for name in $configs; do
	case $name in
	uniform8) cfg=() ;;
	uniform4) cfg=(-c "$tmp/uniform4.json") ;;
	channel4) cfg=(-c "$tmp/channel4.json") ;;
	mixed) cfg=(-c "$mixed") ;;
	mixedch) cfg=(-c "$tmp/mixedch.json") ;;
	esac
	echo "== $sample, $name"
	if ! "$mpqx" eval "$sample" "${cfg[@]}" --json --dump "$tmp/$name" >"$tmp/$name.eval.json" 2>"$tmp/$name.err"; then
		echo "FAIL: mpqx eval --dump failed:"
		cat "$tmp/$name.err"
		fail=1
		continue
	fi
	"$py" "$src/tools/qref.py" "$sample" "${cfg[@]}" --dump "$tmp/$name" --eval-json "$tmp/$name.eval.json"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL: qref.py exit $rc for $name"
		fail=1
	fi
done
# tools/calib_spread.py with no further widening must reproduce mpqx's own figures in every run.
echo "== $sample, calib_spread.py --widen 0"
if "$py" "$src/tools/calib_spread.py" "$sample" --dump "$tmp/uniform8" --runs 2 --widen 0 --json >"$tmp/spread.json" &&
	"$py" - "$tmp/spread.json" "$tmp/uniform8.eval.json" <<'PY'; then
import json, sys
s, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
close = lambda a, b, tol: abs(a - b) <= tol * abs(b)
assert close(s["mse"], e["mse"], 1e-9), (s["mse"], e["mse"])
assert close(s["mse_float"], e["mse_float"], 1e-6), (s["mse_float"], e["mse_float"])
assert close(s["output_step"], e["output_step"], 1e-12), (s["output_step"], e["output_step"])
r = 100 * (e["mse"] / s["mse_float"] - 1)
assert all(abs(v - r) < 1e-6 for v in (s["spread_pct"]["min"], s["spread_pct"]["max"])), (s["spread_pct"], r)
print("calib_spread: MSE, float MSE, output step and an unwidened spread equal mpqx's")
PY
	:
else
	echo "FAIL: calib_spread.py"
	fail=1
fi
[ $fail -eq 0 ] && echo "PASS: every layer equal in every configuration"
exit $fail
