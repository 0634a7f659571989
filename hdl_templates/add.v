// mpqx template: residual add with two input scales and one shift,
//     y = clamp(rshift_round((MA * (a - AZ) << LA) + (MB * (b - BZ) << LB), SHR) + YZ, YB),
// with one multiplier used twice and the requantizer (with multiplier 1). LA and LB are 0 unless the
// inputs' scales differ so much that the smaller multiplier gets its own 15 bits: then the larger input's
// product is shifted left (doc/quantization.md, "add"), written by PA or PB. Input b may be a buffer or the
// constant's ROM: both have a registered read. Per element: phase 0 reads a and b, phase 1 registers
// MA * a', phase 2 adds MB * b' and starts the rescale, phase 3 writes: WORDS * 4 + 1 cycles from start
// to done.
// @placeholder MODULE  module name (one per layer)
// @placeholder RAM     module of the output buffer's RAM variant
// @placeholder RESCALE module of the requantizer
// @placeholder WORDS   elements (rows * cols)
// @placeholder AB      bits of a
// @placeholder AZ      zero point of a
// @placeholder AAW     address bits of a's buffer
// @placeholder BB      bits of b
// @placeholder BZ      zero point of b
// @placeholder BAW     address bits of b's buffer
// @placeholder MA      multiplier of a
// @placeholder MAW     bits of MA
// @placeholder MB      multiplier of b
// @placeholder MBW     bits of MB
// @placeholder SHR     the common right shift
// @placeholder ACCW    accumulator bits
// @placeholder PA      MA * a' as an accumulator word: prod_x, or (prod_x <<< LA)
// @placeholder PB      MB * b' as an accumulator word: prod_x, or (prod_x <<< LB)
// @placeholder YB      output bits
// @placeholder YZ      output zero point
// @placeholder YAW     output buffer address bits
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_add/*}}*/ #(
	parameter WORDS = /*{{WORDS*/384/*}}*/,
	parameter AB = /*{{AB*/8/*}}*/,
	parameter AZ = /*{{AZ*/-3/*}}*/,
	parameter AAW = /*{{AAW*/9/*}}*/,
	parameter BB = /*{{BB*/8/*}}*/,
	parameter BZ = /*{{BZ*/0/*}}*/,
	parameter BAW = /*{{BAW*/9/*}}*/,
	parameter [63:0] MA = /*{{MA*/64'd20000/*}}*/,
	parameter MAW = /*{{MAW*/15/*}}*/,
	parameter [63:0] MB = /*{{MB*/64'd9000/*}}*/,
	parameter MBW = /*{{MBW*/14/*}}*/,
	parameter SHR = /*{{SHR*/15/*}}*/,
	parameter ACCW = /*{{ACCW*/26/*}}*/,
	parameter YB = /*{{YB*/8/*}}*/,
	parameter YZ = /*{{YZ*/2/*}}*/,
	parameter YAW = /*{{YAW*/9/*}}*/
) (
	input  wire           clk,
	input  wire           rst,
	input  wire           start,
	output reg            done,
	output wire [AAW-1:0] a_addr,
	input  wire [AB-1:0]  a_data,
	output wire [BAW-1:0] b_addr,
	input  wire [BB-1:0]  b_data,
	input  wire [YAW-1:0] y_addr,
	output wire [YB-1:0]  y_data
);
	// Constants sized to the counters they are compared with (truncation intended).
	/* verilator lint_off WIDTH */
	localparam XW = (AB > BB ? AB : BB) + 1;          // multiplier operand: a' or b'
	localparam MX = (MAW > MBW ? MAW : MBW) + 1;      // multiplier operand: MA or MB, as signed
	localparam [1:0] P_ONE = 1;
	localparam [1:0] P_TWO = 2;
	localparam [1:0] P_LAST = 3;
	localparam [YAW-1:0] Y_LAST = WORDS - 1;
	localparam [YAW-1:0] Y_ONE = 1;
	localparam signed [MX-1:0] MAS = MA[MX-1:0];
	localparam signed [MX-1:0] MBS = MB[MX-1:0];
	/* verilator lint_on WIDTH */

	reg           busy;
	reg [1:0]     p;
	reg [YAW-1:0] e;

	wire [YB-1:0] yq;

	assign a_addr = busy ? e[AAW-1:0] : {AAW{1'b0}};
	assign b_addr = busy ? e[BAW-1:0] : {BAW{1'b0}};

	wire signed [AB:0]      av = $signed(a_data) - AZ;
	wire signed [BB:0]      bv = $signed(b_data) - BZ;
	wire                    second = p == P_TWO;
	wire signed [XW-1:0]    opx = second ? {{(XW - BB){bv[BB]}}, bv[BB-1:0]} : {{(XW - AB){av[AB]}}, av[AB-1:0]};
	wire signed [MX-1:0]    opm = second ? MBS : MAS;
	wire signed [XW+MX-1:0] prod = opx * opm;
	wire signed [ACCW-1:0]  prod_x = {{(ACCW - XW - MX + 1){prod[XW+MX-1]}}, prod[XW+MX-2:0]};
	reg  signed [ACCW-1:0]  pa;
	wire signed [ACCW-1:0]  acc = pa + /*{{PB*/prod_x/*}}*/;

	always @(posedge clk)
		if (busy && p == P_ONE)
			pa <= /*{{PA*/prod_x/*}}*/;

	/*{{RESCALE*/mpqx_rescale/*}}*/ #(.IW(ACCW), .MW(1), .MUL(64'd1), .SHR(SHR), .Z(YZ), .OB(YB)) u_rs (
		.clk(clk), .en(busy && second), .v(acc), .q(yq));

	/*{{RAM*/mpqx_ram/*}}*/ #(.WIDTH(YB), .AW(YAW)) u_buf (
		.clk(clk), .we(busy && p == P_LAST), .waddr(e), .wdata(yq), .raddr(y_addr), .rdata(y_data));

	always @(posedge clk) begin
		done <= 1'b0;
		if (rst) begin
			busy <= 1'b0;
		end else if (!busy) begin
			if (start) begin
				busy <= 1'b1;
				p <= 2'd0;
				e <= {YAW{1'b0}};
			end
		end else if (p != P_LAST) begin
			p <= p + P_ONE;
		end else begin
			p <= 2'd0;
			e <= e + Y_ONE;
			if (e == Y_LAST) begin
				busy <= 1'b0;
				done <= 1'b1;
			end
		end
	end
endmodule

`default_nettype wire
