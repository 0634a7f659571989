#!/usr/bin/python3
"""Synthesize single layer modules of an export and compare them with `mpqx estimate`, per layer.

    tools/synth_layers.py MODEL -c CONFIG EXPORT_DIR [LAYER...] [--mpqx PATH] [--json]

EXPORT_DIR is `mpqx export MODEL -c CONFIG -o EXPORT_DIR`. Each LAYER (default: every layer whose `mult`
resolves to logic) is synthesized alone, `synth_xilinx -family xc7 -noiopad -noclkbuf -flatten -top
mpqx_layer_NAME` (the module with its buffer, ROMs, requantizer and rescale; flattened inside the layer),
and its cells are counted as tools/synth_check.py counts them (LUT, LUTRAM, FF, BRAM18, DSP). A layer
alone takes seconds where the whole design takes minutes; the layer's ports stay ports, so nothing of it
is optimised away that the design would keep. Prints estimate / Yosys per layer and the LUT and FF
errors.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synth_check  # noqa: E402


def synth_layer(exp, module):
    files = [ln.split()[1] for ln in open(os.path.join(exp, "synth.ys")) if ln.startswith("read_verilog")]
    with tempfile.NamedTemporaryFile("w", suffix=".ys", dir=exp, delete=False) as f:
        for p in files:
            f.write(f"read_verilog {p}\n")
        f.write(f"synth_xilinx -family xc7 -noiopad -noclkbuf -flatten -top {module}\n")
        f.write(f"tee -q -o {module}.stat.json stat -json\n")
        ys = f.name
    try:
        subprocess.run(["yosys", "-q", "-s", os.path.basename(ys)], cwd=exp, capture_output=True, text=True,
                       check=True)
        with open(os.path.join(exp, f"{module}.stat.json")) as fp:
            mods = synth_check.parse_stat(fp.read())
    finally:
        os.unlink(ys)
    cells = {}
    for m in mods.values():
        for k, v in m.get("num_cells_by_type", {}).items():
            cells[k] = cells.get(k, 0) + v
    return synth_check.categorize(cells)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("-c", "--config", required=True)
    ap.add_argument("export")
    ap.add_argument("layers", nargs="*")
    ap.add_argument("--mpqx", default=os.environ.get("MPQX", "mpqx"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    est = json.loads(subprocess.run([a.mpqx, "estimate", a.model, "-c", a.config, "--json"], capture_output=True,
                                    text=True, check=True).stdout)
    man = json.load(open(os.path.join(a.export, "manifest.json")))
    modules = {L["name"]: L["module"] for L in man["layers"]}
    names = a.layers or [L["name"] for L in est["layers"] if L.get("mult") == "logic"]
    rows = []
    for n in names:
        le = next(L for L in est["layers"] if L["name"] == n)
        ys = synth_layer(a.export, modules[n])
        rows.append({"name": n, "op": le["op"], "mult": le.get("mult", "-"),
                     "estimate": {r: le[r] for r in synth_check.RES}, "yosys": {r: ys[r] for r in synth_check.RES}})
        if not a.json:
            e, y = rows[-1]["estimate"], rows[-1]["yosys"]
            err = {r: (100.0 * (e[r] - y[r]) / y[r] if y[r] else 0.0) for r in ("lut", "ff")}
            print(f"{n:24} {le['op']:8} {rows[-1]['mult']:6} LUT {e['lut']:5} / {y['lut']:5} ({err['lut']:+5.1f}%)"
                  f"  FF {e['ff']:4} / {y['ff']:4} ({err['ff']:+5.1f}%)  LUTRAM {e['lutram']} / {y['lutram']}"
                  f"  BRAM18 {e['bram18']} / {y['bram18']}  DSP {e['dsp']} / {y['dsp']}", flush=True)
    if a.json:
        json.dump({"layers": rows}, sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
