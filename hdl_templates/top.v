// mpqx template: the top level. The layers run one after another: the start of each is the done of the
// one before (start -> first layer, last layer's done -> done), so a run takes the sum of the layers'
// cycle counts. Every buffer has one read port; its consumers drive their addresses only while they
// run, so the port's address is the OR of theirs (and of out_addr for the output buffer while idle).
//
// Ports: write the quantized input window through in_we/in_addr/in_data while busy is low, pulse start,
// wait for the done pulse, then read the output layer's values through out_addr/out_data (registered:
// data one cycle after the address).
// @placeholder MODULE  module name
// @placeholder MODEL   what was exported (a comment)
// @placeholder IN_AW   input buffer address bits
// @placeholder IN_B    input bits
// @placeholder OUT_AW  output buffer address bits
// @placeholder OUT_B   output bits
// @placeholder LAYERS  the layers' wires and instances, the start/done chain and the shared read ports
`timescale 1ns / 1ps
`default_nettype none

// /*{{MODEL*/example: an input buffer and a ReLU/*}}*/
module /*{{MODULE*/mpqx_top/*}}*/ #(
	parameter IN_AW = /*{{IN_AW*/7/*}}*/,
	parameter IN_B = /*{{IN_B*/8/*}}*/,
	parameter OUT_AW = /*{{OUT_AW*/7/*}}*/,
	parameter OUT_B = /*{{OUT_B*/8/*}}*/
) (
	input  wire              clk,
	input  wire              rst,
	input  wire              start,
	output wire              done,
	output reg               busy,
	input  wire              in_we,
	input  wire [IN_AW-1:0]  in_addr,
	input  wire [IN_B-1:0]   in_data,
	input  wire [OUT_AW-1:0] out_addr,
	output wire [OUT_B-1:0]  out_data
);
	wire [OUT_AW-1:0] out_raddr = busy ? {OUT_AW{1'b0}} : out_addr;

	/*{{LAYERS*/
	wire [6:0] input_raddr;
	wire [7:0] input_rdata;
	mpqx_input u_input (
		.clk(clk), .in_we(in_we), .in_addr(in_addr), .in_data(in_data),
		.y_addr(input_raddr), .y_data(input_rdata));

	wire       relu_done;
	wire [6:0] relu_x_addr;
	wire [6:0] relu_raddr;
	wire [7:0] relu_rdata;
	mpqx_relu #(.WORDS(72), .XAW(7), .YAW(7)) u_relu (
		.clk(clk), .rst(rst), .start(start && !busy), .done(relu_done),
		.x_addr(relu_x_addr), .x_data(input_rdata), .y_addr(relu_raddr), .y_data(relu_rdata));

	assign input_raddr = relu_x_addr;
	assign relu_raddr = out_raddr;
	assign out_data = relu_rdata;
	assign done = relu_done;
	/*}}*/

	always @(posedge clk)
		if (rst)
			busy <= 1'b0;
		else if (start)
			busy <= 1'b1;
		else if (done)
			busy <= 1'b0;
endmodule

`default_nettype wire
