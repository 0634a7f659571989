#!/usr/bin/python3
"""Compare `mpqx estimate` with Yosys synthesis of the exported RTL, per layer and in total.

    tools/synth_check.py MODEL [-c CONFIG] [-d DEVICE] [--json] [--cache DIR] [--sim] [--flow both|flat|hier]

Exports the configuration (`mpqx export`) and synthesizes it with Yosys twice (--flow both, the default):

    synth_xilinx -family xc7 -noiopad -noclkbuf -flatten -top TOP   the reference: what a real flow
                                                                    produces, optimised across layers
    synth_xilinx -family xc7 -noiopad -noclkbuf -top TOP            hierarchy kept: per-layer figures

The totals, their errors and the fit verdict are against the flattened run; the per-layer table (and
the per-block cells that tools/fit_costs.py fits on) come from the hierarchical one, whose totals are
printed too. --flow flat or hier runs only one (without the hierarchical run there is no per-layer
table; without the flattened one the hierarchical totals are the reference). Cells of each layer module
(its RAM, ROM, rescale, requantizer and divider instances included) are counted in the categories of
doc/estimator.md:

    LUT     LUT1..LUT6, INV                       LUTRAM  RAM32M/RAM64M/... times their LUT cost, SRLs
    FF      FDRE FDSE FDCE FDPE                    BRAM18  RAMB18E1 = 1, RAMB36E1 = 2
    DSP     DSP48E1                                (CARRY4, MUXF7, MUXF8 are reported, not counted)

It prints estimate against synthesis per layer and in total (--json: one object). Every run is stored
in the cache directory (default $XDG_CACHE_HOME/mpqx/synth) under a hash of the RTL and ROM images
(HASH.stat.json hierarchical, HASH.flat.stat.json flattened), with a record that tools/fit_costs.py
reads; a cached synthesis is not run again. --sim also runs the
testbench and compares its cycle count with the estimate.

Exit status: 0 when BRAM18, DSP and cycles agree in every layer (and BRAM18, DSP in the flattened
totals), 1 otherwise or on failure, 2 usage,
3 with --no-synth when the design has not been synthesized yet.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

LUTRAM_COST = {
    "RAM32X1S": 1, "RAM32X1D": 2, "RAM32M": 4, "RAM64X1S": 1, "RAM64X1D": 2, "RAM64M": 4,
    "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1,
}
FF_CELLS = {"FDRE", "FDSE", "FDCE", "FDPE"}
RES = ("lut", "lutram", "ff", "bram18", "dsp")
# sub-module kinds, by the end of the library module's name (the export's prefix comes first)
SUBKINDS = (("ram_block", "ram"), ("ram_distributed", "ram"), ("rom_block", "rom"), ("rom_logic", "rom"),
            ("requant", "requant"), ("rescale", "rescale"), ("rescale_logic", "rescale"), ("div", "div"))


def categorize(cells):
    """Cell counts {type: n} -> {lut, lutram, ff, bram18, dsp, other{}}."""
    r = {k: 0 for k in RES}
    other = {}
    for c, n in cells.items():
        if re.fullmatch(r"LUT[1-6]", c) or c == "INV":
            r["lut"] += n
        elif c in LUTRAM_COST:
            r["lutram"] += n * LUTRAM_COST[c]
        elif c in FF_CELLS:
            r["ff"] += n
        elif c == "RAMB18E1":
            r["bram18"] += n
        elif c == "RAMB36E1":
            r["bram18"] += 2 * n
        elif c == "DSP48E1":
            r["dsp"] += n
        else:
            other[c] = other.get(c, 0) + n
    r["other"] = other
    return r


def base_name(mod):
    """'$paramod$abc\\mpqx_rom_logic\\...' or '\\mpqx_rom_logic' -> 'mpqx_rom_logic'."""
    m = mod
    if m.startswith("$paramod"):
        parts = m.split("\\")
        m = parts[1] if len(parts) > 1 else m
    return m.lstrip("\\")


def sub_kind(mod):
    b = base_name(mod)
    for suffix, kind in SUBKINDS:
        if b.endswith(suffix):
            return kind
    return None


def parse_stat(text):
    """Yosys 0.23 `stat -json` with a top module prints its hierarchy inside the JSON: drop those lines."""
    keep = [ln for ln in text.split("\n") if ln.strip()[:1] in ('"', "{", "}", "[", "]", "")]
    mods = json.loads("\n".join(keep))["modules"]
    # cell types name modules without the leading backslash of the module table's keys
    return {k[1:] if k.startswith("\\") else k: v for k, v in mods.items()}


def flat_cells(mods, name, memo):
    """All leaf cells under module name (instances expanded)."""
    if name in memo:
        return memo[name]
    out = {}
    for c, n in mods[name]["num_cells_by_type"].items():
        if c in mods:
            for k, v in flat_cells(mods, c, memo).items():
                out[k] = out.get(k, 0) + v * n
        else:
            out[c] = out.get(c, 0) + n
    memo[name] = out
    return out


def split_cells(mods, name, own_kind, acc):
    """Leaf cells under name grouped by block kind: the module's own cells go to own_kind, each
    library sub-module's own cells to its kind (recursively)."""
    for c, n in mods[name]["num_cells_by_type"].items():
        if c in mods:
            kind = sub_kind(c) or own_kind
            for _ in range(n):
                split_cells(mods, c, kind, acc)
        else:
            d = acc.setdefault(own_kind, {})
            d[c] = d.get(c, 0) + n
    return acc


