#!/usr/bin/env bash
# mpqx export --simulator verilator: Verilator 5 builds the same testbench as Icarus and checks the same
# windows (RESULT line, every buffer against the integer model, the cycle count), and a wrong expected
# value makes the built simulator exit 1. One Verilator build (tiny, 2 windows). Skipped when verilator
# is not installed. Usage: test_verilator.sh MPQX SRC_DIR. Prints TAP.
set -u
mpqx=$1
src=$2
if ! command -v verilator >/dev/null; then
	echo "1..0 # SKIP verilator is not installed"
	exit 0
fi
. "$src/tests/tap.sh"
tiny=$src/tests/data/tiny
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect 2 "expected icarus or verilator, got 'modelsim'" "an unknown simulator is a usage error" -- \
	export "$tiny" -o "$tmp/x" --simulator modelsim

json=$("$mpqx" export "$tiny" -o "$tmp/v" --windows 2 --simulator verilator --json 2>"$tmp/err")
status=$?
if [ "$status" -eq 0 ] && printf '%s' "$json" | grep -q '"simulator":	"verilator"' &&
	printf '%s' "$json" | grep -q '"result":	"RESULT windows=2 mismatches=0 cycles=3925"' &&
	printf '%s' "$json" | grep -q '"ok":	true' && [ -x "$tmp/v/sim/verilator/Vmpqx_tb" ]; then
	ok "verilator: 2 windows, every buffer as the integer model, the cycles as computed"
else
	not_ok "verilator run" "status $status" "stdout: $(printf '%s' "$json" | head -c 600)" \
		"stderr: $(head -c 600 "$tmp/err")" "build log: $(tail -n 20 "$tmp/v/sim/verilator.log" 2>/dev/null)"
fi
# The same dump as the integer model, value for value (the check above read it; this is the file).
cmp -s "$tmp/v/sim/dump.txt" "$tmp/v/vec/layers.txt" && ok "sim/dump.txt equals vec/layers.txt" ||
	not_ok "sim/dump.txt differs from vec/layers.txt"

# A wrong expected output: the built simulator reports it and exits 1 (the status Icarus would give).
if [ -x "$tmp/v/sim/verilator/Vmpqx_tb" ]; then
	awk 'NR == 1 { print ($0 == "00" ? "01" : "00"); next } { print }' "$tmp/v/vec/expected.hex" >"$tmp/exp"
	mv "$tmp/exp" "$tmp/v/vec/expected.hex"
	out=$(cd "$tmp/v" && sim/verilator/Vmpqx_tb 2>&1)
	status=$?
	if [ "$status" -eq 1 ] && printf '%s' "$out" | grep -q '^MISMATCH window=0 index=0' &&
		printf '%s' "$out" | grep -q '^RESULT windows=2 mismatches=1 '; then
		ok "a wrong expected value: MISMATCH, mismatches=1, exit 1"
	else
		not_ok "mismatch not reported" "status $status" "$(printf '%s' "$out" | head -c 400)"
	fi
	rm "$tmp/v/mem/pe.mem"
	out=$(cd "$tmp/v" && sim/verilator/Vmpqx_tb 2>&1)
	status=$?
	if [ "$status" -eq 2 ] && printf '%s' "$out" | grep -q 'ERROR: missing file mem/pe.mem'; then
		ok "a missing .mem file: named, exit 2"
	else
		not_ok "missing file not reported" "status $status" "$(printf '%s' "$out" | head -c 400)"
	fi
else
	not_ok "no simulator was built"
	not_ok "no simulator was built"
fi
echo "1..$n"
[ "$fails" -eq 0 ]
