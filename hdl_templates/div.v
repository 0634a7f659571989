// mpqx template: unsigned restoring divider with a fixed latency, for the softmax.
// `load` samples num and den; QW cycles later q = floor(num / den) and holds until the next load.
// The caller guarantees num < den * 2^QW (the softmax quotient is at most 2^QW - 1), so QW steps,
// one quotient bit per cycle from the top, are enough.
// @placeholder MODULE  module name
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_div/*}}*/ #(
	parameter NW = 25,   // numerator bits
	parameter DW = 14,   // denominator bits
	parameter QW = 8     // quotient bits
) (
	input  wire          clk,
	input  wire          load,
	input  wire [NW-1:0] num,
	input  wire [DW-1:0] den,
	output reg  [QW-1:0] q
);
	localparam SW = ((NW > DW + QW) ? NW : DW + QW) + 1;  // one spare bit
	localparam CW = $clog2(QW + 1);

	reg [SW-1:0] rem;
	reg [SW-1:0] dsh;   // den * 2^(bit being decided)
	reg [CW-1:0] left;  // steps still to do

	wire          take = rem >= dsh;
	wire [SW-1:0] num_w = {{(SW - NW){1'b0}}, num};
	wire [SW-1:0] den_w = {{(SW - DW){1'b0}}, den};
	// Constants sized to the counter (truncation intended).
	/* verilator lint_off WIDTH */
	localparam [CW-1:0] STEPS = QW;
	localparam [CW-1:0] ONE = 1;
	/* verilator lint_on WIDTH */

	always @(posedge clk) begin
		if (load) begin
			rem <= num_w;
			dsh <= den_w << (QW - 1);
			q <= {QW{1'b0}};
			left <= STEPS;
		end else if (left != 0) begin
			if (take)
				rem <= rem - dsh;
			q <= {q[QW-2:0], take};
			dsh <= dsh >> 1;
			left <= left - ONE;
		end
	end
endmodule

`default_nettype wire
