// mpqx template: the input layer's buffer. The top level writes the quantized window through in_we /
// in_addr / in_data while the design is idle; the first layers read it by address.
// @placeholder MODULE  module name
// @placeholder RAM     module of the buffer's RAM variant
// @placeholder YB      bits per value
// @placeholder YAW     address bits
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_input/*}}*/ #(
	parameter YB = /*{{YB*/8/*}}*/,
	parameter YAW = /*{{YAW*/7/*}}*/
) (
	input  wire           clk,
	input  wire           in_we,
	input  wire [YAW-1:0] in_addr,
	input  wire [YB-1:0]  in_data,
	input  wire [YAW-1:0] y_addr,
	output wire [YB-1:0]  y_data
);
	/*{{RAM*/mpqx_ram/*}}*/ #(.WIDTH(YB), .AW(YAW)) u_buf (
		.clk(clk), .we(in_we), .waddr(in_addr), .wdata(in_data), .raddr(y_addr), .rdata(y_data));
endmodule

`default_nettype wire
