#!/usr/bin/env bash
# tools/range_search.py on the tiny model (every op): the search runs on the calibration windows, its
# loss does not grow, the written model fixes the ranges of the searched layers (not the output's), mpqx
# quantizes it as the search did (the tool checks it) and equals tools/qref.py bit for bit; bad options and a
# missing config are refused.
# Usage: test_range_search.sh MPQX SRC_DIR. Prints TAP; exit 77 (skip) without NumPy.
set -u
mpqx=$1
src=$2
py=/usr/bin/python3
. "$src/tests/tap.sh"
if ! "$py" -c 'import numpy' 2>/dev/null; then
	echo "1..0 # SKIP range_search needs python3-numpy"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tiny=$src/tests/data/tiny
export MPQX=$mpqx MPQX_DATA_DIR=$src
printf '{"format":"mpqx-config","version":1,"defaults":{"w_bits":4,"a_bits":5}}\n' >"$tmp/u5.json"

if "$py" "$src/tools/range_search.py" "$tiny" -c "$tmp/u5.json" --out "$tmp/rs" --windows 64 \
	--alphas 0.5,0.75,1 --json >"$tmp/res.json" 2>"$tmp/err"; then
	ok "range_search ran"
else
	not_ok "range_search failed" "$(tail -5 "$tmp/err")"
fi
if "$py" - "$tmp/res.json" "$tmp/rs/model.json" <<'PY'; then
import json, sys
r = json.load(open(sys.argv[1]))
m = json.load(open(sys.argv[2]))
assert r["calib_after"] <= r["calib_before"], r
out = m["output"].get("layer", m["layers"][-1]["name"])
assert out not in m["ranges"], out
assert set(m["ranges"]) == set(r["factors"]), sorted(set(m["ranges"]) ^ set(r["factors"]))
assert all(lo <= hi for lo, hi in m["ranges"].values())
assert all(f in (0.5, 0.75, 1.0) for f in r["factors"].values()), r["factors"]
PY
	ok "the loss did not grow; ranges fixed for the searched layers, not the output"
else
	not_ok "range_search result"
fi
cfg=$tmp/rs/configs/u5.json
if "$mpqx" eval "$tmp/rs" -c "$cfg" --json --dump "$tmp/dump" >"$tmp/eval.json" 2>"$tmp/err" &&
	"$py" "$src/tools/qref.py" "$tmp/rs" -c "$cfg" --dump "$tmp/dump" --eval-json "$tmp/eval.json" >"$tmp/qref.txt" 2>&1 &&
	grep -q "every layer equal" "$tmp/qref.txt"; then
	ok "mpqx eval of the searched model = qref bit for bit"
else
	not_ok "qref cross-check" "$(cat "$tmp/err"; tail -5 "$tmp/qref.txt" 2>/dev/null)"
fi
"$py" "$src/tools/range_search.py" "$tiny" -c "$tmp/u5.json" --out "$tmp/x" --alphas 0,1 >/dev/null 2>"$tmp/err"
[ $? = 2 ] && grep -q "alphas" "$tmp/err" && ok "--alphas 0,1 refused (exit 2)" || not_ok "bad --alphas" "$(cat "$tmp/err")"
"$py" "$src/tools/range_search.py" "$tiny" -c "$tmp/nope.json" --out "$tmp/x" >/dev/null 2>"$tmp/err"
[ $? = 1 ] && grep -q "nope.json" "$tmp/err" && ok "a missing config names the file (exit 1)" ||
	not_ok "missing config" "$(cat "$tmp/err")"
echo "1..$n"
[ "$fails" -eq 0 ]
