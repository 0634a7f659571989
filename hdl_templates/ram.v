// mpqx template: a layer's output buffer, a simple dual-port RAM with a registered read.
// The producer writes port A, consumers read port B; DEPTH = 2^AW. The storage reaches synthesis
// through ram_style ("block" or "distributed").
// @placeholder MODULE  module name of this variant
// @placeholder STYLE   ram_style value, a quoted string
// @placeholder KEEP    (* keep_hierarchy *) for a distributed RAM on xc7, else empty
`timescale 1ns / 1ps
`default_nettype none

// A distributed RAM keeps its own module: a flattening synthesis would map its read multiplexer
// together with the logic around it and make it larger (doc/hardware.md, "What flattening adds").
/*{{KEEP*//*}}*/
module /*{{MODULE*/mpqx_ram/*}}*/ #(
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
	(* ram_style = /*{{STYLE*/"block"/*}}*/ *)
	reg [WIDTH-1:0] mem [0:(1 << AW) - 1];

	always @(posedge clk) begin
		if (we)
			mem[waddr] <= wdata;
		rdata <= mem[raddr];
	end
endmodule

`default_nettype wire
