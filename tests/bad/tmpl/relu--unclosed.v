// mpqx template: ReLU with the requantizer, y = rescale(max(x - XZ, 0)). Per element: phase 0 reads,
// phase 1 starts the rescale, phase 2 writes: WORDS * 3 + 1 cycles from start to done.
// @placeholder MODULE  module name (one per layer)
// @placeholder RAM     module of the output buffer's RAM variant
// @placeholder RESCALE module of the requantizer
// @placeholder WORDS   elements (rows * cols)
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

module /*{{MODULE*/mpqx_relu/*}}*/ #(
	parameter WORDS = /*{{WORDS*/1536/*}}*/,
	parameter XB = /*{{XB*/8/*}}*/,
	parameter XZ = /*{{XZ*/-3/*}}*/,
	parameter XAW = /*{{XAW*/11/*}}*/,
	parameter MW = /*{{MW*/15/*}}*/,
	parameter [63:0] MUL = /*{{MUL*/64'd16800/*}}*/,
	parameter SHR = /*{{SHR*/14/*}}*/,
	parameter YB = /*{{YB*/8/*}}*/,
	parameter YZ = /*{{YZ*/-128/*}}*/,
	parameter YAW = /*{{YAW*/11/*}}*/
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
	localparam [1:0] P_ONE = 1;
	localparam [1:0] P_LAST = 2;
	localparam [YAW-1:0] Y_LAST = WORDS - 1;
	localparam [YAW-1:0] Y_ONE = 1;
	localparam signed [XB:0] ZERO = 0;
	/* verilator lint_on WIDTH */

	reg           busy;
	reg [1:0]     p;
	reg [YAW-1:0] e;

	wire [YB-1:0] yq;

	assign x_addr = busy ? e[XAW-1:0] : {XAW{1'b0}};

	wire signed [XB:0] xv = $signed(x_data) - XZ;
	wire signed [XB:0] v = xv[XB] ? ZERO : xv;

	/*{{RESCALE*/mpqx_rescale/*}}*/ #(.IW(XB + 1), .MW(MW), .MUL(MUL), .SHR(SHR), .Z(YZ), .OB(YB)) u_rs (
		.clk(clk), .en(busy && p == P_ONE), .v(v), .q(yq));

	/*{{RAM*/mpqx_ram #(.WIDTH(YB), .AW(YAW)) u_buf (
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
