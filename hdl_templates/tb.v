// mpqx template: the self-checking testbench (Icarus Verilog). It checks that every file the run reads
// exists, loads the input windows and the expected outputs written by mpqx's integer model, and for each
// window writes the input buffer, pulses start, counts the cycles until done, compares every output
// value and appends every layer's buffer to the dump file. It ends with
//     RESULT windows=N mismatches=M cycles=C
// (C: cycles of one window, from the edge that samples start to the edge that samples done) and exits
// non-zero on any mismatch, a missing or short file, a timeout or a cycle count that differs between
// windows. The same file runs in Verilator 5 (--timing, with the C++ main the export writes beside it),
// which has no $finish_and_return: there the exit status goes through a DPI call to that main.
// @placeholder MODULE      module name
// @placeholder TOP         the design's top module
// @placeholder WINDOWS     windows to run
// @placeholder IN_WORDS    input values per window
// @placeholder OUT_WORDS   output values per window
// @placeholder IN_AW       input address bits
// @placeholder IN_B        input bits
// @placeholder OUT_AW      output address bits
// @placeholder OUT_B       output bits
// @placeholder MAX_CYCLES  cycles after which a window times out
// @placeholder IN_FILE     input vectors, one value per line (hex)
// @placeholder EXP_FILE    expected outputs, one value per line (hex)
// @placeholder DUMP_FILE   where the layers' buffers are written
// @placeholder NEED        a need("file"); line per .mem file of the design
// @placeholder DUMP        per layer: the lines that write its buffer to the dump file
`timescale 1ns / 1ps
`ifdef VERILATOR
`define MPQX_TB_EXIT(code) begin mpqx_tb_exit(code); $finish; end
`else
`define MPQX_TB_EXIT(code) $finish_and_return(code);
`endif

