#!/usr/bin/env bash
# tools/mpqx_torch.py finetune on the tiny model (every op): one epoch, the last epoch kept, ranges learned,
# so that the written weights and ranges are the trained ones. Then: the written model carries the fixed
# ranges and the finetuned record; mpqx's parameters of the result are the ones the training used (the
# tool checks it); `mpqx eval --dump` equals tools/qref.py bit for bit (qref reads the fixed ranges from
# model.json itself); `mpqx export --sim` simulates with no mismatch; the explorer's title names the config;
# bad fixed ranges and a bad config are refused with the file and the place.
# Usage: test_finetune.sh MPQX SRC_DIR. Prints TAP; exit 77 (skip) when Debian's python3 has no torch.
set -u
mpqx=$1
src=$2
py=/usr/bin/python3
. "$src/tests/tap.sh"
if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
	echo "1..0 # SKIP finetune needs Debian's python3-torch (tools/deps.sh installs it)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tiny=$src/tests/data/tiny
export MPQX=$mpqx MPQX_DATA_DIR=$src
printf '{"format":"mpqx-config","version":1,"device":"xc7s15","defaults":{"w_bits":4,"a_bits":6,"buffer":"auto","rom":"auto"},"layers":{"head":{"a_bits":8}}}\n' >"$tmp/w4a6.json"

if out=$("$py" "$src/tools/mpqx_torch.py" finetune "$tiny" -c "$tmp/w4a6.json" --out "$tmp/ft" --epochs 1 \
	--select last --learn-ranges --seed 2 --threads 1 --json 2>&1); then
	ok "finetune ran: $(printf '%s' "$out" | grep '^kept')"
else
	not_ok "finetune failed" "$(printf '%s' "$out" | tail -5)"
fi

# The record, the ranges (every layer whose range is calibrated) and weights that differ from the source.
if "$py" - "$tiny/model.json" "$tmp/ft/model.json" <<'PY'; then
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
f = b["finetuned"]
assert f["config"] == "configs/w4a6.json" and f["epoch"] == 1 and f["ranges"] == "learned", f
want = {l["name"] for l in b["layers"] if l["op"] != "const"}  # a softmax keeps its calibrated largest probability
assert set(b["ranges"]) == want, sorted(set(b["ranges"]) ^ want)
assert all(lo <= 0 <= hi for lo, hi in b["ranges"].values())
changed = sum(la["weight"]["data"] != lb["weight"]["data"] for la, lb in zip(a["layers"], b["layers"])
              if "weight" in la and la["op"] != "const")
assert changed >= 5, changed
PY
	ok "model.json: finetuned record, fixed ranges of every calibrated layer, trained weights"
else
	not_ok "model.json of the fine-tuned model"
fi
[ -f "$tmp/ft/configs/w4a6.json" ] && [ -f "$tmp/ft/data.csv" ] && [ -f "$tmp/ft/reference.json" ] &&
	ok "configs/w4a6.json, data.csv and reference.json written" || not_ok "sample files missing"

# The C engine with the fixed ranges against qref, which reads them from model.json itself.
cfg=$tmp/ft/configs/w4a6.json
if "$mpqx" eval "$tmp/ft" -c "$cfg" --json --dump "$tmp/dump" >"$tmp/eval.json" 2>"$tmp/err" &&
	"$py" "$src/tools/qref.py" "$tmp/ft" -c "$cfg" --dump "$tmp/dump" --eval-json "$tmp/eval.json" >"$tmp/qref.txt" 2>&1 &&
	grep -q "every layer equal" "$tmp/qref.txt"; then
	ok "mpqx eval of the fine-tuned model = qref bit for bit"
else
	not_ok "qref cross-check" "$(cat "$tmp/err"; tail -5 "$tmp/qref.txt" 2>/dev/null)"
fi
if "$mpqx" eval "$tmp/ft" -c "$cfg" --params >"$tmp/params.json" &&
	"$py" -c 'import json,sys; j=json.load(open(sys.argv[1])); s={e["range_source"] for e in j["layers"]}; assert j["finetuned"]=="configs/w4a6.json" and s=={"fixed","op"}, (j["finetuned"], s)' "$tmp/params.json"; then
	ok "eval --params: every calibrated range is the fixed one"
else
	not_ok "eval --params of the fine-tuned model"
fi

if command -v iverilog >/dev/null 2>&1; then
	out=$("$mpqx" export "$tmp/ft" -c "$cfg" -o "$tmp/hdl" --windows 2 --sim 2>&1)
	if printf '%s' "$out" | grep -q "RESULT windows=2 mismatches=0"; then
		ok "export --sim of the fine-tuned model: mismatches=0"
	else
		not_ok "export --sim" "$(printf '%s' "$out" | tail -5)"
	fi
else
	ok "# SKIP export --sim: no iverilog"
fi

if "$mpqx" "$tmp/ft" --dump-screen 100x30 2>&1 | head -1 | grep -q "tiny (fine-tuned for w4a6.json)"; then
	ok "the explorer's title names the config the model was tuned for"
else
	not_ok "explorer title" "$("$mpqx" "$tmp/ft" --dump-screen 100x30 2>&1 | head -1)"
fi

# Bad input: a fixed range of a layer the model lacks; reversed; a config naming a layer the model lacks.
"$py" - "$tmp/ft/model.json" "$tmp" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["ranges"]["nope"] = [0, 1]
json.dump(j, open(sys.argv[2] + "/bad-name.json", "w"))
del j["ranges"]["nope"]
j["ranges"]["relu"] = [1, 0]
json.dump(j, open(sys.argv[2] + "/bad-order.json", "w"))
PY
cp "$tmp/ft/data.csv" "$tmp/data.csv"
expect 1 "bad-name.json: ranges.nope: the model has no layer of that name" "fixed range of an unknown layer" -- \
	eval "$tmp/bad-name.json"
expect 1 "bad-order.json: ranges.relu: expected \[lo, hi\], two finite numbers with lo <= hi" \
	"reversed fixed range" -- eval "$tmp/bad-order.json"
printf '{"format":"mpqx-config","version":1,"layers":{"nope":{"a_bits":4}}}\n' >"$tmp/bad-cfg.json"
out=$("$py" "$src/tools/mpqx_torch.py" finetune "$tiny" -c "$tmp/bad-cfg.json" --out "$tmp/ft2" --epochs 1 --threads 1 2>&1)
status=$?
if [ "$status" -eq 1 ] && printf '%s' "$out" | grep -q "bad-cfg.json: layers.nope" && [ ! -e "$tmp/ft2" ]; then
	ok "finetune with a bad config: exit 1, names the file and the place, writes nothing"
else
	not_ok "finetune with a bad config" "status $status" "$out"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
