#!/usr/bin/env bash
# mpqx search: JSON keys, the written config reproduces the reported exact MSE (mpqx eval) and fits
# (mpqx estimate), sensitivity, the exhaustive comparison, usage errors, nothing-fits.
# Usage: test_search.sh MPQX SRC_DIR. Prints TAP.
set -u
mpqx=$1
src=$2
. "$src/tests/tap.sh"
tiny=$src/tests/data/tiny
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export MPQX_DATA_DIR=$src
py=/usr/bin/python3

# expect STATUS PATTERN DESCRIPTION -- ARGS...

# check DESCRIPTION FILE PYTHON: runs the Python snippet with o = the JSON in FILE
check() {
	local desc=$1 file=$2 code=$3
	if $py -c "
import json, sys
o = json.load(open(sys.argv[1]))
$code
" "$file" 2> "$tmp/err"; then ok "$desc"; else not_ok "$desc" "$(tail -3 "$tmp/err")"; fi
}

# The search, its JSON and the written config.
if "$mpqx" search "$tiny" --json -o "$tmp/best.json" > "$tmp/s.json" 2> "$tmp/err"; then
	ok "search --json -o exits 0"
else
	not_ok "search --json -o exits 0" "$(cat "$tmp/err")"
fi
check "search JSON keys" "$tmp/s.json" '
for k in ("model", "device", "found", "best", "uniform8", "budget", "fronts", "stats", "sensitivity", "written"):
    assert k in o, k
b = o["best"]
assert b["exact"] is True and b["fits"] is True
for k in ("mse", "mse_surrogate", "lut", "lutram", "ff", "bram_tiles", "dsp", "latency_us", "layers"):
    assert k in b, k
for f in ("lut", "bram_tiles", "latency_us"):
    pts = o["fronts"][f]
    assert len(pts) >= 1, f
    assert all(p["exact"] for p in pts)
    xs = [p[f] for p in pts]
    ms = [p["mse"] for p in pts]
    assert xs == sorted(xs) and all(a > c for a, c in zip(ms, ms[1:])), f
st = o["stats"]
assert st["priced"] > 0 and st["priced_per_s"] > 0 and st["exact_runs"] > 0
for r in ("lut", "lutram", "ff", "bram_tiles", "dsp"):
    assert b[r] <= o["budget"][r], r
'
"$mpqx" eval "$tiny" -c "$tmp/best.json" --json > "$tmp/e.json" 2>&1
"$mpqx" estimate "$tiny" -c "$tmp/best.json" --json > "$tmp/est.json" 2>&1
$py -c "
import json, sys
s = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2])); t = json.load(open(sys.argv[3]))
assert e['mse'] == s['best']['mse'], (e['mse'], s['best']['mse'])
assert t['fits'] is True
tt = t['total']
assert tt['lut'] + tt['lutram'] == s['best']['lut'] and tt['bram_tiles'] == s['best']['bram_tiles']
assert tt['dsp'] == s['best']['dsp'] and abs(tt['latency_us'] - s['best']['latency_us']) < 1e-6
" "$tmp/s.json" "$tmp/e.json" "$tmp/est.json" 2> "$tmp/err" &&
	ok "the written config: eval gives the reported exact MSE, estimate the reported resources" ||
	not_ok "the written config: eval gives the reported exact MSE, estimate the reported resources" "$(tail -3 "$tmp/err")"

expect 0 "best that fits: MSE [0-9.e-]+ \(exact" "text output names the best and that its MSE is exact" -- search "$tiny"
expect 0 "Pareto front, MSE against BRAM tiles" "text output lists the fronts" -- search "$tiny"
expect 0 "configurations priced per second" "--bench-price prints the rate" -- search "$tiny" --bench-price

# Sensitivity.
"$mpqx" search "$tiny" --sensitivity --json > "$tmp/sn.json" 2>&1
check "--sensitivity --json: a curve per layer" "$tmp/sn.json" '
s = o["sensitivity"]
assert s["ref_bits"] == 12 and s["mse_ref"] > 0 and s["runs"] > 0
assert "best" not in o
assert len(s["layers"]) == 20
q = [l for l in s["layers"] if l["name"] == "q"][0]
assert len(q["w_delta"]) == 15 and len(q["a_delta"]) == 15 and "w_per_bit" in q
assert q["a_delta"][12 - 2] == 0
relu = [l for l in s["layers"] if l["name"] == "relu"][0]
assert "w_delta" not in relu
'
expect 0 "out per bit" "--sensitivity table" -- search "$tiny" --sensitivity

