// mpqx template: split, the columns OFFSET..OFFSET+W-1 of x requantized, y[r,c] = rescale(x[r, OFFSET+c] - XZ).
// Per element: phase 0 reads, phase 1 starts the rescale, phase 2 writes: R * W * 3 + 1 cycles.
// @placeholder MODULE  module name (one per layer)
// @placeholder RAM     module of the output buffer's RAM variant
// @placeholder RESCALE module of the requantizer
// @placeholder R       rows
// @placeholder W       columns taken
// @placeholder XC      columns of x
// @placeholder OFFSET  first column taken
// @placeholder XB      input bits
// @placeholder XZ      input zero point
// @placeholder XAW     input buffer address bits
// @placeholder MW      multiplier bits
// @placeholder MUL     multiplier m
// @placeholder SHR     right shift n
// @placeholder YB      output bits
// @placeholder YZ      output zero point
// @placeholder YAW     output buffer address bits
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_split/*}}*/ #(
	parameter R = /*{{R*/24/*}}*/,
	parameter W = /*{{W*/8/*}}*/,
	parameter XC = /*{{XC*/16/*}}*/,
	parameter OFFSET = /*{{OFFSET*/8/*}}*/,
	parameter XB = /*{{XB*/8/*}}*/,
	parameter XZ = /*{{XZ*/-3/*}}*/,
	parameter XAW = /*{{XAW*/9/*}}*/,
	parameter MW = /*{{MW*/15/*}}*/,
	parameter [63:0] MUL = /*{{MUL*/64'd16384/*}}*/,
	parameter SHR = /*{{SHR*/14/*}}*/,
	parameter YB = /*{{YB*/8/*}}*/,
	parameter YZ = /*{{YZ*/-3/*}}*/,
	parameter YAW = /*{{YAW*/8/*}}*/
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
	localparam CW = $clog2(W + 1);
	localparam [1:0] P_ONE = 1;
	localparam [1:0] P_LAST = 2;
	localparam [CW-1:0] C_LAST = W - 1;
	localparam [CW-1:0] C_ONE = 1;
	localparam [XAW-1:0] X_FIRST = OFFSET;
	localparam [XAW-1:0] X_ROW = XC;
	localparam [XAW-1:0] X_ONE = 1;
	localparam [YAW-1:0] Y_LAST = R * W - 1;
	localparam [YAW-1:0] Y_ONE = 1;
	/* verilator lint_on WIDTH */

	reg           busy;
	reg [1:0]     p;
	reg [CW-1:0]  c;
	reg [XAW-1:0] xb;    // r*XC + OFFSET
	reg [XAW-1:0] xa;
	reg [YAW-1:0] ya;

	wire [YB-1:0] yq;

	assign x_addr = busy ? xa : {XAW{1'b0}};

	wire signed [XB:0] xv = $signed(x_data) - XZ;

	/*{{RESCALE*/mpqx_rescale/*}}*/ #(.IW(XB + 1), .MW(MW), .MUL(MUL), .SHR(SHR), .Z(YZ), .OB(YB)) u_rs (
		.clk(clk), .en(busy && p == P_ONE), .v(xv), .q(yq));

	/*{{RAM*/mpqx_ram/*}}*/ #(.WIDTH(YB), .AW(YAW)) u_buf (
		.clk(clk), .we(busy && p == P_LAST), .waddr(ya), .wdata(yq), .raddr(y_addr), .rdata(y_data));

	always @(posedge clk) begin
		done <= 1'b0;
		if (rst) begin
			busy <= 1'b0;
		end else if (!busy) begin
			if (start) begin
				busy <= 1'b1;
				p <= 2'd0;
				c <= {CW{1'b0}};
				xb <= X_FIRST;
				xa <= X_FIRST;
				ya <= {YAW{1'b0}};
			end
		end else if (p != P_LAST) begin
			p <= p + P_ONE;
		end else begin
			p <= 2'd0;
			ya <= ya + Y_ONE;
			if (c == C_LAST) begin
				c <= {CW{1'b0}};
				xb <= xb + X_ROW;
				xa <= xb + X_ROW;
			end else begin
				c <= c + C_ONE;
				xa <= xa + X_ONE;
			end
			if (ya == Y_LAST) begin
				busy <= 1'b0;
				done <= 1'b1;
			end
		end
	end
endmodule

`default_nettype wire