def find_module(mods, name):
    for k in mods:
        if k.lstrip("\\") == name or base_name(k) == name:
            return k
    raise KeyError(name)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def cache_dir(arg):
    if arg:
        return arg
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mpqx", "synth")


def design_hash(exp):
    """Hash of what synthesis sees: the RTL without comments and blank lines, and the ROM images."""
    h = hashlib.sha256()
    for sub in ("rtl", "mem"):
        d = os.path.join(exp, sub)
        for f in sorted(os.listdir(d)):
            if sub == "rtl" and not f.endswith(".v"):
                continue
            h.update(f.encode())
            with open(os.path.join(d, f), "rb") as fp:
                data = fp.read()
            if sub == "rtl":
                lines = (re.sub(rb"//.*", b"", ln).strip() for ln in data.split(b"\n"))
                data = b"\n".join(ln for ln in lines if ln)
            h.update(data)
    return h.hexdigest()[:24]


def synthesize(exp, top, log, flatten=False):
    """Runs Yosys in exp (nice'd), flattened or with the hierarchy kept; returns the parsed stat modules
    and the seconds it took."""
    rtl = sorted(f for f in os.listdir(os.path.join(exp, "rtl")) if f.endswith(".v"))
    sfx = "-flat" if flatten else ""
    script = "".join(f"read_verilog rtl/{f}\n" for f in rtl)
    script += f"synth_xilinx -family xc7 -noiopad -noclkbuf{' -flatten' if flatten else ''} -top {top}\n"
    script += f"tee -q -o stat{sfx}.json stat -json\n"
    with open(os.path.join(exp, f"check{sfx}.ys"), "w") as fp:
        fp.write(script)
    t0 = time.time()
    p = run(["nice", "-n", "10", "yosys", "-q", "-l", os.path.abspath(log), "-s", f"check{sfx}.ys"], cwd=exp)
    if p.returncode != 0:
        sys.exit(f"synth_check: yosys failed (see {log}):\n{p.stderr[-2000:]}")
    with open(os.path.join(exp, f"stat{sfx}.json")) as fp:
        return parse_stat(fp.read()), time.time() - t0


def synth_record(mods, manifest):
    top = find_module(mods, manifest["top"])
    memo = {}
    layers = []
    for L in manifest["layers"]:
        name = find_module(mods, L["module"])
        flat = flat_cells(mods, name, memo)
        parts = split_cells(mods, name, "own", {})
        layers.append({
            "name": L["name"], "op": L["op"], "module": L["module"],
            "cells": flat, **categorize(flat),
            "parts": {k: categorize(v) for k, v in parts.items()},
        })
    own = {c: n for c, n in mods[top]["num_cells_by_type"].items() if c not in mods}
    total = categorize(flat_cells(mods, top, memo))
    return {"layers": layers, "top": categorize(own), "total": total}


