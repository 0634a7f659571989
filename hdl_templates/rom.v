// mpqx template: a ROM (weights, biases, the softmax exponent table, a constant) loaded by $readmemh,
// with a registered read. The .mem file holds exactly 2^AW words. The storage reaches synthesis
// through rom_style ("block" or "logic"; Yosys refuses "distributed" on a ROM).
// @placeholder MODULE  module name of this variant
// @placeholder STYLE   rom_style value, a quoted string
// @placeholder KEEP    (* keep_hierarchy *) for a ROM in logic on xc7, else empty
`timescale 1ns / 1ps
`default_nettype none

// A ROM in logic keeps its own module: a flattening synthesis would map the table together with the
// logic that computes its address and make it up to several times larger (doc/hardware.md, "What
// flattening adds").
/*{{KEEP*//*}}*/
module /*{{MODULE*/mpqx_rom/*}}*/ #(
	parameter WIDTH = 8,
	parameter AW = 5,
	parameter INIT = ""          // the .mem file; empty: no contents (a template on its own)
) (
	input  wire             clk,
	input  wire [AW-1:0]    addr,
	output reg  [WIDTH-1:0] data
);
	(* rom_style = /*{{STYLE*/"block"/*}}*/ *)
	reg [WIDTH-1:0] mem [0:(1 << AW) - 1];

	generate
		if (INIT != "") begin : g_init
			initial $readmemh(INIT, mem);
		end
	endgenerate

	always @(posedge clk)
		data <= mem[addr];
endmodule

`default_nettype wire
