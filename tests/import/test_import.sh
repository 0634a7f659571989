#!/usr/bin/env bash
# tools/mpqx_torch.py import (doc/import.md) on models written the ways users write them: mpqx's own
# MpqxTransformer (same float forward as `export`), a re-creation of the reference implementation's
# FloatTransformer (1 and 2 encoder layers, 1 and 2 heads, d_model 16 and 32; einsum attention, [1, W, d]
# positional buffer, BatchNorm1d on permuted tensors, AdaptiveAvgPool1d, an Encoder whose earlier layers
# are unused), a matmul/transpose attention with a learned positional parameter; and refusals (an op mpqx
# does not have, a checkpoint that does not fit, bad arguments) that exit 1, name the place, write nothing.
# Each imported model: mpqx's C float forward against torch's predictions (<= 1e-5 on every test window),
# tools/qref.py bit for bit against the C engine (uniform 8, uniform 4, mixed), and `mpqx export --sim`
# with no mismatch. Small untrained checkpoints on the first 1,600 rows of the seattle-hourly data.
# Usage: test_import.sh MPQX SRC_DIR. Prints TAP; exit 77 (skip) when Debian's python3 has no torch.
set -u
mpqx=$1
src=$2
py=/usr/bin/python3
. "$src/tests/tap.sh"
if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
	echo "1..0 # SKIP the importer needs Debian's python3-torch (tools/deps.sh installs it)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -n 1601 "$src/samples/seattle-hourly/data.csv" >"$tmp/data.csv"
tool=$src/tools/mpqx_torch.py
common=(--csv "$tmp/data.csv" --columns pressure,temperature,wind --target temperature --threads 1)

# Checkpoints: random weights and BatchNorm statistics, fixed seeds.
"$py" - "$src" "$tmp" <<'PY' || { echo "Bail out! cannot write the checkpoints"; exit 1; }
import sys, torch
src, tmp = sys.argv[1], sys.argv[2]
sys.path[:0] = [src + "/tests/import", src + "/tools"]
import refimpl, variants, mpqx_torch as mt
def bn(m):
    for x in m.modules():
        if isinstance(x, torch.nn.BatchNorm1d):
            x.running_mean.uniform_(-0.5, 0.5); x.running_var.uniform_(0.5, 2.0)
            x.weight.data.uniform_(0.5, 1.5); x.bias.data.uniform_(-0.2, 0.2)
    return m
torch.manual_seed(7)
for L, H, D in ((1, 1, 16), (2, 2, 32), (1, 2, 32), (2, 1, 16)):
    m = bn(refimpl.FloatTransformer(num_in_features=3, d_model=D, window_size=24, num_out_features=1,
                                    nhead=H, num_enc_layers=L))
    torch.save({"model_state_dict": m.state_dict(), "epoch": 1}, "%s/ref_%d_%d_%d.pt" % (tmp, L, H, D))
torch.save(variants.MatmulAttention().state_dict(), tmp + "/mm.pt")
torch.save(variants.Unsupported().state_dict(), tmp + "/un.pt")
m = bn(mt.MpqxTransformer(3, 24, 16, 2, 64, 1, 1))
torch.save(m.state_dict(), tmp + "/mpqx.pt")
sd = m.state_dict(); del sd["head.bias"]
torch.save(sd, tmp + "/missing.pt")
PY

# check_model DIR DESC [qref|nosim]: C float forward vs torch, qref bit-exact (qref), export --sim (unless nosim).
check_model() {
	local dir=$1 desc=$2 out
	out=$("$mpqx" eval "$dir" --float --json 2>&1)
	local d
	d=$(printf '%s' "$out" | "$py" -c 'import json,sys; v=json.load(sys.stdin)["reference_max_abs"]; print(v if v is not None else "none")' 2>/dev/null)
	if [ -n "$d" ] && [ "$d" != none ] && "$py" -c "import sys; sys.exit(0 if float('$d') <= 1e-5 else 1)"; then
		ok "$desc: mpqx float forward = torch to $d on every test window"
	else
		not_ok "$desc: mpqx float forward vs torch" "$out"
	fi
	if [ "${3:-}" = qref ]; then
		if out=$(bash "$src/tests/qref_check.sh" "$mpqx" "$src" "$dir" 2>&1); then
			ok "$desc: C engine = tools/qref.py bit for bit (uniform 8, uniform 4, mixed)"
		else
			not_ok "$desc: qref cross-check" "$(printf '%s' "$out" | tail -n 15)"
		fi
	fi
	[ "${3:-}" = nosim ] && return
	out=$("$mpqx" export "$dir" -o "$tmp/exp" --windows 2 --sim 2>&1)
	if [ $? -eq 0 ] && printf '%s' "$out" | grep -qE 'RESULT windows=2 mismatches=0'; then
		ok "$desc: export --sim, 2 windows, mismatches=0"
	else
		not_ok "$desc: export --sim" "$(printf '%s' "$out" | tail -n 8)"
	fi
	rm -rf "$tmp/exp"
}