def verdict(tot, cap):
    """(fits, limiting resource, utilisation) of totals against capacities, by the rule of mpqx estimate:
    LUT counts logic and memory LUTs against all LUTs."""
    use = {"lut": (tot["lut"] + tot["lutram"]) / cap["lut"] if cap["lut"] else float("inf"),
           "lutram": tot["lutram"] / cap["lutram"] if cap["lutram"] else float("inf"),
           "ff": tot["ff"] / cap["ff"] if cap["ff"] else float("inf"),
           "bram18": tot["bram18"] / cap["bram18"] if cap["bram18"] else float("inf"),
           "dsp": tot["dsp"] / cap["dsp"] if cap["dsp"] else float("inf")}
    lim = max(use, key=lambda k: use[k])
    return all(v <= 1 for v in use.values()), lim, use


def pct(e, s):
    if s == 0:
        return 0.0 if e == 0 else float("inf")
    return 100.0 * (e - s) / s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("-c", "--config")
    ap.add_argument("-d", "--device")
    ap.add_argument("--mpqx", default=os.environ.get("MPQX", "mpqx"), help="the mpqx executable")
    ap.add_argument("--cache", help="cache directory (default ~/.cache/mpqx/synth)")
    ap.add_argument("--costs", help="coefficients ini passed to mpqx estimate")
    ap.add_argument("--keep", help="export into this directory and keep it")
    ap.add_argument("--sim", action="store_true", help="also simulate and compare cycles")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--tag", default="", help="a label stored in the record (e.g. 'fit' or 'test')")
    ap.add_argument("--no-synth", action="store_true", help="use cached synthesis only; exit 3 when there is none")
    ap.add_argument("--flow", choices=("both", "flat", "hier"), default="both",
                    help="flattened (the reference totals), hierarchical (per-layer figures) or both")
    a = ap.parse_args()

    mpqx = shutil.which(a.mpqx) or a.mpqx
    cdir = cache_dir(a.cache)
    os.makedirs(cdir, exist_ok=True)
    tmp = None
    exp = a.keep
    if not exp:
        tmp = tempfile.mkdtemp(prefix="mpqx-synth-")
        exp = os.path.join(tmp, "export")
    try:
        cmd = [mpqx, "export", a.model, "-o", exp, "--windows", "2", "-q"]
        if a.config:
            cmd += ["-c", a.config]
        p = run(cmd)
        if p.returncode != 0:
            sys.exit(f"synth_check: {' '.join(cmd)} failed:\n{p.stderr}")
        with open(os.path.join(exp, "manifest.json")) as fp:
            manifest = json.load(fp)
        key = design_hash(exp)
        flows = {"both": ("flat", "hier"), "flat": ("flat",), "hier": ("hier",)}[a.flow]
        if a.no_synth:
            # whatever is cached: a design synthesized only one way is still usable
            flows = tuple(f for f in ("flat", "hier")
                          if os.path.exists(os.path.join(cdir, key + (".flat" if f == "flat" else "") + ".stat.json"))
                          and (a.flow == "both" or a.flow == f))
            if not flows:
                print(f"synth_check: no cached synthesis of this design in {cdir}", file=sys.stderr)
                return 3
        st = {}
        for fl in flows:
            cpath = os.path.join(cdir, key + (".flat" if fl == "flat" else "") + ".stat.json")
            if os.path.exists(cpath):
                with open(cpath) as fp:
                    st[fl] = json.load(fp)
                continue
            mods, secs = synthesize(exp, manifest["top"], os.path.join(exp, f"yosys-{fl}.log"), fl == "flat")
            st[fl] = {"modules": mods, "seconds": round(secs, 1), "yosys": run(["yosys", "-V"]).stdout.strip(),
                      "flatten": fl == "flat", "manifest": manifest}
            with open(cpath + ".tmp", "w") as fp:
                json.dump(st[fl], fp)
            os.replace(cpath + ".tmp", cpath)
        syn = None
        if "hier" in st:
            syn = synth_record(st["hier"]["modules"], manifest)
            syn["seconds"] = st["hier"]["seconds"]
            syn["yosys"] = st["hier"]["yosys"]
        syn_flat = None
        if "flat" in st:
            mods = st["flat"]["modules"]
            syn_flat = {"total": categorize(flat_cells(mods, find_module(mods, manifest["top"]), {})),
                        "seconds": st["flat"]["seconds"], "yosys": st["flat"]["yosys"]}

        cmd = [mpqx, "estimate", a.model, "--json", "--features"]
        if a.config:
            cmd += ["-c", a.config]
        if a.device:
            cmd += ["-d", a.device]
        if a.costs:
            cmd += ["--costs", a.costs]
        p = run(cmd)
        if p.returncode != 0:
            sys.exit(f"synth_check: {' '.join(cmd)} failed:\n{p.stderr}")
        est = json.loads(p.stdout)

        sim = None
        if a.sim:
            p = run([mpqx, "export", a.model, "-o", exp, "--windows", "2", "-q", "--sim"]
                    + (["-c", a.config] if a.config else []))
            m = re.search(r"RESULT windows=(\d+) mismatches=(\d+) cycles=(\d+)", p.stdout)
            sim = {"ok": p.returncode == 0 and m is not None,
                   "cycles": int(m.group(3)) if m else None, "line": m.group(0) if m else p.stderr[-500:]}
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    exact_ok = True
    for i, le in enumerate(est["layers"]):
        ls = syn["layers"][i] if syn else None
        if ls and le["name"] != ls["name"]:
            sys.exit(f"synth_check: layer order differs: {le['name']} vs {ls['name']}")
        # per layer: the estimate with the hierarchy kept, as the hierarchical run synthesizes each module
        r = {"name": le["name"], "op": le["op"], "est": {k: le.get("hier", {}).get(k, le[k]) for k in RES + ("cycles",)},
             "synth": {k: ls[k] for k in RES} if ls else None}
        if ls and (le["bram18"] != ls["bram18"] or le["dsp"] != ls["dsp"]):
            exact_ok = False
        rows.append(r)
    tot_e = {k: est["total"][k] for k in RES}
    tot_h = {k: syn["total"][k] for k in RES} if syn else None
    tot_f = {k: syn_flat["total"][k] for k in RES} if syn_flat else None
    tot_s = tot_f or tot_h      # the reference: flattened when it was run
    errors = {k: pct(tot_e[k], tot_s[k]) for k in RES}
    tot_eh = {k: est["total"].get("hier", {}).get(k, tot_e[k]) for k in RES}
    errors_h = {k: pct(tot_eh[k], tot_h[k]) for k in RES} if tot_h else None
    if tot_f and (tot_e["bram18"] != tot_f["bram18"] or tot_e["dsp"] != tot_f["dsp"]):
        exact_ok = False
    if sim is not None and (not sim["ok"] or sim["cycles"] != est["total"]["cycles"]):
        exact_ok = False

    fits_s, lim_s, use_s = verdict(tot_s, est["capacity"])
    record = {
        "format": "mpqx-synth-check", "version": 1, "tag": a.tag,
        "fits": {"estimate": est["fits"], "synth": fits_s, "limiting_estimate": est["limiting"],
                 "limiting_synth": lim_s, "utilisation_synth": use_s, "utilisation_estimate": est["utilisation"]},
        "model": os.path.abspath(a.model), "config": os.path.abspath(a.config) if a.config else None,
        "design": key, "device": est["device"], "estimate": est, "synth": syn, "synth_flat": syn_flat,
        "flows": sorted(st),
        "total": {"estimate": tot_e, "synth": tot_s, "reference": "flat" if tot_f else "hier",
                  "error_pct": errors, "synth_hier": tot_h, "error_pct_hier": errors_h},
        "bram_dsp_exact": all(r["est"]["bram18"] == r["synth"]["bram18"] and r["est"]["dsp"] == r["synth"]["dsp"]
                              for r in rows if r["synth"])
                          and all(tot_e[k] == tot_s[k] for k in ("bram18", "dsp")),
        "exact_totals": {k: tot_e[k] == tot_s[k] for k in ("bram18", "dsp", "lutram")},
        "sim": sim,
    }
    rname = key + (("-" + a.tag) if a.tag else "") + ".run.json"
    rpath = os.path.join(cdir, rname)
    if os.path.exists(rpath) and a.no_synth:
        # a re-estimate must not lose what an earlier run synthesized (e.g. --flow flat after both)
        with open(rpath) as fp:
            old = json.load(fp)
        if len(old.get("flows", [])) > len(record["flows"]):
            rpath = None
    if rpath:
        with open(rpath + ".tmp", "w") as fp:
            json.dump(record, fp)
        os.replace(rpath + ".tmp", rpath)

    if a.json:
        out = dict(record)
        out["layers"] = rows
        del out["estimate"]
        del out["synth"]
        print(json.dumps(out, indent=1))
    else:
        some = syn or syn_flat
        secs = ", ".join(f"{n} {s['seconds']} s" for n, s in (("hierarchical", syn), ("flattened", syn_flat)) if s)
        print(f"{os.path.basename(os.path.normpath(a.model))} {a.config or '(uniform 8 bits)'}: "
              f"estimate vs Yosys ({some.get('yosys', 'yosys')}, {secs})")
        hdr = f"{'layer':16} {'op':8}" + "".join(f" {k:>13}" for k in RES)
        if syn:
            print("per layer: estimate / Yosys with the hierarchy kept")
            print(hdr)
            for r in rows:
                cells = "".join(f" {r['est'][k]:>6}/{r['synth'][k]:<6}" for k in RES)
                print(f"{r['name'][:16]:16} {r['op']:8}{cells}")
            cells = "".join(f" {est['top'][k]:>6}/{syn['top'][k]:<6}" for k in RES)
            print(f"{'(top)':16} {'':8}{cells}")
            cells = "".join(f" {tot_e[k]:>6}/{tot_h[k]:<6}" for k in RES)
            print(f"{'total (hier)':16} {'':8}{cells}")
            print(f"{'error % (hier)':16} {'':8}" + "".join(f" {errors_h[k]:>+12.1f}%" for k in RES))
        else:
            print(hdr)
        if tot_f:
            cells = "".join(f" {tot_e[k]:>6}/{tot_f[k]:<6}" for k in RES)
            print(f"{'total (flat)':16} {'':8}{cells}")
            print(f"{'error % (flat)':16} {'':8}" + "".join(f" {errors[k]:>+12.1f}%" for k in RES))
            if tot_h:
                print(f"flattening removed: " + ", ".join(f"{k} {tot_h[k] - tot_f[k]}" for k in RES))
        where = " and ".join(w for w, on in (("in every layer", syn), ("in the flattened totals", syn_flat)) if on)
        print(f"BRAM18 and DSP exact {where}: {'yes' if record['bram_dsp_exact'] else 'NO'}")
        fe, fs = record["fits"]["estimate"], record["fits"]["synth"]
        print(f"fits {est['device']}: estimate {'yes' if fe else 'no'} ({est['limiting']}), "
              f"Yosys{' flattened' if tot_f else ''} {'yes' if fs else 'no'} ({lim_s})")
        if sim is not None:
            print(f"simulation: {sim['line']}; estimate {est['total']['cycles']} cycles: "
                  f"{'equal' if sim['ok'] and sim['cycles'] == est['total']['cycles'] else 'DIFFERENT'}")
        other = (syn_flat or syn)["total"].get("other", {})
        if other:
            print("not counted: " + ", ".join(f"{k} {v}" for k, v in sorted(other.items())))
    return 0 if exact_ok else 1


if __name__ == "__main__":
    sys.exit(main())
