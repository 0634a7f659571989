// @placeholder R rows
// @placeholder STYLE ram style
// @placeholder BODY the instances
module m #(parameter R = /*{{R*/24/*}}*/) ();
(* ram_style = /*{{STYLE*/"block"/*}}*/ *) reg x; // R again: /*{{R*/1/*}}*/
	/*{{BODY*/
	wire a;
	/*}}*/
endmodule
