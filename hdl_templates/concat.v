// mpqx template: concat, the inputs' columns side by side, each requantized with its own multiplier,
// y[r, OFF_k + j] = rescale_k(x_k[r, j] - Z_k). The inputs are copied one after another (input k, then
// its rows, then its columns); per element: phase 0 reads, phase 1 starts input k's rescale, phase 2
// writes: R * C * 3 + 1 cycles from start to done. The per-input ports, rescales and selections are
// generated (one block per input).
// @placeholder MODULE    module name (one per layer)
// @placeholder RAM       module of the output buffer's RAM variant
// @placeholder R         rows
// @placeholder C         columns of the result
// @placeholder NIN       inputs
// @placeholder XAW       address bits of the widest input buffer
// @placeholder YB        output bits
// @placeholder YAW       output buffer address bits
// @placeholder PORTS     per input k: x<k>_addr and x<k>_data
// @placeholder INPUTS    per input k: its address, centred value and rescale
// @placeholder COLS_LAST last column index of the current input, an expression of seg
// @placeholder OFF_NEXT  first column in y of the next input, an expression of seg
// @placeholder SELECT    the current input's rescaled value, an expression of seg
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_concat/*}}*/ #(
	parameter R = /*{{R*/24/*}}*/,
	parameter C = /*{{C*/16/*}}*/,
	parameter NIN = /*{{NIN*/2/*}}*/,
	parameter XAW = /*{{XAW*/8/*}}*/,
	parameter YB = /*{{YB*/8/*}}*/,
	parameter YAW = /*{{YAW*/9/*}}*/
) (
	input  wire           clk,
	input  wire           rst,
	input  wire           start,
	output reg            done,
	/*{{PORTS*/
	output wire [7:0]     x0_addr,
	input  wire [7:0]     x0_data,
	output wire [7:0]     x1_addr,
	input  wire [7:0]     x1_data,
	/*}}*/
	input  wire [YAW-1:0] y_addr,
	output wire [YB-1:0]  y_data
);
	localparam SGW = $clog2(NIN + 1);
	localparam CW = $clog2(C + 1);
	localparam RW = $clog2(R + 1);
	// Constants sized to the counters they are compared with (truncation intended).
	/* verilator lint_off WIDTH */
	localparam [1:0] P_ONE = 1;
	localparam [1:0] P_LAST = 2;
	localparam [SGW-1:0] SEG_LAST = NIN - 1;
	localparam [SGW-1:0] SEG_ONE = 1;
	localparam [RW-1:0] R_LAST = R - 1;
	localparam [RW-1:0] R_ONE = 1;
	localparam [CW-1:0] C_ONE = 1;
	localparam [XAW-1:0] X_ONE = 1;
	localparam [YAW-1:0] Y_ONE = 1;
	localparam [YAW-1:0] Y_ROW = C;
	/* verilator lint_on WIDTH */

	reg           busy;
	reg [1:0]     p;
	reg [SGW-1:0] seg;   // the input being copied
	reg [RW-1:0]  r;
	reg [CW-1:0]  j;     // column within the input
	reg [XAW-1:0] xa;    // r * C_k + j
	reg [YAW-1:0] yrow;  // r * C
	reg [YAW-1:0] yo;    // the input's first column in y
	reg [YAW-1:0] ya;    // yrow + yo + j

	wire [CW-1:0]  cols_last = /*{{COLS_LAST*/(seg == 2'd0) ? 5'd7 : 5'd7/*}}*/;
	wire [YAW-1:0] off_next = /*{{OFF_NEXT*/(seg == 2'd0) ? 9'd8 : 9'd16/*}}*/;
	wire          rs_en = busy && p == P_ONE;

	/*{{INPUTS*/
	assign x0_addr = (busy && seg == 2'd0) ? xa[7:0] : 8'd0;
	wire signed [8:0] v0 = $signed(x0_data) - 0;
	wire [YB-1:0] q0;
	mpqx_rescale #(.IW(9), .MW(15), .MUL(64'd16384), .SHR(14), .Z(0), .OB(YB)) u_rs0 (
		.clk(clk), .en(rs_en && seg == 2'd0), .v(v0), .q(q0));
	assign x1_addr = (busy && seg == 2'd1) ? xa[7:0] : 8'd0;
	wire signed [8:0] v1 = $signed(x1_data) - 0;
	wire [YB-1:0] q1;
	mpqx_rescale #(.IW(9), .MW(15), .MUL(64'd16384), .SHR(14), .Z(0), .OB(YB)) u_rs1 (
		.clk(clk), .en(rs_en && seg == 2'd1), .v(v1), .q(q1));
	/*}}*/

	wire [YB-1:0] yq = /*{{SELECT*/(seg == 2'd0) ? q0 : q1/*}}*/;

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
				seg <= {SGW{1'b0}};
				r <= {RW{1'b0}};
				j <= {CW{1'b0}};
				xa <= {XAW{1'b0}};
				yrow <= {YAW{1'b0}};
				yo <= {YAW{1'b0}};
				ya <= {YAW{1'b0}};
			end
		end else if (p != P_LAST) begin
			p <= p + P_ONE;
		end else begin
			p <= 2'd0;
			if (j != cols_last) begin
				j <= j + C_ONE;
				xa <= xa + X_ONE;
				ya <= ya + Y_ONE;
			end else if (r != R_LAST) begin
				j <= {CW{1'b0}};
				r <= r + R_ONE;
				xa <= xa + X_ONE;
				yrow <= yrow + Y_ROW;
				ya <= yrow + Y_ROW + yo;
			end else if (seg != SEG_LAST) begin
				j <= {CW{1'b0}};
				r <= {RW{1'b0}};
				seg <= seg + SEG_ONE;
				xa <= {XAW{1'b0}};
				yrow <= {YAW{1'b0}};
				yo <= off_next;
				ya <= off_next;
			end else begin
				busy <= 1'b0;
				done <= 1'b1;
			end
		end
	end
endmodule

`default_nettype wire
