// mpqx template: layernorm of each row of C values (doc/quantization.md), one state machine:
//     S = sum_c x'_c;  d_c = C * x'_c - S;  V = sum_c d_c^2;  r = max(1, isqrt(V + E))
//     n_c = sign(d_c) * floor((2^(F+1) * |d_c| + r) / (2 * r))
//     y[r,c] = requant(q_b[c] + (q_g[c] - WZ) * n_c)
// Per row a scan of 2C + 1 + RW cycles: C reads for the sum, C reads for the sum of squares (both lag one
// cycle behind their address), then the square root of V + E bit by bit, one result bit per cycle (RW
// cycles); then per element F + 6 cycles: read x, g and b; load the divider; F + 1 divider steps;
// g' * n; the rescale; write. R * (2C + 1 + RW + C * (F + 6)) + 1 cycles from start to done.
// One multiplier serves d * d, g' * n and |acc + b| * m; C * x' is shifts and adds.
// @placeholder MODULE  module name (one per layer)
// @placeholder RAM     module of the output buffer's RAM variant
// @placeholder WROM    module of the gamma ROM's variant
// @placeholder BROM    module of the beta ROM's variant
// @placeholder DIV     module of the divider
// @placeholder REQUANT module of the requantizer's tail
// @placeholder R       rows
// @placeholder C       values per row
// @placeholder XB      input bits
// @placeholder XZ      input zero point
// @placeholder XAW     input buffer address bits
// @placeholder WB      gamma bits
// @placeholder WZ      gamma zero point
// @placeholder WAW     gamma and beta ROM address bits
// @placeholder W_INIT  gamma ROM .mem file
// @placeholder BB      beta bits
// @placeholder B_INIT  beta ROM .mem file
// @placeholder F       fraction bits of the normalised value
// @placeholder SW      bits of the row sum S (signed)
// @placeholder DW      bits of d (signed)
// @placeholder VW      bits of V + E (unsigned)
// @placeholder RW      bits of its square root
// @placeholder E       the eps term E
// @placeholder NW      bits of the divider's numerator
// @placeholder ACCW    accumulator bits
// @placeholder MW      multiplier bits
// @placeholder MUL     multiplier m
// @placeholder SHR     right shift n
// @placeholder YB      output bits
// @placeholder YZ      output zero point
// @placeholder YAW     output buffer address bits
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_layernorm/*}}*/ #(
	parameter R = /*{{R*/24/*}}*/,
	parameter C = /*{{C*/16/*}}*/,
	parameter XB = /*{{XB*/8/*}}*/,
	parameter XZ = /*{{XZ*/-3/*}}*/,
	parameter XAW = /*{{XAW*/9/*}}*/,
	parameter WB = /*{{WB*/8/*}}*/,
	parameter WZ = /*{{WZ*/5/*}}*/,
	parameter WAW = /*{{WAW*/4/*}}*/,
	parameter W_INIT = /*{{W_INIT*/"layernorm_w.mem"/*}}*/,
	parameter BB = /*{{BB*/12/*}}*/,
	parameter B_INIT = /*{{B_INIT*/"layernorm_b.mem"/*}}*/,
	parameter F = /*{{F*/13/*}}*/,
	parameter SW = /*{{SW*/13/*}}*/,
	parameter DW = /*{{DW*/13/*}}*/,
	parameter VW = /*{{VW*/28/*}}*/,
	parameter RW = /*{{RW*/14/*}}*/,
	parameter [63:0] E = /*{{E*/64'd100/*}}*/,
	parameter NW = /*{{NW*/28/*}}*/,
	parameter ACCW = /*{{ACCW*/23/*}}*/,
	parameter MW = /*{{MW*/15/*}}*/,
	parameter [63:0] MUL = /*{{MUL*/64'd21000/*}}*/,
	parameter SHR = /*{{SHR*/20/*}}*/,
	parameter YB = /*{{YB*/8/*}}*/,
	parameter YZ = /*{{YZ*/1/*}}*/,
	parameter YAW = /*{{YAW*/9/*}}*/
) (
	input  wire           clk,
	input  wire           rst,
	input  wire           start,
	output reg            done,
	output wire [XAW-1:0] x_addr,
	input  wire [XB-1:0]  x_data,
	input  wire [YAW-1:0] y_addr,
	output wire [YB-1:0]  y_data
);
	localparam QW = F + 1;                                       // quotient bits: n <= 2^F
	localparam QS = 2 * RW + 1;                                  // the square root's trial values
	localparam SA0 = (DW > ACCW) ? DW : ACCW;
	localparam SA = (SA0 > F + 2) ? SA0 : F + 2;                 // operand a: d, n or |acc + b|
	localparam SB0 = (DW > WB + 1) ? DW : WB + 1;
	localparam SB = (SB0 > MW + 1) ? SB0 : MW + 1;               // operand b: d, g' or m
	localparam RPW = ACCW - 1 + MW;                              // bits of |acc + b| * m
	localparam PZW = (SA + SB > VW) ? SA + SB : VW;              // the product zero-extended to V's width
	localparam SCAN_LAST = 2 * C + RW;
	localparam PW = $clog2(SCAN_LAST + 1);
	localparam CW = $clog2(C + 1);
	localparam U_LAST = QW + 4;
	localparam UW = $clog2(U_LAST + 1);
	// Constants sized to the counters they are compared with (truncation intended).
	/* verilator lint_off WIDTH */
	localparam [PW-1:0] P_ONE = 1;
	localparam [PW-1:0] P_S_LAST = C;
	localparam [PW-1:0] P_V_FIRST = C + 1;
	localparam [PW-1:0] P_V_LAST = 2 * C;
	localparam [PW-1:0] P_LAST = SCAN_LAST;
	localparam [CW-1:0] C_LAST = C - 1;
	localparam [CW-1:0] C_ONE = 1;
	localparam [UW-1:0] U_ONE = 1;
	localparam [UW-1:0] U_LOAD = 1;
	localparam [UW-1:0] U_G = QW + 2;
	localparam [UW-1:0] U_RS = QW + 3;
	localparam [UW-1:0] U_WRITE = U_LAST;
	localparam [XAW-1:0] X_ONE = 1;
	localparam [XAW-1:0] X_ROW = C;
	localparam [YAW-1:0] Y_ONE = 1;
	localparam [YAW-1:0] Y_LAST = R * C - 1;
	localparam signed [SW-1:0] S_ZERO = 0;
	localparam [VW-1:0] EV = E[VW-1:0];
	localparam [QS-1:0] BQ_TOP = {{(QS - 1){1'b0}}, 1'b1} << (2 * (RW - 1));
	localparam [QS-1:0] QS_ZERO = 0;
	localparam [RW-1:0] R_ONE = 1;
	localparam signed [SB-1:0] MS = MUL[SB-1:0];
	/* verilator lint_on WIDTH */

	reg           busy;
	reg           scan;  // 1: the sums and the square root of a row, 0: its outputs
	reg [PW-1:0]  p;     // scan phase
	reg [CW-1:0]  col;   // scan column
	reg [CW-1:0]  c;     // output column
	reg [UW-1:0]  u;     // phase within an output element
	reg [XAW-1:0] rb;    // row base r*C
	reg [XAW-1:0] xa;
	reg [YAW-1:0] ya;
	reg signed [SW-1:0] s;
	reg [VW-1:0]  v;     // V + E, then the square root's remainder
	reg [QS-1:0]  res;   // the square root being built
	reg [QS-1:0]  bq;    // 4^(steps left - 1)
	reg           dneg;

	wire [WB-1:0] w_data;
	wire [BB-1:0] b_data;
	wire [QW-1:0] q;
	wire [YB-1:0] yq;

	assign x_addr = busy ? xa : {XAW{1'b0}};

	/*{{WROM*/mpqx_rom/*}}*/ #(.WIDTH(WB), .AW(WAW), .INIT(W_INIT)) u_wrom (
		.clk(clk), .addr(c[WAW-1:0]), .data(w_data));
	/*{{BROM*/mpqx_rom/*}}*/ #(.WIDTH(BB), .AW(WAW), .INIT(B_INIT)) u_brom (
		.clk(clk), .addr(c[WAW-1:0]), .data(b_data));

	// C * v as a sum of shifted copies, one per set bit of C: no multiplier (Yosys would give a constant
	// product of 9 bits or more a DSP48E1 of its own).
	/* verilator lint_off WIDTH */
	function [SW-1:0] times_c;
		input [SW-1:0] v;
		integer k;
		begin
			times_c = {SW{1'b0}};
			for (k = 0; k < 31; k = k + 1)
				if ((C >> k) & 1)
					times_c = times_c + (v << k);
		end
	endfunction
	/* verilator lint_on WIDTH */

	// d = C * x' - S of the value being read.
	wire signed [XB:0]   xv = $signed(x_data) - XZ;
	wire signed [SW-1:0] xs = {{(SW - XB - 1){xv[XB]}}, xv};
	wire signed [SW-1:0] dfull = $signed(times_c(xs)) - s;
	wire signed [DW-1:0] d = dfull[DW-1:0];
	wire        [DW-1:0] dmag = d[DW-1] ? (~d + 1'b1) : d;

	// The square root: one result bit per step.
	wire [QS-1:0] vq = {{(QS - VW){1'b0}}, v};
	wire [QS-1:0] trial = res + bq;
	wire          take = vq >= trial;
	wire [QS-1:0] vleft = vq - trial;
	wire [RW-1:0] root = res[RW-1:0];
	wire [RW-1:0] rr = (root == {RW{1'b0}}) ? R_ONE : root;

	// Divider operands: 2^(F+1) * |d| + r over 2 * r.
	wire [NW-1:0] num = ({{(NW - DW){1'b0}}, dmag} << (F + 1)) + {{(NW - RW){1'b0}}, rr};
	wire [RW:0]   den = {rr, 1'b0};

	/*{{DIV*/mpqx_div/*}}*/ #(.NW(NW), .DW(RW + 1), .QW(QW)) u_div (
		.clk(clk), .load(busy && !scan && u == U_LOAD), .num(num), .den(den), .q(q));

	// One multiplier: d * d (scan), g' * n (U_G), |acc + b| * m (U_RS).
	wire signed [QW:0]     qn = {1'b0, q};
	wire signed [QW:0]     n = dneg ? -qn : qn;
	wire signed [WB:0]     wv = $signed(w_data) - WZ;
	reg  signed [ACCW-1:0] acc;
	wire signed [ACCW-1:0] bias = {{(ACCW - BB + 1){b_data[BB-1]}}, b_data[BB-2:0]};
	wire signed [ACCW-1:0] sum = acc + bias;
	wire        [ACCW-1:0] mag = sum[ACCW-1] ? (~sum + 1'b1) : sum;
	wire                   rs = u == U_RS;
	wire signed [SA-1:0]   opa = scan ? {{(SA - DW){d[DW-1]}}, d} :
				     rs ? $signed({{(SA - ACCW){1'b0}}, mag}) : {{(SA - QW - 1){n[QW]}}, n};
	wire signed [SB-1:0]   opb = scan ? {{(SB - DW){d[DW-1]}}, d} : rs ? MS : {{(SB - WB - 1){wv[WB]}}, wv};
	wire signed [SA+SB-1:0] prod = opa * opb;
	// d * d >= 0 has at most 2 DW - 2 bits, but V's VW bits can exceed SA + SB (C d^2 + E > 2^(SA+SB) when
	// DW dominates both operands): widen with zeros before taking VW bits.
	wire        [PZW-1:0]  pz = {{(PZW - SA - SB){1'b0}}, prod};
	wire        [VW-1:0]   dd = pz[VW-1:0];
	reg         [RPW-1:0]  pr;
	reg                    neg;

	always @(posedge clk) begin
		if (busy && !scan && u == U_G)
			acc <= prod[ACCW-1:0];
		if (busy && !scan && rs) begin
			pr <= prod[RPW-1:0];
			neg <= sum[ACCW-1];
		end
	end

	/*{{REQUANT*/mpqx_requant/*}}*/ #(.PW(RPW), .SHR(SHR), .Z(YZ), .OB(YB)) u_rq (.p(pr), .neg(neg), .q(yq));

	/*{{RAM*/mpqx_ram/*}}*/ #(.WIDTH(YB), .AW(YAW)) u_buf (
		.clk(clk), .we(busy && !scan && u == U_WRITE), .waddr(ya), .wdata(yq), .raddr(y_addr),
		.rdata(y_data));

	always @(posedge clk) begin
		done <= 1'b0;
		if (rst) begin
			busy <= 1'b0;
		end else if (!busy) begin
			if (start) begin
				busy <= 1'b1;
				scan <= 1'b1;
				p <= {PW{1'b0}};
				col <= {CW{1'b0}};
				rb <= {XAW{1'b0}};
				xa <= {XAW{1'b0}};
				ya <= {YAW{1'b0}};
			end
		end else if (scan) begin
			if (col == C_LAST) begin
				col <= {CW{1'b0}};
				xa <= rb;
			end else begin
				col <= col + C_ONE;
				xa <= xa + X_ONE;
			end
			if (p == {PW{1'b0}}) begin
				res <= QS_ZERO;
				bq <= BQ_TOP;
			end
			if (p >= P_ONE && p <= P_S_LAST)
				s <= (p == P_ONE ? S_ZERO : s) + xs;
			if (p >= P_V_FIRST && p <= P_V_LAST)
				v <= (p == P_V_FIRST ? EV : v) + dd;
			if (p > P_V_LAST) begin
				if (take) begin
					v <= vleft[VW-1:0];
					res <= (res >> 1) + bq;
				end else begin
					res <= res >> 1;
				end
				bq <= bq >> 2;
			end
			if (p == P_LAST) begin
				scan <= 1'b0;
				u <= {UW{1'b0}};
				c <= {CW{1'b0}};
				xa <= rb;
			end else begin
				p <= p + P_ONE;
			end
		end else if (u != U_WRITE) begin
			if (u == U_LOAD)
				dneg <= d[DW-1];
			u <= u + U_ONE;
		end else begin
			u <= {UW{1'b0}};
			ya <= ya + Y_ONE;
			if (c == C_LAST) begin
				if (ya == Y_LAST) begin
					busy <= 1'b0;
					done <= 1'b1;
				end
				scan <= 1'b1;
				p <= {PW{1'b0}};
				col <= {CW{1'b0}};
				rb <= rb + X_ROW;
				xa <= rb + X_ROW;
			end else begin
				c <= c + C_ONE;
				xa <= xa + X_ONE;
			end
		end
	end
endmodule

`default_nettype wire
