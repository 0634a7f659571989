// mpqx template: the requantizer's tail, combinational: from the magnitude of a rescale product p and
// its sign,
//     q = clamp(sign * ((p + 2^(SHR-1)) >> SHR) + Z, OB)
// which is rshift_round of doc/quantization.md (rounding half away from zero, on the magnitude) plus the
// zero point and the clamp. The product comes from the layer's multiplier (shared with its MAC) or from
// the rescale block.
// @placeholder MODULE  module name
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_requant/*}}*/ #(
	parameter PW = 38,   // product bits (unsigned)
	parameter SHR = 20,  // right shift n
	parameter Z = 0,     // output zero point
	parameter OB = 8     // output bits
) (
	input  wire [PW-1:0] p,
	input  wire          neg,
	output wire [OB-1:0] q
);
	localparam TW = (PW > 32 ? PW : 32) + 2;    // the signed result before the clamp, Z included
	localparam [PW:0] ONE = 1;
	localparam [PW:0] HALF = (ONE << SHR) >> 1;  // 2^(n-1), or 0 when n = 0
	localparam signed [TW-1:0] QMIN = -(1 << (OB - 1));
	localparam signed [TW-1:0] QMAX = (1 << (OB - 1)) - 1;
	// Z is a 32-bit integer; widening it is intended (Verilator flags any width change of a parameter).
	/* verilator lint_off WIDTH */
	localparam signed [TW-1:0] ZV = Z;
	/* verilator lint_on WIDTH */

	wire        [PW:0]   sh = ({1'b0, p} + HALF) >> SHR;
	wire signed [TW-1:0] sm = $signed({{(TW - PW - 1){1'b0}}, sh});
	wire signed [TW-1:0] t = (neg ? -sm : sm) + ZV;

	assign q = (t < QMIN) ? QMIN[OB-1:0] : (t > QMAX) ? QMAX[OB-1:0] : t[OB-1:0];
endmodule

`default_nettype wire
