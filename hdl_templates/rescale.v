// mpqx template: a requantizer with its own multiplier (for the layers without a MAC),
//     q = clamp(rshift_round(v * MUL, SHR) + Z, OB)       (doc/quantization.md)
// `en` samples v and registers |v| * MUL and the sign; the tail (shift, rounding, zero point, clamp) is
// combinational after it, so q is valid from the cycle after `en` until the next `en`.
// @placeholder MODULE  module name
// @placeholder REQUANT module of the requantizer's tail
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
	localparam PW = IW + MW;           // |v| <= 2^(IW-1), so |v| * MUL < 2^(PW-1)
	localparam [MW-1:0] MV = MUL[MW-1:0];

	wire [IW-1:0] mag = v[IW-1] ? (~v + 1'b1) : v;
	reg  [PW-1:0] prod;
	reg           neg;

	always @(posedge clk)
		if (en) begin
			prod <= mag * MV;
			neg <= v[IW-1];
		end

	/*{{REQUANT*/mpqx_requant/*}}*/ #(.PW(PW), .SHR(SHR), .Z(Z), .OB(OB)) u_rq (.p(prod), .neg(neg), .q(q));
endmodule

`default_nettype wire
