#!/usr/bin/python3
"""Synthesize single layer modules of an export and compare them with `mpqx estimate`, per layer.

    tools/synth_layers.py MODEL -c CONFIG EXPORT_DIR [LAYER...] [--mpqx PATH] [--json]
                          [--hier [--tag TAG] [--cache DIR]]

EXPORT_DIR is `mpqx export MODEL -c CONFIG -o EXPORT_DIR`. Each LAYER (default: every layer whose `mult`
resolves to logic) is synthesized alone, `synth_xilinx -family xc7 -noiopad -noclkbuf -flatten -top
mpqx_layer_NAME` (the module with its buffer, ROMs, requantizer and rescale; flattened inside the layer),
and its cells are counted as tools/synth_check.py counts them (LUT, LUTRAM, FF, BRAM18, DSP). A layer
alone takes seconds where the whole design takes minutes; the layer's ports stay ports, so nothing of it
is optimised away that the design would keep. Prints estimate / Yosys per layer and the LUT and FF
errors.

--hier keeps the hierarchy inside the layer (`synth_xilinx` without -flatten): the layer module's own
cells, its RAM, ROMs, requantizer, rescale blocks and divider are counted apart, as tools/synth_check.py
does for a whole design with the hierarchy kept (the module is synthesized as it is there: the same
cells, per block). Each layer's result is cached (--cache, tools/synth_check.py's directory) under a hash
of the export's RTL and ROM images and the module, and with --tag the run is stored as a record that
tools/fit_costs.py reads like a hierarchical whole-design record (its layers only, no top module):
single layer modules can then be fitted per block, in seconds per layer.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synth_check  # noqa: E402


def yosys_layer(exp, module, flatten=True):
    """Synthesizes one layer module of the export; the parsed `stat -json` modules."""
    files = [ln.split()[1] for ln in open(os.path.join(exp, "synth.ys")) if ln.startswith("read_verilog")]
    with tempfile.NamedTemporaryFile("w", suffix=".ys", dir=exp, delete=False) as f:
        for p in files:
            f.write(f"read_verilog {p}\n")
        f.write(f"synth_xilinx -family xc7 -noiopad -noclkbuf{' -flatten' if flatten else ''} -top {module}\n")
        f.write(f"tee -q -o {module}.stat.json stat -json\n")
        ys = f.name
    try:
        subprocess.run(["nice", "-n", "10", "yosys", "-q", "-s", os.path.basename(ys)], cwd=exp,
                       capture_output=True, text=True, check=True)
        with open(os.path.join(exp, f"{module}.stat.json")) as fp:
            return synth_check.parse_stat(fp.read())
    finally:
        os.unlink(ys)


def synth_layer_hier(exp, module, cdir, key):
    """One layer module with the hierarchy kept, cached: the record of tools/synth_check.py's synth_record
    for that layer (cells, the categories, and the cells per block kind in "parts")."""
    cpath = os.path.join(cdir, f"{key}-{module}.layer.stat.json")
    if os.path.exists(cpath):
        with open(cpath) as fp:
            mods = json.load(fp)["modules"]
    else:
        mods = yosys_layer(exp, module, flatten=False)
        with open(cpath + ".tmp", "w") as fp:
            json.dump({"modules": mods, "yosys": subprocess.run(["yosys", "-V"], capture_output=True,
                                                                 text=True).stdout.strip()}, fp)
        os.replace(cpath + ".tmp", cpath)
    name = synth_check.find_module(mods, module)
    flat = synth_check.flat_cells(mods, name, {})
    parts = synth_check.split_cells(mods, name, "own", {})
    return {"cells": flat, **synth_check.categorize(flat),
            "parts": {k: synth_check.categorize(v) for k, v in parts.items()}}


def synth_layer(exp, module):
    mods = yosys_layer(exp, module)
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
    ap.add_argument("--hier", action="store_true", help="keep the hierarchy inside the layer (cells per block)")
    ap.add_argument("--tag", default="", help="with --hier: store a record with this tag for tools/fit_costs.py")
    ap.add_argument("--cache", help="with --hier: cache directory (default tools/synth_check.py's)")
    a = ap.parse_args()
    if a.tag and not a.hier:
        ap.error("--tag needs --hier (tools/fit_costs.py fits per block)")
    est = json.loads(subprocess.run([a.mpqx, "estimate", a.model, "-c", a.config, "--json", "--features"],
                                    capture_output=True, text=True, check=True).stdout)
    man = json.load(open(os.path.join(a.export, "manifest.json")))
    modules = {L["name"]: L["module"] for L in man["layers"]}
    names = a.layers or [L["name"] for L in est["layers"] if L.get("mult") == "logic"]
    for n in names:
        if n not in modules:
            sys.exit(f"synth_layers: {a.export}/manifest.json: no layer '{n}'")
    cdir = synth_check.cache_dir(a.cache)
    key = synth_check.design_hash(a.export)
    if a.hier:
        os.makedirs(cdir, exist_ok=True)
    rows = []
    syn_layers = []
    for n in names:
        le = next(L for L in est["layers"] if L["name"] == n)
        if a.hier:
            ys = synth_layer_hier(a.export, modules[n], cdir, key)
            syn_layers.append({"name": n, "op": le["op"], "module": modules[n], **ys})
        else:
            ys = synth_layer(a.export, modules[n])
        rows.append({"name": n, "op": le["op"], "mult": le.get("mult", "-"),
                     "estimate": {r: le["hier"].get(r, le[r]) for r in synth_check.RES}, "yosys": {r: ys[r] for r in synth_check.RES}})
        if a.hier:
            # the layer's blocks side by side: estimate / Yosys LUT and FF per block kind
            rows[-1]["blocks"] = {}
            for b in le.get("blocks", []):
                part = ys["parts"].get("own" if b["kind"] == le["op"] else b["kind"], {})
                rows[-1]["blocks"][b["kind"]] = {"estimate": {r: b[r] for r in ("lut", "ff")},
                                                 "yosys": {r: part.get(r, 0) for r in ("lut", "ff")}}
        if not a.json:
            e, y = rows[-1]["estimate"], rows[-1]["yosys"]
            err = {r: (100.0 * (e[r] - y[r]) / y[r] if y[r] else 0.0) for r in ("lut", "ff")}
            print(f"{n:24} {le['op']:8} {rows[-1]['mult']:6} LUT {e['lut']:5} / {y['lut']:5} ({err['lut']:+5.1f}%)"
                  f"  FF {e['ff']:4} / {y['ff']:4} ({err['ff']:+5.1f}%)  LUTRAM {e['lutram']} / {y['lutram']}"
                  f"  BRAM18 {e['bram18']} / {y['bram18']}  DSP {e['dsp']} / {y['dsp']}", flush=True)
            for k, v in rows[-1].get("blocks", {}).items():
                print(f"{'':24} {k:8} LUT {v['estimate']['lut']:5} / {v['yosys']['lut']:5}"
                      f"  FF {v['estimate']['ff']:4} / {v['yosys']['ff']:4}", flush=True)
    if a.tag:
        total = {r: sum(L[r] for L in syn_layers) for r in synth_check.RES}
        lkey = key + "-" + "-".join(sorted(modules[n] for n in names))
        rname = f"{key}-L{hashlib.sha256(lkey.encode()).hexdigest()[:12]}-{a.tag}.run.json"
        record = {"format": "mpqx-synth-check", "version": 1, "tag": a.tag, "layers_only": True,
                  "model": os.path.abspath(a.model), "config": os.path.abspath(a.config), "design": key,
                  "device": est["device"], "estimate": est, "flows": ["hier-layers"], "synth_flat": None,
                  "synth": {"layers": syn_layers, "top": {}, "total": total}}
        rpath = os.path.join(cdir, rname)
        with open(rpath + ".tmp", "w") as fp:
            json.dump(record, fp)
        os.replace(rpath + ".tmp", rpath)
    if a.json:
        json.dump({"layers": rows}, sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
