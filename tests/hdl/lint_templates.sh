#!/bin/sh
# Every template is a valid Verilog-2005 file with its default parameters: Icarus (-g2005 -Wall, no
# warning at all) and Verilator (--lint-only --language 1364-2005) accept each one together with the
# blocks it instantiates. TAP output. Usage: lint_templates.sh SRCDIR
T="$1/hdl_templates"
n=0
fail=0
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT

check() { # top files...
	top=$1
	shift
	n=$((n + 1))
	files=""
	for f in "$@"; do files="$files $T/$f"; done
	# shellcheck disable=SC2086
	if ! iverilog -g2005 -Wall -o "$work/a.out" -s "$top" $files >"$work/log" 2>&1 || [ -s "$work/log" ]; then
		echo "not ok $n - iverilog $top"
		sed 's/^/# /' "$work/log"
		fail=1
		return
	fi
	if [ "$top" != mpqx_tb ]; then
		# shellcheck disable=SC2086
		if ! verilator --lint-only --language 1364-2005 --top-module "$top" $files >"$work/log" 2>&1; then
			echo "not ok $n - verilator $top"
			sed 's/^/# /' "$work/log"
			fail=1
			return
		fi
	fi
	echo "ok $n - $top ($*)"
}

echo "1..21"
check mpqx_ram ram.v
check mpqx_ram_spram ram_sp.v
check mpqx_rom rom.v
check mpqx_requant requant.v
check mpqx_rescale rescale.v requant.v
check mpqx_div div.v
check mpqx_input input.v ram.v
check mpqx_const const.v rom.v
check mpqx_linear linear.v ram.v rom.v requant.v
check mpqx_affine affine.v ram.v rom.v requant.v
check mpqx_matmul matmul.v ram.v requant.v
check mpqx_add add.v ram.v rescale.v requant.v
check mpqx_relu relu.v ram.v rescale.v requant.v
check mpqx_softmax softmax.v ram.v rom.v div.v
check mpqx_avgpool avgpool.v ram.v rescale.v requant.v
check mpqx_split split.v ram.v rescale.v requant.v
check mpqx_concat concat.v ram.v rescale.v requant.v
check mpqx_layernorm layernorm.v ram.v rom.v div.v requant.v
check mpqx_gelu gelu.v ram.v rom.v
check mpqx_top top.v input.v relu.v ram.v rescale.v requant.v
check mpqx_tb tb.v top.v input.v relu.v ram.v rescale.v requant.v
exit $fail