# mpqx's own class through the importer and through export: the same float forward.
own_kw='{"features":3,"window":24,"d_model":16,"heads":2,"ffn":64,"layers":1}'
if "$py" "$tool" import --module "$tool:MpqxTransformer" --kwargs "$own_kw" --checkpoint "$tmp/mpqx.pt" "${common[@]}" \
	--window 24 --out "$tmp/own" >"$tmp/log" 2>&1 &&
	"$py" "$tool" export --checkpoint "$tmp/mpqx.pt" --heads 2 "${common[@]}" --out "$tmp/own-export" >>"$tmp/log" 2>&1; then
	if "$py" - "$tmp/own/model.json" "$tmp/own-export/model.json" <<'PY'; then
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
ops = lambda d: [(l["op"], l["shape"], l.get("heads"), l.get("scale"), l.get("transpose_b")) for l in d["layers"]]
t = lambda d: [v for l in d["layers"] for k in ("weight", "bias", "value") if k in l for v in l[k]["data"]]
assert ops(a) == ops(b), "different graphs"
assert t(a) == t(b), "different tensors"
assert a["layers"][1]["name"] == "in_proj" and a["layers"][4]["name"] == "encoders.0.q", "names"
PY
		ok "MpqxTransformer: import gives export's graph and tensors, with the module paths as names"
	else
		not_ok "MpqxTransformer: import differs from export"
	fi
	check_model "$tmp/own" "MpqxTransformer"
else
	not_ok "MpqxTransformer import/export" "$(tail -n 20 "$tmp/log")"
fi

# The reference implementation's FloatTransformer, as it is.
for spec in 1_1_16 2_2_32 1_2_32 2_1_16; do
	IFS=_ read -r L H D <<<"$spec"
	kw="{\"num_in_features\":3,\"d_model\":$D,\"window_size\":24,\"num_out_features\":1,\"nhead\":$H,\"num_enc_layers\":$L}"
	desc="FloatTransformer layers=$L heads=$H d_model=$D"
	if "$py" "$tool" import --module "$src/tests/import/refimpl.py:FloatTransformer" --kwargs "$kw" \
		--checkpoint "$tmp/ref_$spec.pt" "${common[@]}" --window 24 --out "$tmp/ref_$spec" >"$tmp/log" 2>&1; then
		names=$("$py" -c 'import json,sys; print(" ".join(l["name"] for l in json.load(open(sys.argv[1]))["layers"]))' "$tmp/ref_$spec/model.json")
		last=$((L - 1))
		if [[ " $names " == *" encoder.encoder_layers.$last.mha.linear_q "* && " $names " == *" output_linear "* &&
			" $names " == *" position_encoding.pe "* && " $names " == *" encoder.encoder_layers.$last.mha_norm "* ]] &&
			{ [ "$L" = 1 ] || { [[ " $names " != *" encoder.encoder_layers.0."* ]] &&
				grep -q "dropped as unused.*encoder.encoder_layers.0" "$tmp/log"; }; }; then
			ok "$desc: imported, the user's module paths as names$([ "$L" = 2 ] && echo ', the unused first layer dropped and reported')"
		else
			not_ok "$desc: names or dropped layers" "$names" "$(cat "$tmp/log")"
		fi
		# qref and the simulation on two of the four shapes (one and two layers and heads), the float
		# forward on all
		case $spec in 2_2_32 | 1_1_16) check_model "$tmp/ref_$spec" "$desc" qref ;; *) check_model "$tmp/ref_$spec" "$desc" nosim ;; esac
	else
		not_ok "$desc: import failed" "$(tail -n 20 "$tmp/log")"
	fi
done

# matmul, transpose, scale before the product, a learned positional parameter, torch.mean.
if "$py" "$tool" import --module "$src/tests/import/variants.py:MatmulAttention" --checkpoint "$tmp/mm.pt" \
	"${common[@]}" --window 16 --name matmul-attn --out "$tmp/mm" >"$tmp/log" 2>&1; then
	ok "MatmulAttention: imported"
	check_model "$tmp/mm" "MatmulAttention" qref
else
	not_ok "MatmulAttention: import failed" "$(tail -n 20 "$tmp/log")"
fi

# nn.TransformerEncoder: LayerNorm, GELU or ReLU, packed in_proj, both norm orders, batch first or not.
"$py" - "$src" "$tmp" <<'PY' || not_ok "TorchEncoder checkpoints"
import sys, torch
sys.path[:0] = [sys.argv[1] + "/tests/import"]
import variants
torch.manual_seed(11)
for act, nf, bf, fn in (("gelu", 0, 1, 0), ("relu", 1, 0, 1), ("gelu", 1, 0, 0), ("relu", 0, 1, 1)):
    m = variants.TorchEncoder(activation=act, norm_first=bool(nf), batch_first=bool(bf), final_norm=bool(fn))
    for p in m.parameters():
        if p.dim() == 1:
            p.data.uniform_(-0.3, 0.3)
    torch.save(m.state_dict(), "%s/enc_%s_%d_%d_%d.pt" % (sys.argv[2], act, nf, bf, fn))
