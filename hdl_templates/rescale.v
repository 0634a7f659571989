// mpqx template: the requantizer of doc/quantization.md,
//     q = clamp(rshift_round(v * MUL, SHR) + Z, OB)
// with rshift_round on the magnitude (round half away from zero). Two stages: `en` samples v and
// registers |v| * MUL and the sign; the shift, rounding, zero point and clamp are combinational after it,
// so q is valid from the cycle after `en` until the next `en`.
// @placeholder MODULE  module name
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_rescale/*}}*/ #(
	parameter IW = 24,                 // input width, signed
	parameter MW = 15,                 // multiplier width
	parameter [63:0] MUL = 64'd16384,  // multiplier m, MW bits
	parameter SHR = 20,                // right shift n
	parameter Z = 0,                   // output zero point
	parameter OB = 8                   // output bits
) (
	input  wire                 clk,
	input  wire                 en,
	input  wire signed [IW-1:0] v,
	output wire        [OB-1:0] q
);
	localparam PW = IW + MW;                     // |v| <= 2^(IW-1), so |v| * MUL < 2^(PW-1)
	localparam TW = (PW > 32 ? PW : 32) + 2;     // the signed result before the clamp, Z included
	localparam [MW-1:0] MV = MUL[MW-1:0];
	localparam [PW:0] ONE = 1;
	localparam [PW:0] HALF = (ONE << SHR) >> 1;  // 2^(n-1), or 0 when n = 0
	localparam signed [TW-1:0] QMIN = -(1 << (OB - 1));
	localparam signed [TW-1:0] QMAX = (1 << (OB - 1)) - 1;
	// Z is a 32-bit integer; widening it is intended (Verilator flags any width change of a parameter).
	/* verilator lint_off WIDTH */
	localparam signed [TW-1:0] ZV = Z;
	/* verilator lint_on WIDTH */

	wire [IW-1:0] mag = v[IW-1] ? (~v + 1'b1) : v;
	reg  [PW-1:0] prod;
	reg           neg;

	always @(posedge clk)
		if (en) begin
			prod <= mag * MV;
			neg <= v[IW-1];
		end

	wire        [PW:0]   sh = ({1'b0, prod} + HALF) >> SHR;
	wire signed [TW-1:0] sm = $signed({{(TW - PW - 1){1'b0}}, sh});
	wire signed [TW-1:0] t = (neg ? -sm : sm) + ZV;

	assign q = (t < QMIN) ? QMIN[OB-1:0] : (t > QMAX) ? QMAX[OB-1:0] : t[OB-1:0];
endmodule

`default_nettype wire
