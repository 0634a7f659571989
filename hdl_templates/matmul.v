// mpqx template: matmul with heads (attention), acc = sum_k (a - AZ) * (b - BZ), y = rescale(acc), the
// 1/sqrt(d_k) scale folded into the multiplier. Two index patterns (doc/model-format.md):
//   TB = 1: a [MD, HEADS*KD], b [ND, HEADS*KD], y[(h*MD + m), n] = sum_k a[m, h*KD + k] * b[n, h*KD + k]
//           elements in the order h, m, n;
//   TB = 0: a [HEADS*MD, KD], b [KD, HEADS*ND], y[m, h*ND + n] = sum_k a[h*MD + m, k] * b[k, h*ND + n]
//           elements in the order m, h, n.
// Either way the elements are written in address order. Each element takes KD + 3 cycles (KD reads,
// the last product one phase later, the rescale, the write): HEADS * MD * ND * (KD + 3) + 1 cycles.
// @placeholder MODULE  module name (one per layer)
// @placeholder RAM     module of the output buffer's RAM variant
// @placeholder REQUANT module of the requantizer's tail
// @placeholder TB      1: b is transposed (scores), 0: plain product (context)
// @placeholder HEADS   heads
// @placeholder MD      rows of a per head
// @placeholder ND      columns of the result per head
// @placeholder KD      summed dimension
// @placeholder ACOLS   columns of a
// @placeholder BCOLS   columns of b
// @placeholder AB      bits of a
// @placeholder AZ      zero point of a
// @placeholder AF      exponent bits of a's float code (a softmax's output, decoded here), 0: linear
// @placeholder AAW     address bits of a's buffer
// @placeholder BB      bits of b
// @placeholder BZ      zero point of b
// @placeholder BF      exponent bits of b's float code, 0: linear
// @placeholder BAW     address bits of b's buffer
// @placeholder ACCW    accumulator bits
// @placeholder MW      multiplier bits
// @placeholder MUL     multiplier m
// @placeholder LOGIC   1: multipliers in logic, 0: in DSP slices (the config's mult)
// @placeholder SHR     right shift n
// @placeholder YB      output bits
// @placeholder YZ      output zero point
// @placeholder YAW     output buffer address bits
`timescale 1ns / 1ps
`default_nettype none

