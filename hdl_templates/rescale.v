// mpqx template: a requantizer with its own multiplier (for the layers without a MAC),
//     q = clamp(rshift_round(v * MUL, SHR) + Z, OB)       (doc/quantization.md)
// `en` samples v and registers |v| * MUL and the sign; the tail (shift, rounding, zero point, clamp) is
// combinational after it, so q is valid from the cycle after `en` until the next `en`.
// @placeholder MODULE  module name
// @placeholder REQUANT module of the requantizer's tail
// @placeholder LOGIC   1: the constant product as a shift-add in logic, 0: a multiplier (a DSP slice)
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_rescale/*}}*/ #(
	parameter IW = 24,                 // input width, signed
	parameter MW = 15,                 // multiplier width
	parameter [63:0] MUL = 64'd16384,  // multiplier m, MW bits
	parameter SHR = 20,                // right shift n
	parameter Z = 0,                   // output zero point
	parameter OB = 8,                  // output bits
	parameter LOGIC = /*{{LOGIC*/0/*}}*/ // 1: |v| * MUL as a shift-add over its signed digits
) (
	input  wire                 clk,
	input  wire                 en,
	input  wire signed [IW-1:0] v,
	output wire        [OB-1:0] q
);
	localparam PW = IW + MW;           // |v| <= 2^(IW-1), so |v| * MUL < 2^(PW-1)
	localparam [MW-1:0] MV = MUL[MW-1:0];

	// The tail's rounding (p + 2^(SHR-1)) >> SHR cannot see the product's bits below SHR-1. When MUL is a
	// power of two (a shift, no multiplier) only bits PW-1..PLO are registered and the rest reach it as
	// zeros; a real multiplier keeps the whole product register, which synthesis puts into the DSP slice
	// (a part of it would stay in flip-flops).
	localparam POW2 = (MV & (MV - 1'b1)) == 0;
	localparam PLO = (SHR < 2 || !POW2) ? 0 : (SHR - 1 < PW ? SHR - 1 : PW - 1);

	wire [IW-1:0] mag = v[IW-1] ? (~v + 1'b1) : v;
	wire [PW-1:0] full;
	generate
		if (LOGIC) begin : g_logic
			// Canonical signed digits of m: m = CP - CN, no two adjacent digits non-zero; the sum is
			// taken modulo 2^PW, exact as |v| * m < 2^PW.
			/* verilator lint_off WIDTH */
			localparam [65:0] M1 = MUL;
			localparam [65:0] M3 = M1 + (M1 << 1);
			localparam [65:0] CP = (M3 & ~M1) >> 1;
			localparam [65:0] CN = (~M3 & M1) >> 1;
			wire [PW-1:0] me = mag;
			/* verilator lint_on WIDTH */
			reg  [PW-1:0] cp;
			integer j;
			always @* begin
				cp = {PW{1'b0}};
				for (j = 0; j <= MW; j = j + 1) begin
					if (CP[j])
						cp = cp + (me << j);
					if (CN[j])
						cp = cp - (me << j);
				end
			end
			assign full = cp;
		end else begin : g_dsp
			assign full = mag * MV;
		end
	endgenerate
	reg  [PW-1:PLO] prod;
	reg           neg;
	/* verilator lint_off WIDTH */
	wire [PW-1:0] px = prod << PLO;    // zero-extended, then shifted into place
	/* verilator lint_on WIDTH */

	always @(posedge clk)
		if (en) begin
			prod <= full[PW-1:PLO];
			neg <= v[IW-1];
		end

	/*{{REQUANT*/mpqx_requant/*}}*/ #(.PW(PW), .SHR(SHR), .Z(Z), .OB(OB)) u_rq (.p(px), .neg(neg), .q(q));
endmodule

`default_nettype wire
