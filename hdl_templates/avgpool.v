// mpqx template: average pooling over rows, y[c] = rescale(sum_r (x[r,c] - XZ)), the 1/RIN folded into the
// multiplier. The accumulator of the linear layer with no multiplication: per channel, phases 0..RIN-1
// read x[r, c], phases 1..RIN add, phase RIN+1 starts the rescale, phase RIN+2 writes:
// C * (RIN + 3) + 1 cycles from start to done.
// @placeholder MODULE  module name (one per layer)
// @placeholder RAM     module of the output buffer's RAM variant
// @placeholder RESCALE module of the requantizer
// @placeholder RIN     rows pooled
// @placeholder C       channels
// @placeholder XB      input bits
// @placeholder XZ      input zero point
// @placeholder XAW     input buffer address bits
// @placeholder ACCW    accumulator bits
// @placeholder MW      multiplier bits
// @placeholder MUL     multiplier m
// @placeholder SHR     right shift n
// @placeholder YB      output bits
// @placeholder YZ      output zero point
// @placeholder YAW     output buffer address bits
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_avgpool/*}}*/ #(
	parameter RIN = /*{{RIN*/24/*}}*/,
	parameter C = /*{{C*/16/*}}*/,
	parameter XB = /*{{XB*/8/*}}*/,
	parameter XZ = /*{{XZ*/-3/*}}*/,
	parameter XAW = /*{{XAW*/9/*}}*/,
	parameter ACCW = /*{{ACCW*/14/*}}*/,
	parameter MW = /*{{MW*/15/*}}*/,
	parameter [63:0] MUL = /*{{MUL*/64'd21000/*}}*/,
	parameter SHR = /*{{SHR*/19/*}}*/,
	parameter YB = /*{{YB*/8/*}}*/,
	parameter YZ = /*{{YZ*/1/*}}*/,
	parameter YAW = /*{{YAW*/4/*}}*/
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
	// Constants sized to the counters they are compared with (truncation intended).
	/* verilator lint_off WIDTH */
	localparam LAST = RIN + 2;
	localparam PW = $clog2(LAST + 1);
	localparam [PW-1:0] P_LAST = LAST;
	localparam [PW-1:0] P_ONE = 1;
	localparam [PW-1:0] P_K = RIN;
	localparam [PW-1:0] P_RS = RIN + 1;
	localparam [XAW-1:0] X_STEP = C;
	localparam [XAW-1:0] X_ONE = 1;
	localparam [YAW-1:0] Y_LAST = C - 1;
	localparam [YAW-1:0] Y_ONE = 1;
	localparam signed [ACCW-1:0] ZERO = 0;
	/* verilator lint_on WIDTH */

	reg           busy;
	reg [PW-1:0]  p;
	reg [XAW-1:0] xb;    // column c
	reg [XAW-1:0] xa;    // r*C + c
	reg [YAW-1:0] ya;

	wire [YB-1:0] yq;

	assign x_addr = busy ? xa : {XAW{1'b0}};

	wire signed [XB:0]     xv = $signed(x_data) - XZ;
	wire signed [ACCW-1:0] xv_x = {{(ACCW - XB){xv[XB]}}, xv[XB-1:0]};
	wire                   add = busy && p >= P_ONE && p <= P_K;
	wire                   clear = p == P_ONE;
	reg  signed [ACCW-1:0] acc;

	always @(posedge clk)
		if (add)
			acc <= (clear ? ZERO : acc) + xv_x;

	/*{{RESCALE*/mpqx_rescale/*}}*/ #(.IW(ACCW), .MW(MW), .MUL(MUL), .SHR(SHR), .Z(YZ), .OB(YB)) u_rs (
		.clk(clk), .en(busy && p == P_RS), .v(acc), .q(yq));

	/*{{RAM*/mpqx_ram/*}}*/ #(.WIDTH(YB), .AW(YAW)) u_buf (
		.clk(clk), .we(busy && p == P_LAST), .waddr(ya), .wdata(yq), .raddr(y_addr), .rdata(y_data));

	always @(posedge clk) begin
		done <= 1'b0;
		if (rst) begin
			busy <= 1'b0;
		end else if (!busy) begin
			if (start) begin
				busy <= 1'b1;
				p <= {PW{1'b0}};
				xb <= {XAW{1'b0}};
				xa <= {XAW{1'b0}};
				ya <= {YAW{1'b0}};
			end
		end else if (p != P_LAST) begin
			p <= p + P_ONE;
			xa <= xa + X_STEP;
		end else begin
			p <= {PW{1'b0}};
			ya <= ya + Y_ONE;
			xb <= xb + X_ONE;
			xa <= xb + X_ONE;
			if (ya == Y_LAST) begin
				busy <= 1'b0;
				done <= 1'b1;
			end
		end
	end
endmodule

`default_nettype wire
