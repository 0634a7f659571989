#!/usr/bin/env bash
# mpqx export on the command line: exit statuses, the RESULT line alone on stdout with --sim, the
# destination rules, the files an export holds. Usage: test_export_cli.sh MPQX SRC_DIR. Prints TAP.
set -u
mpqx=$1
src=$2
. "$src/tests/tap.sh"
tiny=$src/tests/data/tiny
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect 0 '^usage: mpqx export MODEL' "export --help" -- export --help
expect 2 "-o DIR is required" "no -o" -- export "$tiny"
expect 2 "expected a positive number" "--windows 0" -- export "$tiny" -o "$tmp/x" --windows 0
expect 2 "unknown or incomplete option" "unknown option" -- export "$tiny" -o "$tmp/x" --frob
expect 1 "cannot open" "missing model" -- export /nonexistent -o "$tmp/x"
expect 1 "not a Verilog identifier|expected a Verilog identifier" "bad prefix" -- export "$tiny" -o "$tmp/x" --prefix 1x

# --sim: stdout is exactly the RESULT line; the summary goes to stderr.
out=$("$mpqx" export "$tiny" -o "$tmp/e" --windows 3 --sim 2>"$tmp/err")
status=$?
if [ "$status" -eq 0 ] && [ "$out" = "RESULT windows=3 mismatches=0 cycles=3925" ] &&
	grep -q "every buffer of every window matches" "$tmp/err"; then
	ok "--sim prints the RESULT line on stdout and exits 0"
else
	not_ok "--sim output" "status $status" "stdout: $out" "stderr: $(head -c 300 "$tmp/err")"
fi
missing=""
for f in manifest.json run_sim.sh run_sim_verilator.sh tb/mpqx_tb_main.cpp synth.ys synth_hier.ys rtl/mpqx_top.v rtl/mpqx_layer_q.v rtl/mpqx_ram_distributed.v \
	rtl/mpqx_rom_logic.v rtl/mpqx_requant.v rtl/mpqx_rescale.v rtl/mpqx_div.v tb/mpqx_tb.v mem/q_w.mem \
	mem/q_b.mem mem/softmax_e.mem mem/pe.mem vec/input.hex vec/expected.hex vec/layers.txt sim/dump.txt; do
	[ -f "$tmp/e/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && ok "the export holds its files" || not_ok "files missing:$missing"
grep -q -- '-noclkbuf -flatten -top mpqx_top' "$tmp/e/synth.ys" && ! grep -q -- '-flatten' "$tmp/e/synth_hier.ys" &&
	ok "synth.ys flattens, synth_hier.ys keeps the hierarchy" || not_ok "synth.ys / synth_hier.ys flags"
grep -q '"format":	"mpqx-export"' "$tmp/e/manifest.json" && ok "manifest format" || not_ok "manifest format"

# Storage from the config reaches the RTL.
cat >"$tmp/blk.json" <<'JSON'
{"format":"mpqx-config","version":1,"defaults":{"w_bits":8,"a_bits":8,"buffer":"block","rom":"block"},"layers":{"q":{"buffer":"distributed","rom":"logic"}}}
JSON
expect 0 "RESULT windows=2 mismatches=0" "block storage simulates" -- export "$tiny" -c "$tmp/blk.json" -o "$tmp/b" --windows 2 --sim
if grep -q 'ram_style = "block"' "$tmp/b/rtl/mpqx_ram_block.v" && grep -q 'rom_style = "block"' "$tmp/b/rtl/mpqx_rom_block.v" &&
	grep -q 'mpqx_ram_distributed' "$tmp/b/rtl/mpqx_layer_q.v" && grep -q 'mpqx_rom_logic' "$tmp/b/rtl/mpqx_layer_q.v" &&
	grep -q 'mpqx_ram_block' "$tmp/b/rtl/mpqx_layer_k.v" && grep -q 'mpqx_rom_block' "$tmp/b/rtl/mpqx_layer_k.v"; then
	ok "ram_style and rom_style follow the config per layer"
else
	not_ok "storage attributes"
fi

# Per-channel weights: the scale ROM ({z_w, m} per output row) in the RTL, in DSP slices and in logic
# (a data multiplier for m), bit-exact with the integer model at the computed cycle count.
for mult in dsp logic; do
	printf '{"format":"mpqx-config","version":1,"defaults":{"w_bits":5,"a_bits":7,"w_granularity":"channel","mult":"%s"},"layers":{"k":{"w_granularity":"tensor"}}}\n' \
		"$mult" >"$tmp/ch-$mult.json"
	expect 0 "RESULT windows=2 mismatches=0" "per-channel weights simulate ($mult)" -- export "$tiny" -c "$tmp/ch-$mult.json" -o "$tmp/ch-$mult" --windows 2 --sim
done
if grep -q '"role":	"scales"' "$tmp/ch-dsp/manifest.json" && [ -f "$tmp/ch-dsp/mem/q_s.mem" ] && [ ! -e "$tmp/ch-dsp/mem/k_s.mem" ] &&
	grep -q '\.CH(1)\|CH = 1' "$tmp/ch-dsp/rtl/mpqx_layer_q.v" && grep -q 'CH = 0' "$tmp/ch-dsp/rtl/mpqx_layer_k.v"; then
	ok "per-channel layers get a scale ROM, per-tensor layers none"
else
	not_ok "scale ROM" "$(grep -n 'CH' "$tmp/ch-dsp/rtl/mpqx_layer_q.v" | head -3)"
fi

# Destination rules.
mkdir "$tmp/mine" && echo keep >"$tmp/mine/notes.txt"
expect 1 "refusing to overwrite" "a directory mpqx did not create is refused" -- export "$tiny" -o "$tmp/mine"
[ "$(cat "$tmp/mine/notes.txt")" = keep ] && [ ! -e "$tmp/mine/manifest.json" ] && ok "and left untouched" || not_ok "user directory changed"
expect 0 "exported tiny" "an earlier export is replaced" -- export "$tiny" -o "$tmp/e" --windows 1
[ ! -e "$tmp/e/sim/dump.txt" ] && ok "the earlier export's files are gone" || not_ok "stale files remain"
left=$(find "$tmp" -maxdepth 1 -name '.*.tmp-*' -o -maxdepth 1 -name '.*.old-*' | wc -l)
[ "$left" -eq 0 ] && ok "no temporary directories left" || not_ok "temporary directories left: $left"

echo "1..$n"
exit $((fails > 0))
