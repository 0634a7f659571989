#!/usr/bin/env bash
# mpqx estimate: JSON keys of DESIGN.md section 4, the readable table, usage errors, and the cycle count
# against the simulation of the exported RTL (tiny model: every op). Usage: test_estimate.sh MPQX SRC_DIR.
# Prints TAP.
set -u
mpqx=$1
src=$2
. "$src/tests/tap.sh"
tiny=$src/tests/data/tiny
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect 0 '^usage: mpqx estimate' "estimate --help" -- estimate --help
expect 2 "unknown or incomplete option '--bogus'" "unknown option" -- estimate "$tiny" --bogus
expect 2 "expected one MODEL" "two models" -- estimate "$tiny" "$tiny"
expect 2 "--features needs --json" "--features alone" -- estimate "$tiny" --features
expect 1 "unknown device 'xc9zz'" "unknown device" -- estimate "$tiny" -d xc9zz
printf '[device]\nname = t\nlut = lots\n' > "$tmp/bad.ini"
expect 1 "bad.ini: line 3: lut = 'lots'" "bad device file names file and line" -- estimate "$tiny" -d "$tmp/bad.ini"
printf '[family]\nname = xc7\n[linear]\nlut.nope = 1\n' > "$tmp/cost.ini"
expect 1 "cost.ini: line 4: .*unknown feature 'nope'" "bad coefficient file" -- estimate "$tiny" --costs "$tmp/cost.ini"
expect 0 "^total .* 3925$" "table has per-layer rows and a total with cycles" -- estimate "$tiny"
expect 0 "FITS: limiting resource" "table has the verdict" -- estimate "$tiny"
expect 0 "auto storage: " "table states the auto rule" -- estimate "$tiny"
expect 0 "DSP +17 +20 +85.0%" "utilisation against the XC7S15" -- estimate "$tiny"
expect 0 "on xc7a35t" "-d picks another device" -- estimate "$tiny" -d xc7a35t

json=$("$mpqx" estimate "$tiny" --json 2>&1)
if printf '%s' "$json" | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
for k in ("device", "fits", "limiting", "total", "layers", "capacity"):
    assert k in o, k
assert o["device"] == "xc7s15" and isinstance(o["fits"], bool)
assert o["limiting"] in ("lut", "lutram", "ff", "bram18", "dsp")
for k in ("lut", "lutram", "ff", "bram18", "dsp", "cycles", "bram_tiles", "latency_us"):
    assert k in o["total"], "total." + k
for k in ("lut", "lutram", "ff", "bram18", "dsp"):
    assert k in o["capacity"], "capacity." + k
    s = sum(l[k] for l in o["layers"]) + o["top"][k]
    assert s == o["total"][k], (k, s, o["total"][k])
assert len(o["layers"]) == 20
for l in o["layers"]:
    for k in ("name", "lut", "lutram", "ff", "bram18", "dsp", "cycles"):
        assert k in l, "layers[]." + k
assert o["total"]["bram_tiles"] == o["total"]["bram18"] / 2
assert abs(o["total"]["latency_us"] - o["total"]["cycles"] / 100) < 1e-9
' 2>"$tmp/err"; then
	ok "estimate --json has the keys of DESIGN.md section 4 and consistent totals"
else
	not_ok "estimate --json keys" "$(cat "$tmp/err")" "$(printf '%s' "$json" | head -c 300)"
fi

# A config with every buffer in block RAM moves the buffers out of LUTRAM.
printf '{"format":"mpqx-config","version":1,"defaults":{"buffer":"block"}}\n' > "$tmp/block.json"
if "$mpqx" estimate "$tiny" -c "$tmp/block.json" --json 2>"$tmp/err" | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["total"]["lutram"] == 0 and o["total"]["bram18"] == 19, o["total"]
assert all(l.get("buffer", "block") == "block" for l in o["layers"])
'; then
	ok "block-RAM buffers: 17 RAMB18, no LUTRAM"
else
	not_ok "block-RAM buffers" "$(cat "$tmp/err")"
fi

# Cycles equal the simulation of the exported RTL, at 8 bits and with a mixed config.
printf '{"format":"mpqx-config","version":1,"defaults":{"w_bits":5,"a_bits":7},"layers":{"q":{"w_bits":12,"a_bits":3},"softmax":{"a_bits":11},"pool":{"a_bits":14}}}\n' > "$tmp/mixed.json"
for cfg in "" "$tmp/mixed.json"; do
	args=()
	[ -n "$cfg" ] && args=(-c "$cfg")
	est=$("$mpqx" estimate "$tiny" "${args[@]}" --json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["cycles"])')
	sim=$("$mpqx" export "$tiny" "${args[@]}" -o "$tmp/exp" --windows 2 -q --sim 2>&1)
	simc=$(printf '%s' "$sim" | sed -n 's/.*RESULT windows=[0-9]* mismatches=0 cycles=\([0-9]*\).*/\1/p')
	if [ -n "$est" ] && [ "$est" = "$simc" ]; then
		ok "cycles equal the simulation (${cfg:-uniform 8}: $est)"
	else
		not_ok "cycles equal the simulation (${cfg:-uniform 8})" "estimate '$est'" "simulation: $sim"
	fi
done

echo "1..$n"
[ "$fails" -eq 0 ]