# A restricted space, enumerated: the search is within 1% of the exhaustive optimum.
"$mpqx" search "$tiny" --wbits 3,5,8 --abits 8 --keep-storage --limit lut=4080 --exhaustive --json > "$tmp/x.json" 2>&1
check "--exhaustive: search within 1% of the optimum of 3^7 configurations" "$tmp/x.json" '
x = o["exhaustive"]
assert x["configs"] == 2187 and 0 < x["fit"] < 2187, x
assert o["found"] and x["found"]
assert x["best"]["mse"] <= o["best"]["mse"] <= 1.01 * x["best"]["mse"], (o["best"]["mse"], x["best"]["mse"])
assert all(l["a_bits"] == 8 for l in o["best"]["layers"])
assert all(l.get("w_bits", 3) in (3, 5, 8) for l in o["best"]["layers"])
'

# Constraints: a latency bound and a margin are respected.
"$mpqx" search "$tiny" --margin 0.5 --json > "$tmp/m.json" 2>&1
check "--margin 0.5: half of every resource" "$tmp/m.json" '
assert o["budget"]["dsp"] == 10 and o["budget"]["lut"] == 4000
if o["found"]:
    assert o["best"]["dsp"] <= 10
else:
    assert "DSP needs at least" in o["why"]
'

# Chosen on the calibration windows: the test MSE is reported beside, and is what eval says.
"$mpqx" search "$tiny" --select calib --json -o "$tmp/calib.json" > "$tmp/c.json" 2>&1
"$mpqx" eval "$tiny" -c "$tmp/calib.json" --json > "$tmp/ce.json" 2>&1
$py -c "
import json, sys
o = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2]))
assert o['select'] == 'calib' and o['found']
assert o['best']['mse_test'] == e['mse'] and o['best']['mse'] != e['mse']
assert all('mse_test' in p for p in o['fronts']['lut'])
" "$tmp/c.json" "$tmp/ce.json" 2> "$tmp/err" && ok "--select calib: test MSE beside, as eval gives it" ||
	not_ok "--select calib: test MSE beside, as eval gives it" "$(tail -3 "$tmp/err")"
expect 2 "--select 'val'" "bad --select" -- search "$tiny" --select val

# Nothing fits: exit 1 with -o, the old file stays.
echo keep > "$tmp/old.json"
expect 1 "nothing fits" "nothing fits: exit 1 with -o" -- search "$tiny" --limit dsp=1 -o "$tmp/old.json"
[ "$(cat "$tmp/old.json")" = keep ] && ok "nothing fits: -o leaves the old file" || not_ok "nothing fits: -o leaves the old file"
expect 0 "no configuration fits: DSP needs at least" "nothing fits: the reason" -- search "$tiny" --limit dsp=1

# --channel: per-channel weights tried on the best; the written config reproduces its exact MSE and never
# does worse than without.
"$mpqx" search "$tiny" --select calib --json > "$tmp/t0.json" 2> "$tmp/err"
if "$mpqx" search "$tiny" --select calib --channel --json -o "$tmp/ch.json" > "$tmp/t1.json" 2> "$tmp/err" &&
	"$mpqx" eval "$tiny" -c "$tmp/ch.json" --json > "$tmp/che.json" 2>> "$tmp/err"; then
	ok "search --channel exits 0"
else
	not_ok "search --channel exits 0" "$(tail -3 "$tmp/err")"
fi
$py - "$tmp/t0.json" "$tmp/t1.json" "$tmp/ch.json" <<'PY' && ok "--channel: no worse on the windows it selects on, granularity in the JSON and the config" || not_ok "--channel result"
import json, sys
t0, t1, c = (json.load(open(p)) for p in sys.argv[1:4])
assert t1["best"]["mse"] <= t0["best"]["mse"], (t1["best"]["mse"], t0["best"]["mse"])
ch = sorted(l["name"] for l in t1["best"]["layers"] if l.get("w_granularity") == "channel")
assert ch == sorted(n for n, l in c["layers"].items() if l["w_granularity"] == "channel"), ch
PY

# Usage errors.
expect 2 "--margin '1.5'" "bad margin" -- search "$tiny" --margin 1.5
expect 2 "--wbits '1,4'" "bad bit list" -- search "$tiny" --wbits 1,4
expect 2 "--limit 'foo=3'" "bad limit" -- search "$tiny" --limit foo=3
expect 2 "--latency-us '-1'" "bad latency" -- search "$tiny" --latency-us -1
expect 2 "expected one MODEL" "two models" -- search "$tiny" "$tiny"
expect 2 "takes no -o" "--sensitivity with -o" -- search "$tiny" --sensitivity -o "$tmp/x"
expect 0 "^usage: mpqx search" "--help" -- search --help
expect 1 "no-such-device" "unknown device" -- search "$tiny" -d no-such-device

echo "1..$n"
[ "$fails" -eq 0 ]
