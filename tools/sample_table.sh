#!/usr/bin/env bash
# Prints the README's accuracy table: for every sample, the test MSE of persistence, the float model and the
# integer model at uniform 8, 6 and 4 bits (normalised), with the RMSE in the target's unit.
# With --methods: per sample and calibration method (doc/quantization.md), the test MSE over float at
# uniform 8, 6 and 4 bits. With --granularity: the same per weight granularity (w_granularity tensor or
# channel, every layer alike, the default calibration).
# Usage: tools/sample_table.sh [--methods | --granularity] [MPQX]   (default build/src/cli/mpqx)
set -euo pipefail
cd "$(dirname "$0")/.."
methods=0
key=calibration
choices="minmax percentile mse"
if [ "${1:-}" = "--methods" ]; then
	methods=1
	shift
elif [ "${1:-}" = "--granularity" ]; then
	methods=1
	key=w_granularity
	choices="tensor channel"
	shift
fi
mpqx=${1:-build/src/cli/mpqx}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ $methods = 1 ]; then
	echo "| sample | $key | 8 bits | 6 bits | 4 bits |"
	echo "|---|---|---|---|---|"
	for s in samples/*/; do
		s=${s%/}
		"$mpqx" eval "$s" --float --json > "$tmp/f.json"
		for m in $choices; do
			for b in 8 6 4; do
				printf '{"format":"mpqx-config","version":1,"defaults":{"w_bits":%d,"a_bits":%d,"%s":"%s"}}\n' \
					"$b" "$b" "$key" "$m" > "$tmp/c.json"
				"$mpqx" eval "$s" -c "$tmp/c.json" --json > "$tmp/q$b.json"
			done
			/usr/bin/python3 - "$s" "$tmp" "$m" <<'PY'
import json, sys
s, t, m = sys.argv[1:4]
f = json.load(open(t + "/f.json"))
cell = lambda b: "%+.1f%%" % (100 * (json.load(open("%s/q%d.json" % (t, b)))["mse"] / f["mse"] - 1))
print("| %s | %s | %s | %s | %s |" % (s.split("/")[-1], m, cell(8), cell(6), cell(4)))
PY
		done
	done
	exit 0
fi
for b in 8 6 4; do
	printf '{"format":"mpqx-config","version":1,"defaults":{"w_bits":%d,"a_bits":%d}}\n' "$b" "$b" > "$tmp/u$b.json"
done
echo "| sample | test windows | persistence MSE | float MSE | 8 bits | 6 bits | 4 bits | float RMSE (unit) | 8-bit RMSE (unit) |"
echo "|---|---|---|---|---|---|---|---|---|"
for s in samples/*/; do
	s=${s%/}
	"$mpqx" eval "$s" --float --json > "$tmp/f.json"
	for b in 8 6 4; do "$mpqx" eval "$s" -c "$tmp/u$b.json" --json > "$tmp/q$b.json"; done
	/usr/bin/python3 - "$s" "$tmp" <<'PY'
import json, sys
s, t = sys.argv[1], sys.argv[2]
f = json.load(open(t + "/f.json"))
q = {b: json.load(open("%s/q%d.json" % (t, b))) for b in (8, 6, 4)}
cell = lambda o: "%.4g (%+.0f%%)" % (o["mse"], 100 * (o["mse"] / f["mse"] - 1))
print("| %s | %d | %.4g | %.4g | %s | %s | %s | %.3g | %.3g |" % (
    s.split("/")[-1], f["windows"], f["mse_persistence"], f["mse"], cell(q[8]), cell(q[6]), cell(q[4]),
    f["rmse_denorm"], q[8]["rmse_denorm"]))
PY
done
