#!/usr/bin/env bash
# The iCE40 family: device files, storage a device lacks, the estimate's iCE40 keys, and an export for
# the UP5K (EBR, SPRAM and flip-flop buffers, logic and SB_MAC16 multipliers) that simulates bit-exactly
# in Icarus. Usage: test_ice40.sh MPQX SRC_DIR. Prints TAP.
set -u
mpqx=$1
src=$2
. "$src/tests/tap.sh"
tiny=$src/tests/data/tiny
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Storage the device lacks: an error naming the file, the layer and the device.
echo '{"format":"mpqx-config","version":1,"layers":{"q":{"buffer":"spram"}}}' >"$tmp/sp.json"
expect 1 'sp.json: layers.q.buffer: "spram" on device xc7s15 \(xc7 family\)' "spram on xc7 is an error" -- \
	estimate "$tiny" -c "$tmp/sp.json"
expect 1 'sp.json: layers.q.buffer: "spram" on device ice40hx8k \(ice40 family\): it has no SPRAM' \
	"spram on the HX8K is an error" -- estimate "$tiny" -c "$tmp/sp.json" -d ice40hx8k
expect 1 'layers.q.buffer: "spram" on device ice40hx8k' "export refuses spram on the HX8K" -- \
	export "$tiny" -c "$tmp/sp.json" -d ice40hx8k -o "$tmp/no"
[ ! -e "$tmp/no" ] && ok "nothing exported on the error" || not_ok "an export was left behind"
echo '{"format":"mpqx-config","version":1,"defaults":{"rom":"spram"}}' >"$tmp/rsp.json"
expect 1 'rsp.json: defaults.rom: expected "block", "logic" or "auto"' "a ROM cannot be in SPRAM" -- \
	estimate "$tiny" -c "$tmp/rsp.json" -d ice40up5k
echo '{"format":"mpqx-config","version":1,"layers":{"q":{"mult":"dsp"}}}' >"$tmp/dsp.json"
expect 0 'warning: .*dsp.json: layers.q.mult: "dsp" on device ice40hx8k, which has no DSP blocks: its multipliers go to logic' \
	"dsp on the HX8K warns and goes to logic" -- estimate "$tiny" -c "$tmp/dsp.json" -d ice40hx8k

# The estimate on iCE40: its keys, the family's names, SPRAM counted where asked.
out=$("$mpqx" estimate "$tiny" -c "$tmp/sp.json" -d ice40up5k --json 2>&1)
if printf '%s' "$out" | python3 -c '
import json, sys
e = json.load(sys.stdin)
t = e["total"]
assert e["family"] == "ice40" and e["device"] == "ice40up5k", e["device"]
for k in ("lc", "ebr", "spram", "dsp", "cycles", "latency_us"):
    assert k in t, k
assert t["spram"] == 1 and t["lc"] == t["lut"] and t["ebr"] == t["bram18"], t
q = [l for l in e["layers"] if l["name"] == "q"][0]
assert q["buffer"] == "spram" and q["spram"] == 1 and q["ebr"] == 0, q
assert e["capacity"]["lc"] == 5280 and e["capacity"]["ebr"] == 30 and e["capacity"]["spram"] == 4, e["capacity"]
assert "iCE40" in e["auto_rule"]
'; then ok "estimate --json on ice40up5k: total.lc, total.ebr, total.spram, total.dsp"; else
	not_ok "estimate --json ice40 keys" "$(printf '%s' "$out" | head -c 600)"; fi
out=$("$mpqx" estimate "$tiny" -d ice40hx8k --json)
printf '%s' "$out" | python3 -c '
import json, sys
e = json.load(sys.stdin)
assert e["total"]["dsp"] == 0 and e["total"]["spram"] == 0
assert all(l.get("mult", "logic") == "logic" for l in e["layers"])' &&
	ok "HX8K: auto multipliers go to logic, no DSP" || not_ok "HX8K multipliers" "$(printf '%s' "$out" | head -c 300)"
"$mpqx" estimate "$tiny" -d ice40up5k | grep -qE '^layer .* LC +SPRAM +FF +EBR +DSP' &&
	ok "the table names LC, SPRAM, EBR" || not_ok "table header"

# Uniform 8 bits on the UP5K: the family's RAM variants and script, bit-exact in Icarus.
out=$("$mpqx" export "$tiny" -d ice40up5k -o "$tmp/u8" --windows 3 --sim 2>"$tmp/err")
[ $? -eq 0 ] && [ "$out" = "RESULT windows=3 mismatches=0 cycles=3925" ] && ok "uniform 8 on ice40up5k: $out" ||
	not_ok "uniform 8 on ice40up5k" "$out" "$(head -c 400 "$tmp/err")"
grep -q '^synth_ice40 -dsp -top mpqx_top -run begin:coarse$' "$tmp/u8/synth.ys" &&
	grep -q '^synth_ice40 -dsp -top mpqx_top -json synth.json -run map_ram:$' "$tmp/u8/synth.ys" &&
	! grep -q '^ice40_dsp' "$tmp/u8/synth.ys" &&
	grep -q '^synth_ice40 -dsp -noflatten -top mpqx_top -run map_ram:$' "$tmp/u8/synth_hier.ys" &&
	grep -q '"family":	"ice40"' "$tmp/u8/manifest.json" &&
	ok "synth.ys runs synth_ice40 -dsp; the manifest names the family" || not_ok "synth_ice40 scripts"

# A mixed config: SPRAM, flip-flop ("logic") and EBR buffers, EBR and logic ROMs, logic multipliers.
cat >"$tmp/mix.json" <<'JSON'
{"format": "mpqx-config", "version": 1, "device": "ice40up5k",
 "defaults": {"w_bits": 6, "a_bits": 8},
 "layers": {"q": {"buffer": "spram", "w_bits": 4}, "k": {"buffer": "logic", "rom": "ebr"},
            "v": {"buffer": "spram", "mult": "logic"}, "softmax": {"buffer": "spram", "a_bits": 6},
            "ln": {"buffer": "spram"}, "head": {"rom": "logic", "buffer": "registers"}}}
JSON
out=$("$mpqx" export "$tiny" -c "$tmp/mix.json" -o "$tmp/mix" --windows 3 --sim 2>"$tmp/err")
[ $? -eq 0 ] && printf '%s' "$out" | grep -q 'mismatches=0' && ok "mixed iCE40 config: $out" ||
	not_ok "mixed iCE40 config" "$out" "$(head -c 400 "$tmp/err")"
grep -q 'ram_style = "huge"' "$tmp/mix/rtl/mpqx_ram_spram.v" && grep -q 'ram_style = "logic"' "$tmp/mix/rtl/mpqx_ram_regs.v" &&
	grep -q 'ram_style = "block"' "$tmp/mix/rtl/mpqx_ram_block.v" && grep -q 'mpqx_ram_spram' "$tmp/mix/rtl/mpqx_layer_q.v" &&
	ok "SPRAM, flip-flop and EBR buffers are their own modules" || not_ok "RAM variants" "$(ls "$tmp/mix/rtl")"
echo "1..$n"
[ "$fails" -eq 0 ]
