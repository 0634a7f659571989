// mpqx template: affine layer (folded BatchNorm), y[r,c] = rescale(q_b[c] + (q_g[c] - WZ) * (x[r,c] - XZ)).
// The linear layer's datapath with one product per element: phase 0 reads x, g and b, phase 1
// multiplies, phase 2 starts the rescale, phase 3 writes. R * C * 4 + 1 cycles from start to done.
// @placeholder MODULE  module name (one per layer)
// @placeholder RAM     module of the output buffer's RAM variant
// @placeholder WROM    module of the weight ROM's variant
// @placeholder BROM    module of the bias ROM's variant
// @placeholder REQUANT module of the requantizer's tail
// @placeholder R       rows
// @placeholder C       channels
// @placeholder XB      input bits
// @placeholder XZ      input zero point
// @placeholder XAW     input buffer address bits
// @placeholder WB      weight bits
// @placeholder WZ      weight zero point
// @placeholder WAW     weight and bias ROM address bits
// @placeholder W_INIT  weight ROM .mem file
// @placeholder BB      bias bits
// @placeholder B_INIT  bias ROM .mem file
// @placeholder ACCW    accumulator bits
// @placeholder MW      multiplier bits
// @placeholder MUL     multiplier m
// @placeholder CH      1: per-channel weights (w_granularity "channel"): the weight zero point and the
//                      multiplier of each output row come from the scale ROM, {z_w, m} per row, read
//                      by the row index like the bias; 0: WZ and MUL
// @placeholder SROM    module of the scale ROM's variant
// @placeholder S_INIT  scale ROM .mem file ("" when CH is 0)
// @placeholder LOGIC   1: multipliers in logic, 0: in DSP slices (the config's mult)
// @placeholder SHR     right shift n
// @placeholder YB      output bits
// @placeholder YZ      output zero point
// @placeholder YAW     output buffer address bits
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_affine/*}}*/ #(
	parameter R = /*{{R*/24/*}}*/,
	parameter C = /*{{C*/16/*}}*/,
	parameter XB = /*{{XB*/8/*}}*/,
	parameter XZ = /*{{XZ*/-3/*}}*/,
	parameter XAW = /*{{XAW*/9/*}}*/,
	parameter WB = /*{{WB*/8/*}}*/,
	parameter WZ = /*{{WZ*/5/*}}*/,
	parameter WAW = /*{{WAW*/4/*}}*/,
	parameter W_INIT = /*{{W_INIT*/"affine_w.mem"/*}}*/,
	parameter BB = /*{{BB*/12/*}}*/,
	parameter B_INIT = /*{{B_INIT*/"affine_b.mem"/*}}*/,
	parameter ACCW = /*{{ACCW*/18/*}}*/,
	parameter MW = /*{{MW*/15/*}}*/,
	parameter [63:0] MUL = /*{{MUL*/64'd21000/*}}*/,
	parameter CH = /*{{CH*/0/*}}*/,
	parameter S_INIT = /*{{S_INIT*/""/*}}*/,
	parameter LOGIC = /*{{LOGIC*/0/*}}*/,
	parameter SHR = /*{{SHR*/20/*}}*/,
	parameter YB = /*{{YB*/8/*}}*/,
	parameter YZ = /*{{YZ*/1/*}}*/,
	parameter YAW = /*{{YAW*/9/*}}*/
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
	localparam CW = $clog2(C + 1);
	localparam SA = ACCW;                              // multiplier operand a: x' or |acc + b|
	localparam SB = (WB + 1 > MW + 1) ? WB + 1 : MW + 1; // operand b: g' or m
	localparam RPW = ACCW - 1 + MW;                    // bits of |acc + b| * m
	localparam [1:0] P_ONE = 1;
	localparam [1:0] P_RS = 2;
	localparam [1:0] P_LAST = 3;
	localparam [CW-1:0] C_LAST = C - 1;
	localparam [CW-1:0] C_ONE = 1;
	localparam [YAW-1:0] Y_LAST = R * C - 1;
	localparam [YAW-1:0] Y_ONE = 1;
	localparam signed [ACCW-1:0] ZERO = 0;
	localparam signed [SB-1:0] MS = MUL[SB-1:0];
	/* verilator lint_on WIDTH */

	reg           busy;
	reg [1:0]     p;
	reg [CW-1:0]  c;
	reg [YAW-1:0] e;     // element r*C + c: the address of x and of y

	wire [WB-1:0] w_data;
	wire [BB-1:0] b_data;
	wire [YB-1:0] yq;

	assign x_addr = busy ? e[XAW-1:0] : {XAW{1'b0}};

	/*{{WROM*/mpqx_rom/*}}*/ #(.WIDTH(WB), .AW(WAW), .INIT(W_INIT)) u_wrom (
		.clk(clk), .addr(c[WAW-1:0]), .data(w_data));
	/*{{BROM*/mpqx_rom/*}}*/ #(.WIDTH(BB), .AW(WAW), .INIT(B_INIT)) u_brom (
		.clk(clk), .addr(c[WAW-1:0]), .data(b_data));

	// One multiplier for the product g' * x' (phase 1) and the rescale |acc + b| * m (phase 2).
	wire signed [XB:0]     xv = $signed(x_data) - XZ;
	// Per channel, the row's weight zero point and multiplier from the scale ROM (registered read of
	// the same index as the bias: valid from phase 1 of the element on).
	wire signed [WB-1:0]   wzr;
	wire        [MW-1:0]   mr;
	generate
		if (CH) begin : g_ch
			wire [WB+MW-1:0] s_data;
			/*{{SROM*/mpqx_rom/*}}*/ #(.WIDTH(WB + MW), .AW(WAW), .INIT(S_INIT)) u_srom (
				.clk(clk), .addr(c[WAW-1:0]), .data(s_data));
			assign wzr = s_data[WB+MW-1:MW];
			assign mr = s_data[MW-1:0];
		end else begin : g_tensor
			/* verilator lint_off WIDTH */
			assign wzr = WZ;
			assign mr = MUL;
			/* verilator lint_on WIDTH */
		end
	endgenerate
	wire signed [WB:0]     wv = $signed(w_data) - wzr;
	wire signed [ACCW-1:0] bias = {{(ACCW - BB + 1){b_data[BB-1]}}, b_data[BB-2:0]};
	wire signed [ACCW-1:0] sum = acc + bias;
	wire        [ACCW-1:0] mag = sum[ACCW-1] ? (~sum + 1'b1) : sum;
	wire                   rs = p == P_RS;
	// The product: in DSP48 slices (LOGIC 0: one multiplier for both, the form synthesis maps to a DSP)
	// or in logic (LOGIC 1: the data product xv * wv as a LUT multiplier, plain shift-add over the bits
	// of wv; the constant |acc + b| * m as a shift-add over the digits of m in canonical signed digit form,
	// m = CP - CN). Both are exact: each sum is taken modulo 2^width and the true value fits.
	wire signed [ACCW-1:0] prod_x;
	wire        [RPW-1:0]  prod_r;
	generate
		if (LOGIC) begin : g_logic
			/* verilator lint_off WIDTH */
			localparam [65:0] M1 = MUL;
			localparam [65:0] M3 = M1 + (M1 << 1);
			localparam [65:0] CP = (M3 & ~M1) >> 1;
			localparam [65:0] CN = (~M3 & M1) >> 1;
			localparam XPW = XB + WB + 1;              // |xv * wv| < 2^(XB + WB)
			wire signed [XPW-1:0] xe = xv;
			wire        [RPW-1:0] me = mag;
			/* verilator lint_on WIDTH */
			reg  signed [XPW-1:0] lp;
			reg         [RPW-1:0] cp;
			integer i, j;
			always @* begin
				lp = {XPW{1'b0}};
				for (i = 0; i < WB; i = i + 1)
					if (wv[i])
						lp = lp + (xe <<< i);
				if (wv[WB])
					lp = lp - (xe <<< WB);
			end
			// per channel, m is data: a LUT multiplier, plain shift-add over the bits of m
			always @* begin
				cp = {RPW{1'b0}};
				if (CH) begin
					for (j = 0; j < MW; j = j + 1)
						if (mr[j])
							cp = cp + (me << j);
				end else begin
					for (j = 0; j <= MW; j = j + 1) begin
						if (CP[j])
							cp = cp + (me << j);
						if (CN[j])
							cp = cp - (me << j);
					end
				end
			end
			/* verilator lint_off WIDTH */
			assign prod_x = lp;
			/* verilator lint_on WIDTH */
			assign prod_r = cp;
		end else begin : g_dsp
			wire signed [SA-1:0]    opa = rs ? $signed(mag) : {{(SA - XB){xv[XB]}}, xv[XB-1:0]};
			wire signed [SB-1:0]    mo = CH ? $signed({{(SB - MW){1'b0}}, mr}) : MS;
			wire signed [SB-1:0]    opb = rs ? mo : {{(SB - WB){wv[WB]}}, wv[WB-1:0]};
			wire signed [SA+SB-1:0] prod = opa * opb;
			assign prod_x = prod[ACCW-1:0];
			assign prod_r = prod[RPW-1:0];
		end
	endgenerate
	wire                   mac = busy && p == P_ONE;
	reg  signed [ACCW-1:0] acc;
	// The requantizer's rounding (p + 2^(SHR-1)) >> SHR cannot see the product's bits below SHR-1, so
	// only bits RPW-1..PLO are registered and the rest reach it as zeros (synthesis across the module
	// boundary removes those flip-flops anyway; kept, it would not).
	localparam PLO = SHR < 2 ? 0 : (SHR - 1 < RPW ? SHR - 1 : RPW - 1);
	reg         [RPW-1:PLO] pr;
	reg                    neg;

	always @(posedge clk) begin
		if (mac)
			acc <= (mac ? ZERO : acc) + prod_x;
		if (busy && rs) begin
			pr <= prod_r[RPW-1:PLO];
			neg <= sum[ACCW-1];
		end
	end

	/* verilator lint_off WIDTH */
	wire        [RPW-1:0]  prx = pr << PLO;   // zero-extended, then shifted into place
	/* verilator lint_on WIDTH */

	/*{{REQUANT*/mpqx_requant/*}}*/ #(.PW(RPW), .SHR(SHR), .Z(YZ), .OB(YB)) u_rq (.p(prx), .neg(neg), .q(yq));

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
				c <= {CW{1'b0}};
				e <= {YAW{1'b0}};
			end
		end else begin
			p <= p + P_ONE;
			if (p == P_LAST) begin
				e <= e + Y_ONE;
				c <= (c == C_LAST) ? {CW{1'b0}} : c + C_ONE;
				if (e == Y_LAST) begin
					busy <= 1'b0;
					done <= 1'b1;
				end
			end
		end
	end
endmodule

`default_nettype wire
