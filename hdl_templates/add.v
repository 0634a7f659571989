// mpqx template: residual add with two input scales and one shift,
//     y = clamp(rshift_round(MA * (a - AZ) + MB * (b - BZ), SHR) + YZ, YB),
// two multipliers and the requantizer (with multiplier 1). Input b may be a buffer or the constant's ROM:
// both have a registered read. Per element: phase 0 reads, phase 1 multiplies and starts the rescale,
// phase 2 writes: WORDS * 3 + 1 cycles from start to done.
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
	localparam [1:0] P_ONE = 1;
	localparam [1:0] P_LAST = 2;
	localparam [YAW-1:0] Y_LAST = WORDS - 1;
	localparam [YAW-1:0] Y_ONE = 1;
	localparam signed [MAW:0] MAS = MA[MAW:0];   // as signed, one bit wider
	localparam signed [MBW:0] MBS = MB[MBW:0];
	/* verilator lint_on WIDTH */

	reg           busy;
	reg [1:0]     p;
	reg [YAW-1:0] e;

	wire [YB-1:0] yq;

	assign a_addr = busy ? e[AAW-1:0] : {AAW{1'b0}};
	assign b_addr = busy ? e[BAW-1:0] : {BAW{1'b0}};

	wire signed [AB:0]       av = $signed(a_data) - AZ;
	wire signed [BB:0]       bv = $signed(b_data) - BZ;
	wire signed [AB+MAW+1:0] pa = av * MAS;
	wire signed [BB+MBW+1:0] pb = bv * MBS;
	wire signed [ACCW-1:0]   pa_x = {{(ACCW - AB - MAW - 1){pa[AB+MAW+1]}}, pa[AB+MAW:0]};
	wire signed [ACCW-1:0]   pb_x = {{(ACCW - BB - MBW - 1){pb[BB+MBW+1]}}, pb[BB+MBW:0]};
	wire signed [ACCW-1:0]   acc = pa_x + pb_x;

	/*{{RESCALE*/mpqx_rescale/*}}*/ #(.IW(ACCW), .MW(1), .MUL(64'd1), .SHR(SHR), .Z(YZ), .OB(YB)) u_rs (
		.clk(clk), .en(busy && p == P_ONE), .v(acc), .q(yq));

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
