#!/usr/bin/env bash
# Place and route of one small design (tests/data/mini, uniform 8 bits) for the iCE40 UP5K through
# tools/pnr_check.py: Yosys synth_ice40 then nextpnr-ice40 at the device clock. EBR, SPRAM and DSP must
# equal the estimate, the record must hold what tools/fit_costs.py reads, and the run must repeat from its
# cache. About 15 s of CPU. Skipped only when yosys or nextpnr-ice40 is missing (tools/deps.sh installs
# both). Usage: test_pnr.sh MPQX SRC_DIR. Prints TAP.
set -u
mpqx=$(realpath "$1")
src=$2
. "$src/tests/tap.sh"
for t in yosys nextpnr-ice40; do
	if ! command -v "$t" >/dev/null; then
		echo "1..0 # SKIP $t is not installed (tools/deps.sh installs it)"
		exit 0
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/tests/data/mini" "$tmp/mini"

out=$(python3 "$src/tools/pnr_check.py" "$tmp/mini" --mpqx "$mpqx" --cache "$tmp/cache" --tag fit --json 2>&1)
status=$?
if [ $status -eq 0 ] && printf '%s' "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
p = r["pnr"]
assert p["error"] is None, p["error"]
assert r["bram_dsp_exact"], r["total"]
placed = p["placed"]
assert placed["lut"] > 100 and placed["dsp"] == r["total"]["estimate"]["dsp"] > 0, placed
assert p["fmax_mhz"] and 1 < p["fmax_mhz"] < 500, p["fmax_mhz"]
assert r["synth_flat"]["total"]["lut"] == placed["lut"] and r["tag"] == "fit"
assert r["fmax"]["estimate"] and abs(r["fmax"]["error_pct"]) < 100, r["fmax"]
'; then ok "nextpnr-ice40 places and routes mini: EBR, SPRAM, DSP exact, LC and max clock read"; else
	not_ok "pnr_check on mini" "status $status" "$(printf '%s' "$out" | head -c 1500)"; fi
ls "$tmp/cache"/*-ice40up5k.pnr.json "$tmp/cache"/*-ice40up5k-fit.run.json >/dev/null 2>&1 &&
	ok "the cache holds the run and its record" || not_ok "cache files" "$(ls "$tmp/cache")"
start=$(date +%s)
out2=$(python3 "$src/tools/pnr_check.py" "$tmp/mini" --mpqx "$mpqx" --cache "$tmp/cache" 2>&1)
[ $? -eq 0 ] && [ $(($(date +%s) - start)) -lt 10 ] && printf '%s' "$out2" | grep -q 'EBR, SPRAM and DSP exact: yes' &&
	ok "a cached run is not repeated" || not_ok "cached run" "$out2"
echo "1..$n"
[ "$fails" -eq 0 ]