module /*{{MODULE*/mpqx_tb/*}}*/;
`ifdef VERILATOR
	import "DPI-C" function void mpqx_tb_exit(input int code);
`endif
	localparam WINDOWS = /*{{WINDOWS*/2/*}}*/;
	localparam IN_WORDS = /*{{IN_WORDS*/72/*}}*/;
	localparam OUT_WORDS = /*{{OUT_WORDS*/72/*}}*/;
	localparam IN_AW = /*{{IN_AW*/7/*}}*/;
	localparam IN_B = /*{{IN_B*/8/*}}*/;
	localparam OUT_AW = /*{{OUT_AW*/7/*}}*/;
	localparam OUT_B = /*{{OUT_B*/8/*}}*/;
	localparam MAX_CYCLES = /*{{MAX_CYCLES*/1000/*}}*/;
	localparam IN_FILE = /*{{IN_FILE*/"vec/input.hex"/*}}*/;
	localparam EXP_FILE = /*{{EXP_FILE*/"vec/expected.hex"/*}}*/;
	localparam DUMP_FILE = /*{{DUMP_FILE*/"sim/dump.txt"/*}}*/;

	reg               clk = 1'b0;
	reg               rst = 1'b1;
	reg               start = 1'b0;
	reg               in_we = 1'b0;
	reg  [IN_AW-1:0]  in_addr = {IN_AW{1'b0}};
	reg  [IN_B-1:0]   in_data = {IN_B{1'b0}};
	reg  [OUT_AW-1:0] out_addr = {OUT_AW{1'b0}};
	wire              done;
	wire              busy;
	wire [OUT_B-1:0]  out_data;

	always #5 clk = ~clk;  // 100 MHz

	/*{{TOP*/mpqx_top/*}}*/ dut (
		.clk(clk), .rst(rst), .start(start), .done(done), .busy(busy),
		.in_we(in_we), .in_addr(in_addr), .in_data(in_data),
		.out_addr(out_addr), .out_data(out_data));

	reg [IN_B-1:0]  in_vec [0:WINDOWS*IN_WORDS-1];
	reg [OUT_B-1:0] exp_vec [0:WINDOWS*OUT_WORDS-1];

	// Cycles from the edge that samples start to the edge that samples done.
	reg     counting = 1'b0;
	integer cyc = 0;
	always @(posedge clk)
		if (start) begin
			counting <= 1'b1;
			cyc <= 0;
		end else if (counting) begin
			cyc <= cyc + 1;
			if (done)
				counting <= 1'b0;
		end

	integer missing = 0;
	task need;
		input [8*256-1:0] path;
		integer fd;
		begin
			fd = $fopen(path, "r");
			if (fd == 0) begin
				$display("ERROR: missing file %0s", path);
				missing = missing + 1;
			end else begin
				$fclose(fd);
			end
		end
	endtask

	integer w, i, t, dump, mismatches, cycles, varied;
	initial begin
		need(IN_FILE);
		need(EXP_FILE);
		/*{{NEED*/
		need("rom.mem");
		/*}}*/
		if (missing != 0) begin
			$display("RESULT windows=0 mismatches=0 cycles=0 missing=%0d", missing);
			`MPQX_TB_EXIT(2)
		end
		$readmemh(IN_FILE, in_vec);
		$readmemh(EXP_FILE, exp_vec);
		if (^in_vec[WINDOWS*IN_WORDS-1] === 1'bx || ^exp_vec[WINDOWS*OUT_WORDS-1] === 1'bx) begin
			$display("ERROR: %0s or %0s is shorter than %0d windows", IN_FILE, EXP_FILE, WINDOWS);
			`MPQX_TB_EXIT(2)
		end
		dump = $fopen(DUMP_FILE, "w");
		if (dump == 0) begin
			$display("ERROR: cannot write %0s", DUMP_FILE);
			`MPQX_TB_EXIT(2)
		end
		mismatches = 0;
		cycles = 0;
		varied = 0;
		repeat (4) @(negedge clk);
		rst = 1'b0;
		for (w = 0; w < WINDOWS; w = w + 1) begin
			for (i = 0; i < IN_WORDS; i = i + 1) begin
				@(negedge clk);
				in_we = 1'b1;
				in_addr = i;
				in_data = in_vec[w*IN_WORDS + i];
			end
			@(negedge clk);
			in_we = 1'b0;
			start = 1'b1;
			@(negedge clk);
			start = 1'b0;
			t = 0;
			while (!done && t < MAX_CYCLES) begin
				@(negedge clk);
				t = t + 1;
			end
			if (!done) begin
				$display("ERROR: window %0d: no done within %0d cycles", w, MAX_CYCLES);
				`MPQX_TB_EXIT(1)
			end
			@(negedge clk);
			if (w == 0)
				cycles = cyc;
			else if (cyc != cycles) begin
				$display("ERROR: window %0d took %0d cycles, window 0 took %0d", w, cyc, cycles);
				varied = varied + 1;
			end
			for (i = 0; i < OUT_WORDS; i = i + 1) begin
				out_addr = i;
				@(negedge clk);
				if (out_data !== exp_vec[w*OUT_WORDS + i]) begin
					if (mismatches < 20)
						$display("MISMATCH window=%0d index=%0d got=%0d expected=%0d", w, i,
							 $signed(out_data), $signed(exp_vec[w*OUT_WORDS + i]));
					mismatches = mismatches + 1;
				end
			end
			$fwrite(dump, "window %0d\n", w);
			/*{{DUMP*/
			$fwrite(dump, "relu");
			for (i = 0; i < 72; i = i + 1)
				$fwrite(dump, " %0d", $signed(dut.u_relu.u_buf.mem[i]));
			$fwrite(dump, "\n");
			/*}}*/
			$fflush(dump); // a window at a time: the explorer counts them for its progress
		end
		$fclose(dump);
		$display("RESULT windows=%0d mismatches=%0d cycles=%0d", WINDOWS, mismatches, cycles);
		`MPQX_TB_EXIT((mismatches != 0 || varied != 0) ? 1 : 0)
	end
endmodule