PY
for spec in gelu_0_1_0 relu_1_0_1 gelu_1_0_0 relu_0_1_1; do
	IFS=_ read -r act nf bf fn <<<"$spec"
	tf() { [ "$1" = 1 ] && echo true || echo false; }
	kw="{\"activation\":\"$act\",\"norm_first\":$(tf "$nf"),\"batch_first\":$(tf "$bf"),\"final_norm\":$(tf "$fn")}"
	desc="TransformerEncoder $act norm_first=$nf batch_first=$bf final_norm=$fn"
	if "$py" "$tool" import --module "$src/tests/import/variants.py:TorchEncoder" --kwargs "$kw" \
		--checkpoint "$tmp/enc_$spec.pt" "${common[@]}" --window 16 --out "$tmp/enc_$spec" >"$tmp/log" 2>&1; then
		names=$("$py" -c 'import json,sys; print(" ".join(l["name"] + ":" + l["op"] for l in json.load(open(sys.argv[1]))["layers"]))' "$tmp/enc_$spec/model.json")
		want="encoder.layers.1.self_attn.q:linear encoder.layers.1.self_attn.scores:matmul encoder.layers.1.norm2:layernorm encoder.layers.0.$act:$act"
		[ "$fn" = 1 ] && want="$want encoder.norm:layernorm"
		miss=""
		for w in $want; do [[ " $names " == *" $w "* ]] || miss="$miss $w"; done
		# the C float forward against torch's predictions (reference.json) on every test window
		out=$("$mpqx" eval "$tmp/enc_$spec" --float --json 2>&1)
		d=$(printf '%s' "$out" | "$py" -c 'import json,sys; r=json.load(sys.stdin); v=r["reference_max_abs"]; print("%s %d" % (v, r["windows"]) if v is not None else "none")' 2>/dev/null)
		read -r dmax nwin <<<"$d"
		if [ -n "$miss" ]; then
			not_ok "$desc: layers missing:$miss" "$names"
		elif [ -z "$dmax" ] || [ "$dmax" = none ] || ! "$py" -c "import sys; sys.exit(0 if float('$dmax') <= 1e-5 else 1)"; then
			not_ok "$desc: mpqx float forward vs torch" "$out"
		else
			ok "$desc: imported, in_proj split into q, k, v; mpqx float forward = torch to $dmax on all $nwin test windows"
		fi
	else
		not_ok "$desc: import failed" "$(tail -n 20 "$tmp/log")"
	fi
done

# Refusals: exit 1, a message naming the place, nothing written.
refuse() {
	local pat=$1 desc=$2 out status
	shift 2
	out=$("$py" "$tool" import "$@" --out "$tmp/refused" 2>&1)
	status=$?
	if [ "$status" -eq 1 ] && printf '%s' "$out" | grep -qE -- "$pat" && ! [ -e "$tmp/refused" ] &&
		! printf '%s' "$out" | grep -q Traceback; then
		ok "$desc"
	else
		not_ok "$desc" "status $status" "$(printf '%s' "$out" | head -c 600)"
	fi
}
refuse 'unsupported op torch\.cumsum.*variants\.py:[0-9]+: h = torch\.cumsum' "an op mpqx lacks: op, place and source line" \
	--module "$src/tests/import/variants.py:Unsupported" --checkpoint "$tmp/un.pt" "${common[@]}" --window 16
refuse 'supported ops and patterns' "the refusal lists the supported ops" \
	--module "$src/tests/import/variants.py:Unsupported" --checkpoint "$tmp/un.pt" "${common[@]}" --window 16
refuse 'missing keys: head\.bias' "a checkpoint missing a key" \
	--module "$tool:MpqxTransformer" --kwargs "$own_kw" --checkpoint "$tmp/missing.pt" "${common[@]}" --window 24
refuse 'different shapes: .*in_proj\.weight: checkpoint \(16, 3\), model \(32, 3\)' "a checkpoint of another shape" \
	--module "$tool:MpqxTransformer" --kwargs '{"features":3,"window":24,"d_model":32,"heads":2,"ffn":64,"layers":1}' \
	--checkpoint "$tmp/mpqx.pt" "${common[@]}" --window 24
refuse 'no class .Nope.' "a class the file lacks" --module "$tool:Nope" --checkpoint "$tmp/mpqx.pt" "${common[@]}" --window 24
refuse 'no such file' "a module file that does not exist" --module "$tmp/none.py:X" --checkpoint "$tmp/mpqx.pt" "${common[@]}" --window 24
refuse '--kwargs: not JSON' "kwargs that are not JSON" --module "$tool:MpqxTransformer" --kwargs '{features' \
	--checkpoint "$tmp/mpqx.pt" "${common[@]}" --window 24
refuse 'does not run on windows' "a window the model cannot take" --module "$tool:MpqxTransformer" --kwargs "$own_kw" \
	--checkpoint "$tmp/mpqx.pt" "${common[@]}" --window 12
refuse "no column 'nope'" "a column the CSV lacks" --module "$tool:MpqxTransformer" --kwargs "$own_kw" \
	--checkpoint "$tmp/mpqx.pt" --csv "$tmp/data.csv" --columns pressure,nope,wind --target temperature --window 24

echo "1..$n"
[ "$fails" -eq 0 ]
