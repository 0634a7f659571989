// mpqx template: a layer's output buffer in single-port RAM (iCE40 UltraPlus SB_SPRAM256KA, 16K x 16
// each), inferred by Yosys from ram_style "huge". One address: the write address while the producer
// writes, the read address otherwise; the registered read holds its value during a write (the block's
// no-change mode). Layers run one after another, so a buffer is never read while it is written and this
// behaves as ram.v does. DEPTH = 2^AW.
// @placeholder MODULE  module name of this variant
// @placeholder STYLE   ram_style value, a quoted string ("huge" for SPRAM)
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_ram_spram/*}}*/ #(
	parameter WIDTH = 8,
	parameter AW = 5
) (
	input  wire             clk,
	input  wire             we,
	input  wire [AW-1:0]    waddr,
	input  wire [WIDTH-1:0] wdata,
	input  wire [AW-1:0]    raddr,
	output reg  [WIDTH-1:0] rdata
);
	(* ram_style = /*{{STYLE*/"huge"/*}}*/ *)
	reg [WIDTH-1:0] mem [0:(1 << AW) - 1];

	wire [AW-1:0] addr = we ? waddr : raddr;

	always @(posedge clk) begin
		if (we)
			mem[addr] <= wdata;
		else
			rdata <= mem[addr];
	end
endmodule

`default_nettype wire
