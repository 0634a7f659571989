#!/usr/bin/env bash
# Command-line contract: exit codes 0/1/2, messages that name the file and place, JSON keys.
# Usage: test_cli.sh MPQX SRC_DIR. Prints TAP.
set -u
mpqx=$1
src=$2
. "$src/tests/tap.sh"
tiny=$src/tests/data/tiny
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect STATUS PATTERN DESCRIPTION -- ARGS...: runs mpqx, checks exit status and that stdout+stderr match

expect 0 '^usage: mpqx' "--help exits 0 with usage" -- --help
expect 0 '^mpqx [0-9]+\.[0-9]+' "--version" -- --version
expect 2 "unknown subcommand 'frobnicate'" "unknown subcommand is a usage error" -- frobnicate
expect 2 "unknown or incomplete option '--bogus'" "unknown option" -- eval "$tiny" --bogus
expect 2 "expected one MODEL" "two models" -- eval "$tiny" "$tiny"
expect 2 "takes no -c" "--float with -c" -- eval "$tiny" --float -c x.json
expect 1 "/nonexistent/model.json: cannot open" "missing model" -- eval /nonexistent/model.json
expect 1 "no-such-config.json: cannot open" "missing config" -- eval "$tiny" -c "$tmp/no-such-config.json"
echo '{"format":"mpqx-config","version":1,"layers":{"zz":{"w_bits":4}}}' > "$tmp/bad.json"
expect 1 "bad.json: layers.zz: model 'tiny' has no layer" "config with an unknown layer" -- eval "$tiny" -c "$tmp/bad.json"
echo '{"format":"mpqx-config","version":1,"layers":{"q":{"w_bits":40}}}' > "$tmp/bad2.json"
expect 1 "bad2.json: layers.q.w_bits: expected an integer from 2 to 16" "bits out of range" -- eval "$tiny" -c "$tmp/bad2.json"
printf '{"format": "mpqx-model",\n "version": 1,\n' > "$tmp/trunc.json"
expect 1 "trunc.json: line 3, column 1: invalid JSON" "truncated model" -- eval "$tmp/trunc.json"
expect 0 "test windows" "eval --float" -- eval "$tiny" --float
expect 0 "SQNR dB" "eval integer table" -- eval "$tiny"

# JSON keys of DESIGN.md section 4
json=$("$mpqx" eval "$tiny" --json 2>&1)
if printf '%s' "$json" | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
for k in ("mse", "rmse", "mae", "mse_float", "rmse_denorm", "windows", "layers"):
    assert k in o, k
for l in o["layers"]:
    for k in ("name", "sqnr_db", "clipped"):
        assert k in l, k
assert o["windows"] == 10
' 2>"$tmp/err"; then ok "eval --json keys"; else not_ok "eval --json keys" "$(cat "$tmp/err")"; fi

fjson=$("$mpqx" eval "$tiny" --float --json 2>&1)
if printf '%s' "$fjson" | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["mse"] == o["mse_float"] and o["rmse_denorm"] > 0 and o["windows"] == 10
' 2>"$tmp/err"; then ok "eval --float --json"; else not_ok "eval --float --json" "$(cat "$tmp/err")"; fi

# --dump writes every layer
"$mpqx" eval "$tiny" --dump "$tmp/dump" >/dev/null 2>&1
if [ -f "$tmp/dump/dump.json" ] && [ "$(ls "$tmp/dump"/*.i16 | wc -l)" -eq 20 ]; then ok "eval --dump"; else not_ok "eval --dump"; fi

# output_step is the scale of the output layer (head in the tiny model), from its range and bits
if printf '%s' "$json" | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
d = json.load(open(sys.argv[1]))
head = [l for l in d["layers"] if l["name"] == "head"][0]
step = (max(head["hi"], 0.0) - min(head["lo"], 0.0)) / (2 ** head["a_bits"] - 1)
assert abs(o["output_step"] - step) <= 1e-12 * step, (o["output_step"], step)
assert abs(o["output_rounding_mse"] - step * step / 12) <= 1e-12 * step * step
' "$tmp/dump/dump.json" 2>"$tmp/err"; then ok "eval --json output_step"; else not_ok "eval --json output_step" "$(cat "$tmp/err")"; fi

# compare: two configurations side by side
cjson=$("$mpqx" compare "$tiny" uniform8 uniform4 --json 2>&1)
if printf '%s' "$cjson" | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
a, b = o["configs"]
assert a["config"] == "uniform8" and b["config"] == "uniform4"
for c in (a, b):
    for k in ("fits", "limiting", "mse", "total", "layers"):
        assert k in c, k
assert all(l["a_bits"] == 4 for l in b["layers"])
assert b["mse"] != a["mse"]
' 2>"$tmp/err"; then ok "compare --json"; else not_ok "compare --json" "$(cat "$tmp/err")"; fi
expect 0 "differs from the first column" "compare table" -- compare "$tiny" uniform8 uniform6
# eval --quick: a stratified subset's MSE with its standard error, near the whole set's
expect 2 "takes no --float" "--quick with --float" -- eval "$tiny" --quick --float
daily=$src/samples/seattle-daily
qjson=$("$mpqx" eval "$daily" --quick --json 2>&1)
full=$("$mpqx" eval "$daily" --json 2>&1)
if printf '%s\n%s' "$qjson" "$full" | /usr/bin/python3 -c '
import json, sys
t = sys.stdin.read()
q, f = json.JSONDecoder().raw_decode(t)[0], json.loads(t[json.JSONDecoder().raw_decode(t)[1]:])
assert q["quick"] is True and q["windows"] == 128 and q["test_windows"] == 269, q
assert q["mse_se"] > 0 and abs(q["mse"] - f["mse"]) < 4 * q["mse_se"], (q["mse"], q["mse_se"], f["mse"])
' 2>"$tmp/err"; then ok "eval --quick --json"; else not_ok "eval --quick --json" "$(cat "$tmp/err")"; fi
expect 0 "test windows 128 of 269 \\(stratified subset" "eval --quick" -- eval "$daily" --quick

expect 2 "at least two CONFIGs" "compare needs two configs" -- compare "$tiny" uniform8
expect 1 "nothere.json: cannot open" "compare with a missing config" -- compare "$tiny" uniform8 "$tmp/nothere.json"

echo "1..$n"
[ "$fails" -eq 0 ]
