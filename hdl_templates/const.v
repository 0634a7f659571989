// mpqx template: a constant layer (the positional encoding), its quantized table in a ROM that the
// consumers read by address like a buffer.
// @placeholder MODULE  module name
// @placeholder ROM     module of the ROM's variant
// @placeholder YB      bits per value
// @placeholder YAW     address bits
// @placeholder INIT    .mem file
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_const/*}}*/ #(
	parameter YB = /*{{YB*/8/*}}*/,
	parameter YAW = /*{{YAW*/9/*}}*/,
	parameter INIT = /*{{INIT*/"const.mem"/*}}*/
) (
	input  wire           clk,
	input  wire [YAW-1:0] y_addr,
	output wire [YB-1:0]  y_data
);
	/*{{ROM*/mpqx_rom/*}}*/ #(.WIDTH(YB), .AW(YAW), .INIT(INIT)) u_rom (
		.clk(clk), .addr(y_addr), .data(y_data));
endmodule

`default_nettype wire
