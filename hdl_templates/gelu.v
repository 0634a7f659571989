// mpqx template: gelu through its table (doc/quantization.md), y = T[(x - qmin(XB)) >> T], read like a
// one-input ROM. Per element: phase 0 reads x, phase 1 reads the table, phase 2 writes: WORDS * 3 + 1
// cycles from start to done. The clamp flags of the table are the C model's statistics only.
// @placeholder MODULE  module name (one per layer)
// @placeholder RAM     module of the output buffer's RAM variant
// @placeholder TROM    module of the table ROM's variant
// @placeholder WORDS   elements (rows * cols)
// @placeholder XB      input bits
// @placeholder XAW     input buffer address bits
// @placeholder T       table index shift
// @placeholder TAW     table address bits (XB - T)
// @placeholder T_INIT  table .mem file
// @placeholder YB      output bits
// @placeholder YAW     output buffer address bits
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_gelu/*}}*/ #(
	parameter WORDS = /*{{WORDS*/1536/*}}*/,
	parameter XB = /*{{XB*/8/*}}*/,
	parameter XAW = /*{{XAW*/11/*}}*/,
	parameter T = /*{{T*/0/*}}*/,
	parameter TAW = /*{{TAW*/8/*}}*/,
	parameter T_INIT = /*{{T_INIT*/"gelu_t.mem"/*}}*/,
	parameter YB = /*{{YB*/8/*}}*/,
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
	/* verilator lint_on WIDTH */

	reg           busy;
	reg [1:0]     p;
	reg [YAW-1:0] e;

	wire [YB-1:0] t_data;

	assign x_addr = busy ? e[XAW-1:0] : {XAW{1'b0}};

	// (x - qmin) is x with its sign bit inverted
	wire [XB-1:0] xo = {~x_data[XB-1], x_data[XB-2:0]};
	wire [XB-1:0] idx = xo >> T;

	/*{{TROM*/mpqx_rom/*}}*/ #(.WIDTH(YB), .AW(TAW), .INIT(T_INIT)) u_trom (
		.clk(clk), .addr(idx[TAW-1:0]), .data(t_data));

	/*{{RAM*/mpqx_ram/*}}*/ #(.WIDTH(YB), .AW(YAW)) u_buf (
		.clk(clk), .we(busy && p == P_LAST), .waddr(e), .wdata(t_data), .raddr(y_addr), .rdata(y_data));

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
