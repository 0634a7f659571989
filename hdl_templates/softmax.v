// mpqx template: softmax of each row of C values by the exponent table and a divider
// (doc/quantization.md):
//     mx = max_c x[c];  e_c = E[min((mx - x[c]) >> T, L - 1)];  S = sum_c e_c;
//     y[c] = qmin(YB) + min(floor((2 * e_c * N + S) / (2 * S)), 2^YB - 1)
// (the output scale is 1 / N, N from the largest calibrated probability). With FC > 0 the output is a
// float code of FC exponent and YB - FC fraction bits: the quotient, limited to the code's largest value
// instead of 2^YB - 1, is stored as the code nearest to it (halves up; the consumer decodes it). Per row: a scan of 2C + 2
// cycles (C reads for the maximum, C reads for the sum, whose table reads lag two phases), then per
// element QW + 4 cycles (read x, read E, load the divider, QW divider steps, write).
// R * (2C + 2 + C * (QW + 4)) + 1 cycles from start to done.
// @placeholder MODULE  module name (one per layer)
// @placeholder RAM     module of the output buffer's RAM variant
// @placeholder EROM    module of the exponent table ROM's variant
// @placeholder DIV     module of the divider
// @placeholder R       rows
// @placeholder C       values per row
// @placeholder XB      input bits
// @placeholder XAW     input (and output) buffer address bits
// @placeholder T       table index shift
// @placeholder L       table length
// @placeholder EW      table width k
// @placeholder EAW     table address bits
// @placeholder E_INIT  table .mem file
// @placeholder SW      bits of the row sum
// @placeholder NW      bits of the divider's numerator
// @placeholder QW      quotient bits, bitlen(N)
// @placeholder N       the output scale's reciprocal: s_y = 1 / N
// @placeholder YB      output bits
// @placeholder FC      exponent bits of the output's float code, 0: linear
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_softmax/*}}*/ #(
	parameter R = /*{{R*/24/*}}*/,
	parameter C = /*{{C*/24/*}}*/,
	parameter XB = /*{{XB*/8/*}}*/,
	parameter XAW = /*{{XAW*/10/*}}*/,
	parameter T = /*{{T*/0/*}}*/,
	parameter L = /*{{L*/200/*}}*/,
	parameter EW = /*{{EW*/16/*}}*/,
	parameter EAW = /*{{EAW*/8/*}}*/,
	parameter E_INIT = /*{{E_INIT*/"softmax_e.mem"/*}}*/,
	parameter SW = /*{{SW*/21/*}}*/,
	parameter NW = /*{{NW*/26/*}}*/,
	parameter QW = /*{{QW*/8/*}}*/,
	parameter N = /*{{N*/255/*}}*/,
	parameter YB = /*{{YB*/8/*}}*/,
	parameter FC = /*{{FC*/0/*}}*/
) (
	input  wire           clk,
	input  wire           rst,
	input  wire           start,
	output reg            done,
	output wire [XAW-1:0] x_addr,
	input  wire [XB-1:0]  x_data,
	input  wire [XAW-1:0] y_addr,
	output wire [YB-1:0]  y_data
);
	localparam DW = SW + 1;
	localparam SCAN_LAST = 2 * C + 1;
	localparam U_LAST = QW + 3;
	localparam PW = $clog2(SCAN_LAST + 1);
	localparam CW = $clog2(C + 1);
	localparam UW = $clog2(U_LAST + 1);
	// Constants sized to the counters they are compared with (truncation intended).
	/* verilator lint_off WIDTH */
	localparam [PW-1:0] P_ONE = 1;
	localparam [PW-1:0] P_MAX_LAST = C;
	localparam [PW-1:0] P_SUM_FIRST = C + 2;
	localparam [PW-1:0] P_LAST = SCAN_LAST;
	localparam [CW-1:0] C_LAST = C - 1;
	localparam [CW-1:0] C_ONE = 1;
	localparam [UW-1:0] U_ONE = 1;
	localparam [UW-1:0] U_LOAD = 2;
	localparam [UW-1:0] U_WRITE = U_LAST;
	localparam [XAW-1:0] X_ONE = 1;
	localparam [XAW-1:0] X_ROW = C;
	localparam [XAW-1:0] Y_LAST = R * C - 1;
	localparam [XB-1:0] IDX_LAST = L - 1;
	localparam [SW-1:0] S_ZERO = 0;
	localparam [NW-1:0] N_W = N;
	localparam FF = YB - FC;                          // fraction bits of the float code
	localparam [QW-1:0] Q_TOP = FC ? ((1 << (FF + 1)) - 1) << ((1 << FC) - 2) : (1 << YB) - 1;
	/* verilator lint_on WIDTH */

	reg           busy;
	reg           scan;  // 1: the max and sum scan of a row, 0: its outputs
	reg [PW-1:0]  p;     // scan phase
	reg [CW-1:0]  col;   // scan column
	reg [CW-1:0]  c;     // output column
	reg [UW-1:0]  u;     // phase within an output element
	reg [XAW-1:0] rb;    // row base r*C
	reg [XAW-1:0] xa;
	reg [XAW-1:0] ya;
	reg signed [XB-1:0] mx;
	reg [SW-1:0]  s;

	wire [EW-1:0] e;
	wire [QW-1:0] q;

	assign x_addr = busy ? xa : {XAW{1'b0}};

	// Table index of the value being read: (mx - x) >> T, limited to the last entry.
	wire signed [XB:0] d = mx - $signed(x_data);
	wire [XB-1:0]      ds = d[XB-1:0] >> T;
	wire [XB-1:0]      idx = (ds < IDX_LAST) ? ds : IDX_LAST;

	/*{{EROM*/mpqx_rom/*}}*/ #(.WIDTH(EW), .AW(EAW), .INIT(E_INIT)) u_erom (
		.clk(clk), .addr(idx[EAW-1:0]), .data(e));

	// Divider operands: 2 * e * N + S over 2 * S.
	wire [NW-1:0] e_n = {{(NW - EW){1'b0}}, e};
	wire [NW-1:0] s_n = {{(NW - SW){1'b0}}, s};
	// N = 2^YB - 1 (no probability calibrated below 1) is a shift and a subtraction; with the float code
	// (FC > 0) e * N is a shift-add over the canonical signed digits of N in logic, N = CP - CN (the sum
	// modulo 2^NW is exact: e * N < 2^NW); any other N a constant multiplication (a DSP in synthesis).
	wire [NW-1:0] en;
	generate
		if (N == (1 << YB) - 1) begin : g_n_top
			assign en = (e_n << YB) - e_n;
		end else if (FC != 0) begin : g_n_csd
			/* verilator lint_off WIDTH */
			localparam [65:0] M1 = N;
			localparam [65:0] M3 = M1 + (M1 << 1);
			localparam [65:0] CP = (M3 & ~M1) >> 1;
			localparam [65:0] CN = (~M3 & M1) >> 1;
			/* verilator lint_on WIDTH */
			reg [NW-1:0] sa;
			integer j;
			always @* begin
				sa = {NW{1'b0}};
				for (j = 0; j < NW; j = j + 1) begin
					if (CP[j])
						sa = sa + (e_n << j);
					if (CN[j])
						sa = sa - (e_n << j);
				end
			end
			assign en = sa;
		end else begin : g_n_mul
			assign en = e_n * N_W;
		end
	endgenerate
	wire [NW-1:0] num = (en << 1) + s_n;
	wire [DW-1:0] den = {s, 1'b0};

	/*{{DIV*/mpqx_div/*}}*/ #(.NW(NW), .DW(DW), .QW(QW)) u_div (
		.clk(clk), .load(busy && !scan && u == U_LOAD), .num(num), .den(den), .q(q));

	// The quotient limited to the output's 2^YB - 1 steps (a probability above the calibrated largest).
	/* verilator lint_off CMPCONST */
	wire [QW-1:0] qcl = (q > Q_TOP) ? Q_TOP : q;
	/* verilator lint_on CMPCONST */
	wire [YB-1:0] qc = qcl[YB-1:0];
	wire [YB-1:0] wd;
	generate
		if (FC != 0) begin : g_fc
			// The code nearest to qcl: qcl itself below 2^(FF+1); else its FF+1 leading bits rounded at
			// the shift sh (half up), exponent sh + 1, or sh + 2 when the rounding carries out.
			reg [FC-1:0] sh;
			reg [QW:0]   r;
			reg [FC-1:0] ex;
			reg [YB-1:0] code;
			integer k;
			/* verilator lint_off WIDTH */
			always @* begin
				sh = 0;
				for (k = 1; k < (1 << FC) - 1; k = k + 1)
					if ((qcl >> (FF + k)) != 0)
						sh = k;
				r = ({1'b0, qcl} + (({{QW{1'b0}}, 1'b1} << sh) >> 1)) >> sh;
				ex = sh + 1 + r[FF + 1];
				if (qcl < (1 << (FF + 1)))
					code = qcl[YB-1:0];
				else if (r[FF + 1])
					code = {ex, {FF{1'b0}}};
				else
					code = {ex, r[FF-1:0]};
			end
			/* verilator lint_on WIDTH */
			assign wd = code;
		end else begin : g_lin
			assign wd = {~qc[YB-1], qc[YB-2:0]};
		end
	endgenerate

	/*{{RAM*/mpqx_ram/*}}*/ #(.WIDTH(YB), .AW(XAW)) u_buf (
		.clk(clk), .we(busy && !scan && u == U_WRITE), .waddr(ya), .wdata(wd),
		.raddr(y_addr), .rdata(y_data));

	wire [SW-1:0] e_s = {{(SW - EW){1'b0}}, e};

	always @(posedge clk) begin
		done <= 1'b0;
		if (rst) begin
			busy <= 1'b0;
		end else if (!busy) begin
			if (start) begin
				busy <= 1'b1;
				scan <= 1'b1;
				p <= {PW{1'b0}};
				col <= {CW{1'b0}};
				rb <= {XAW{1'b0}};
				xa <= {XAW{1'b0}};
				ya <= {XAW{1'b0}};
			end
		end else if (scan) begin
			if (col == C_LAST) begin
				col <= {CW{1'b0}};
				xa <= rb;
			end else begin
				col <= col + C_ONE;
				xa <= xa + X_ONE;
			end
			if (p >= P_ONE && p <= P_MAX_LAST)
				mx <= (p == P_ONE || $signed(x_data) > mx) ? $signed(x_data) : mx;
			if (p >= P_SUM_FIRST)
				s <= (p == P_SUM_FIRST ? S_ZERO : s) + e_s;
			if (p == P_LAST) begin
				scan <= 1'b0;
				u <= {UW{1'b0}};
				c <= {CW{1'b0}};
				xa <= rb;
			end else begin
				p <= p + P_ONE;
			end
		end else if (u != U_WRITE) begin
			u <= u + U_ONE;
		end else begin
			u <= {UW{1'b0}};
			ya <= ya + X_ONE;
			if (c == C_LAST) begin
				if (ya == Y_LAST) begin
					busy <= 1'b0;
					done <= 1'b1;
				end
				scan <= 1'b1;
				p <= {PW{1'b0}};
				col <= {CW{1'b0}};
				rb <= rb + X_ROW;
				xa <= rb + X_ROW;
			end else begin
				c <= c + C_ONE;
				xa <= xa + X_ONE;
			end
		end
	end
endmodule

`default_nettype wire