module /*{{MODULE*/mpqx_matmul/*}}*/ #(
	parameter TB = /*{{TB*/1/*}}*/,
	parameter HEADS = /*{{HEADS*/2/*}}*/,
	parameter MD = /*{{MD*/6/*}}*/,
	parameter ND = /*{{ND*/6/*}}*/,
	parameter KD = /*{{KD*/4/*}}*/,
	parameter ACOLS = /*{{ACOLS*/8/*}}*/,
	parameter BCOLS = /*{{BCOLS*/8/*}}*/,
	parameter AB = /*{{AB*/8/*}}*/,
	parameter AZ = /*{{AZ*/-3/*}}*/,
	parameter AF = /*{{AF*/0/*}}*/,
	parameter AAW = /*{{AAW*/6/*}}*/,
	parameter BB = /*{{BB*/8/*}}*/,
	parameter BZ = /*{{BZ*/2/*}}*/,
	parameter BF = /*{{BF*/0/*}}*/,
	parameter BAW = /*{{BAW*/6/*}}*/,
	parameter ACCW = /*{{ACCW*/20/*}}*/,
	parameter MW = /*{{MW*/15/*}}*/,
	parameter [63:0] MUL = /*{{MUL*/64'd21000/*}}*/,
	parameter LOGIC = /*{{LOGIC*/0/*}}*/,
	parameter SHR = /*{{SHR*/24/*}}*/,
	parameter YB = /*{{YB*/8/*}}*/,
	parameter YZ = /*{{YZ*/1/*}}*/,
	parameter YAW = /*{{YAW*/7/*}}*/
) (
	input  wire           clk,
	input  wire           rst,
	input  wire           start,
	output reg            done,
	output wire [AAW-1:0] a_addr,
	input  wire [AB-1:0]  a_data,
	output wire [BAW-1:0] b_addr,
	input  wire [BB-1:0]  b_data,
	input  wire [YAW-1:0] y_addr,
	output wire [YB-1:0]  y_data
);
	// Constants sized to the counters they are compared with (truncation intended).
	/* verilator lint_off WIDTH */
	localparam LAST = KD + 2;
	localparam PW = $clog2(LAST + 1);
	localparam NW = $clog2(ND + 1);
	localparam MWD = $clog2(MD + 1);
	localparam HW = $clog2(HEADS + 1);
	localparam HBW = AAW > BAW ? AAW : BAW;
	// Bits of a' and b' as unsigned numbers: AB, or for a float code its largest value's
	// (F + 1 + 2^AF - 2 for F = AB - AF fraction bits).
	localparam AV = AF ? AB - AF + (1 << AF) - 1 : AB;
	localparam BV = BF ? BB - BF + (1 << BF) - 1 : BB;
	localparam SA = ACCW;                              // multiplier operand a: a' or |acc|
	localparam SB = (BV + 1 > MW + 1) ? BV + 1 : MW + 1; // operand b: b' or m
	localparam RPW = ACCW - 1 + MW;                    // bits of |acc| * m
	localparam [PW-1:0] P_LAST = LAST;
	localparam [PW-1:0] P_ONE = 1;
	localparam [PW-1:0] P_K = KD;
	localparam [PW-1:0] P_RS = KD + 1;
	localparam [NW-1:0] N_LAST = ND - 1;
	localparam [NW-1:0] N_ONE = 1;
	localparam [MWD-1:0] M_LAST = MD - 1;
	localparam [MWD-1:0] M_ONE = 1;
	localparam [HW-1:0] H_LAST = HEADS - 1;
	localparam [HW-1:0] H_ONE = 1;
	localparam [AAW-1:0] A_ONE = 1;
	localparam [AAW-1:0] A_KD = KD;
	localparam [AAW-1:0] A_ROW = ACOLS;    // TB: a row step
	localparam [AAW-1:0] A_HEAD = MD * KD; // !TB: a head step
	localparam [BAW-1:0] B_ONE = 1;
	localparam [BAW-1:0] B_KD = KD;
	localparam [BAW-1:0] B_ROW = BCOLS;    // TB: b row step; !TB: b step per k
	localparam [BAW-1:0] B_STEP = TB ? 1 : BCOLS;
	localparam [YAW-1:0] Y_LAST = HEADS * MD * ND - 1;
	localparam [YAW-1:0] Y_ONE = 1;
	localparam signed [ACCW-1:0] ZERO = 0;
	localparam signed [SB-1:0] MS = MUL[SB-1:0];
	/* verilator lint_on WIDTH */

	reg           busy;
	reg [PW-1:0]  p;
	reg [NW-1:0]  n;
	reg [MWD-1:0] m;
	reg [HW-1:0]  h;
	reg [AAW-1:0] ab;    // a base of the element
	reg [HBW-1:0] hb;    // TB: h*KD (a and b column base of the head); !TB: m*KD
	reg [BAW-1:0] bb;    // b base of the element
	reg [AAW-1:0] aa;
	reg [BAW-1:0] ba;
	reg [YAW-1:0] ya;

	wire [YB-1:0] yq;

	assign a_addr = busy ? aa : {AAW{1'b0}};
	assign b_addr = busy ? ba : {BAW{1'b0}};

	// One multiplier for the MAC (a' * b' in phases 1..KD) and the rescale (|acc| * m in phase KD+1).
	// x' = x - zero point, or the value of a float code: F when its exponent E is 0, else
	// (2^F_BITS + F) << (E - 1).
	wire signed [AV:0]     av;
	wire signed [BV:0]     bv;
	generate
		/* verilator lint_off WIDTH */
		if (AF != 0) begin : g_af
			wire [AF-1:0]   ae = a_data[AB-1:AB-AF];
			wire [AV:0]     am = (ae == 0) ? a_data[AB-AF-1:0] : {1'b1, a_data[AB-AF-1:0]};
			assign av = (ae == 0) ? am : am << (ae - 1);
		end else begin : g_al
			assign av = $signed(a_data) - AZ;
		end
		if (BF != 0) begin : g_bf
			wire [BF-1:0]   be = b_data[BB-1:BB-BF];
			wire [BV:0]     bm = (be == 0) ? b_data[BB-BF-1:0] : {1'b1, b_data[BB-BF-1:0]};
			assign bv = (be == 0) ? bm : bm << (be - 1);
		end else begin : g_bl
			assign bv = $signed(b_data) - BZ;
		end
		/* verilator lint_on WIDTH */
	endgenerate
	wire        [ACCW-1:0] mag = acc[ACCW-1] ? (~acc + 1'b1) : acc;
	wire                   rs = p == P_RS;
	// The product: in DSP48 slices (LOGIC 0: one multiplier for both, the form synthesis maps to a DSP)
	// or in logic (LOGIC 1: the data product av * bv as a LUT multiplier, plain shift-add over the bits
	// of bv; the constant |acc + b| * m as a shift-add over the digits of m in canonical signed digit form,
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
			localparam XPW = AV + BV + 1;              // |av * bv| < 2^(AV + BV)
			wire signed [XPW-1:0] xe = av;
			wire        [RPW-1:0] me = mag;
			/* verilator lint_on WIDTH */
			reg  signed [XPW-1:0] lp;
			reg         [RPW-1:0] cp;
			integer i, j;
			always @* begin
				lp = {XPW{1'b0}};
				for (i = 0; i < BV; i = i + 1)
					if (bv[i])
						lp = lp + (xe <<< i);
				if (bv[BV])
					lp = lp - (xe <<< BV);
			end
			always @* begin
				cp = {RPW{1'b0}};
				for (j = 0; j <= MW; j = j + 1) begin
					if (CP[j])
						cp = cp + (me << j);
					if (CN[j])
						cp = cp - (me << j);
				end
			end
			/* verilator lint_off WIDTH */
			assign prod_x = lp;
			/* verilator lint_on WIDTH */
			assign prod_r = cp;
		end else begin : g_dsp
			wire signed [SA-1:0]    opa = rs ? $signed(mag) : {{(SA - AV){av[AV]}}, av[AV-1:0]};
			wire signed [SB-1:0]    opb = rs ? MS : {{(SB - BV){bv[BV]}}, bv[BV-1:0]};
			wire signed [SA+SB-1:0] prod = opa * opb;
			assign prod_x = prod[ACCW-1:0];
			assign prod_r = prod[RPW-1:0];
		end
	endgenerate
	wire                   mac = busy && p >= P_ONE && p <= P_K;
	wire                   clear = p == P_ONE;
	reg  signed [ACCW-1:0] acc;
	// The requantizer's rounding (p + 2^(SHR-1)) >> SHR cannot see the product's bits below SHR-1, so
	// only bits RPW-1..PLO are registered and the rest reach it as zeros (synthesis across the module
	// boundary removes those flip-flops anyway; kept, it would not).
	localparam PLO = SHR < 2 ? 0 : (SHR - 1 < RPW ? SHR - 1 : RPW - 1);
	reg         [RPW-1:PLO] pr;
	reg                    neg;

	always @(posedge clk) begin
		if (mac)
			acc <= (clear ? ZERO : acc) + prod_x;
		if (busy && rs) begin
			pr <= prod_r[RPW-1:PLO];
			neg <= acc[ACCW-1];
		end
	end

	/* verilator lint_off WIDTH */
	wire        [RPW-1:0]  prx = pr << PLO;   // zero-extended, then shifted into place
	/* verilator lint_on WIDTH */

	/*{{REQUANT*/mpqx_requant/*}}*/ #(.PW(RPW), .SHR(SHR), .Z(YZ), .OB(YB)) u_rq (.p(prx), .neg(neg), .q(yq));

	/*{{RAM*/mpqx_ram/*}}*/ #(.WIDTH(YB), .AW(YAW)) u_buf (
		.clk(clk), .we(busy && p == P_LAST), .waddr(ya), .wdata(yq), .raddr(y_addr), .rdata(y_data));

	/* verilator lint_off WIDTH */
	localparam [HBW-1:0] H_KD = KD;
	/* verilator lint_on WIDTH */
	wire [AAW-1:0] hb_a = hb[AAW-1:0];
	wire [BAW-1:0] hb_b = hb[BAW-1:0];

	always @(posedge clk) begin
		done <= 1'b0;
		if (rst) begin
			busy <= 1'b0;
		end else if (!busy) begin
			if (start) begin
				busy <= 1'b1;
				p <= {PW{1'b0}};
				n <= {NW{1'b0}};
				m <= {MWD{1'b0}};
				h <= {HW{1'b0}};
				ab <= {AAW{1'b0}};
				hb <= {HBW{1'b0}};
				bb <= {BAW{1'b0}};
				aa <= {AAW{1'b0}};
				ba <= {BAW{1'b0}};
				ya <= {YAW{1'b0}};
			end
		end else if (p != P_LAST) begin
			p <= p + P_ONE;
			aa <= aa + A_ONE;
			ba <= ba + B_STEP;
		end else begin
			p <= {PW{1'b0}};
			ya <= ya + Y_ONE;
			if (ya == Y_LAST) begin
				busy <= 1'b0;
				done <= 1'b1;
			end
			if (TB != 0) begin
				// order h, m, n: a[m*ACOLS + h*KD + k], b[n*BCOLS + h*KD + k]
				if (n != N_LAST) begin
					n <= n + N_ONE;
					bb <= bb + B_ROW;
					aa <= ab;
					ba <= bb + B_ROW;
				end else if (m != M_LAST) begin
					n <= {NW{1'b0}};
					m <= m + M_ONE;
					ab <= ab + A_ROW;
					bb <= hb_b;
					aa <= ab + A_ROW;
					ba <= hb_b;
				end else begin
					n <= {NW{1'b0}};
					m <= {MWD{1'b0}};
					h <= h + H_ONE;
					hb <= hb + H_KD;
					ab <= hb_a + A_KD;
					bb <= hb_b + B_KD;
					aa <= hb_a + A_KD;
					ba <= hb_b + B_KD;
				end
			end else begin
				// order m, h, n: a[(h*MD + m)*KD + k], b[k*BCOLS + h*ND + n]
				if (n != N_LAST) begin
					n <= n + N_ONE;
					bb <= bb + B_ONE;
					aa <= ab;
					ba <= bb + B_ONE;
				end else if (h != H_LAST) begin
					n <= {NW{1'b0}};
					h <= h + H_ONE;
					ab <= ab + A_HEAD;
					bb <= bb + B_ONE;
					aa <= ab + A_HEAD;
					ba <= bb + B_ONE;
				end else begin
					n <= {NW{1'b0}};
					h <= {HW{1'b0}};
					m <= m + M_ONE;
					hb <= hb + H_KD;
					ab <= hb_a + A_KD;
					bb <= {BAW{1'b0}};
					aa <= hb_a + A_KD;
					ba <= {BAW{1'b0}};
				end
			end
		end
	end
endmodule

`default_nettype wire
