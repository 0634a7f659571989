#!/usr/bin/python3
"""Place and route an iCE40 export and compare with `mpqx estimate`: logic cells, EBR, SPRAM, DSP and the
maximum clock.

    tools/pnr_check.py MODEL [-c CONFIG] [-d DEVICE] [--json] [--cache DIR] [--tag TAG] [--seed N]
    tools/pnr_check.py --summary [--tag test] [--cache DIR] [--costs INI]

Exports the configuration for the device (`mpqx export -d DEVICE`, default ice40up5k), synthesizes it
with Yosys as the export's synth.ys does (`synth_ice40 [-dsp] -top TOP -json`, flattened as synth_ice40
does by default; -dsp when the device has DSP blocks, its coarse step spelt out without ice40_dsp, whose
register packing asserts in Yosys 0.23 on products narrower than their users) and places and routes it with `nextpnr-ice40 --up5k --package sg48` (HX8K:
`--hx8k --package ct256`) with the device clock as the constraint (`--freq MHZ`, `--timing-allow-fail` so that a design that
misses it is still reported, fixed --seed 1 so that a run repeats). A design larger than the device fails placement; nextpnr has packed it by then and its error
names the logic cells, which are recorded (with Yosys's EBR, SPRAM and DSP, "packed_only"). From nextpnr's
report it reads ICESTORM_LC, ICESTORM_RAM (EBR), ICESTORM_SPRAM,
ICESTORM_DSP and the maximum frequency of the design clock, with the critical path's first and last
cells (the layer modules they belong to).

Records go to the cache of tools/synth_check.py (default $XDG_CACHE_HOME/mpqx/synth) in its layout:
HASH-DEVICE.pnr.json holds the Yosys statistics and nextpnr's report (a cached run is not repeated),
HASH-DEVICE[-TAG].run.json the record that tools/fit_costs.py reads ("synth_flat" totals in the five
resource slots of the estimate: lut = logic cells, lutram = SPRAM, ff, bram18 = EBR, dsp; and "pnr").

Exit status: 0 when EBR, SPRAM and DSP agree exactly with the estimate, 1 otherwise or when a tool failed,
2 usage, 77 when yosys or nextpnr-ice40 is not installed (the test suite's skip status).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synth_check  # noqa: E402

RES = ("lut", "lutram", "ff", "bram18", "dsp")
PARTS = {"ice40up5k": ("--up5k", "sg48"), "ice40hx8k": ("--hx8k", "ct256")}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def cells_of(mods, top):
    return synth_check.flat_cells(mods, synth_check.find_module(mods, top), {})


def flat_totals(cells):
    """Yosys cells of synth_ice40 -> the five resource slots (lut: LUT4, ff: flip-flops)."""
    r = {"lut": 0, "lutram": 0, "ff": 0, "bram18": 0, "dsp": 0, "carry": 0}
    for c, n in cells.items():
        if c == "SB_LUT4":
            r["lut"] += n
        elif c.startswith("SB_DFF"):
            r["ff"] += n
        elif c == "SB_RAM40_4K":
            r["bram18"] += n
        elif c == "SB_SPRAM256KA":
            r["lutram"] += n
        elif c == "SB_MAC16":
            r["dsp"] += n
        elif c == "SB_CARRY":
            r["carry"] += n
    return r


def layer_of(cell, manifest):
    """The layer whose instance a cell name lies in (u_NAME...), or 'top'."""
    for L in manifest["layers"]:
        inst = "u_" + L["module"].split("layer_", 1)[-1]
        if cell.startswith(inst + ".") or cell.startswith(inst + "_") or ("." + inst + ".") in cell:
            return L["name"]
    return "top"


def pnr(exp, top, device, dev_caps, clock, seed, log):
    """Yosys then nextpnr in exp; returns (stat modules, nextpnr report, seconds)."""
    # the export's synth.ys: synth_ice40 [-dsp] (with -dsp its coarse step spelt out without ice40_dsp, which
    # asserts in Yosys 0.23 on narrow products), writing design.json
    with open(os.path.join(exp, "synth.ys")) as fp:
        script = "".join(ln.replace("-json synth.json", "-json design.json") for ln in fp
                         if not ln.startswith("stat"))
    script += "tee -q -o stat-ice40.json stat -json\n"
    with open(os.path.join(exp, "pnr.ys"), "w") as fp:
        fp.write(script)
    t0 = time.time()
    p = run(["nice", "-n", "10", "yosys", "-q", "-l", os.path.abspath(log + ".yosys"), "-s", "pnr.ys"], cwd=exp)
    if p.returncode != 0:
        sys.exit(f"pnr_check: yosys failed (see {log}.yosys):\n{p.stderr[-2000:]}")
    ty = time.time() - t0
    flag, package = PARTS[device]
    cmd = ["nice", "-n", "10", "nextpnr-ice40", flag, "--package", package, "--json", "design.json",
           "--freq", f"{clock:g}", "--timing-allow-fail", "--seed", str(seed), "--report", "report.json", "-l",
           os.path.abspath(log + ".nextpnr")]
    p = run(cmd, cwd=exp)
    with open(os.path.join(exp, "stat-ice40.json")) as fp:
        mods = synth_check.parse_stat(fp.read())
    rep = None
    if os.path.exists(os.path.join(exp, "report.json")):
        with open(os.path.join(exp, "report.json")) as fp:
            rep = json.load(fp)
    err = None
    if p.returncode != 0 or rep is None:
        with open(log + ".nextpnr") as fp:
            text = fp.read()
        tail = [ln for ln in text.split("\n") if "ERROR" in ln]
        err = "; ".join(tail[-3:]) or p.stderr[-500:]
        # the packer's utilisation, printed before placement fails
        m = re.findall(r"ICESTORM_LC:\s+(\d+)/", text)
        if m and "ICESTORM_LCs" not in err:
            err += f" (packed: of {m[-1]} ICESTORM_LCs)"
    return mods, rep, err, round(ty, 1), round(time.time() - t0 - ty, 1)


def summary(a):
    """--summary: the records of the cache with the tag, re-estimated with the current mpqx and cost file:
    EBR, SPRAM, DSP exact, logic cells and maximum clock against nextpnr."""
    import glob
    import statistics
    mpqx = shutil.which(a.mpqx) or a.mpqx
    rows = []
    for p in sorted(glob.glob(os.path.join(synth_check.cache_dir(a.cache), "*.run.json"))):
        with open(p) as fp:
            r = json.load(fp)
        if r.get("flow") != "ice40-pnr" or (a.tag and r.get("tag") != a.tag) or not r["pnr"].get("placed"):
            continue
        cmd = [mpqx, "estimate", r["model"], "-d", r["device"], "--json"] + (["-c", r["config"]] if r["config"] else [])
        cmd += ["--costs", a.costs] if a.costs else []
        p2 = run(cmd)
        if p2.returncode != 0:
            print(f"pnr_check: {' '.join(cmd)} failed: {p2.stderr[-300:]}", file=sys.stderr)
            continue
        e = json.loads(p2.stdout)
        pl = r["pnr"]["placed"]
        fe, fn = e.get("fmax_mhz"), r["pnr"]["fmax_mhz"]
        rows.append({"design": os.path.basename(r["model"]) + " " + os.path.basename(r["config"] or "u8")
                     + (" (packed)" if pl.get("packed_only") else ""),
                     "lc": (e["total"]["lut"], pl["lut"]),
                     "exact": all(e["total"][k] == pl[k] for k in ("lutram", "bram18", "dsp")),
                     "ebr": (e["total"]["bram18"], pl["bram18"]), "spram": (e["total"]["lutram"], pl["lutram"]),
                     "dsp": (e["total"]["dsp"], pl["dsp"]), "fmax": (fe, fn)})
    if not rows:
        print(f"pnr_check: no placed records tagged '{a.tag}'", file=sys.stderr)
        return 1
    print(f"{'design':34} {'LC est/pnr':>13} {'err':>7} {'EBR':>7} {'SPRAM':>6} {'DSP':>6} {'fmax est/pnr MHz':>18} {'err':>7}")
    lc_err, f_err = [], []
    for x in rows:
        le = 100.0 * (x["lc"][0] - x["lc"][1]) / x["lc"][1]
        lc_err.append(abs(le))
        fe = 100.0 * (x["fmax"][0] - x["fmax"][1]) / x["fmax"][1] if x["fmax"][0] and x["fmax"][1] else None
        if fe is not None:
            f_err.append(abs(fe))
        print(f"{x['design'][:34]:34} {x['lc'][0]:>6}/{x['lc'][1]:<6} {le:>+6.1f}% {x['ebr'][0]:>3}/{x['ebr'][1]:<3} "
              f"{x['spram'][0]:>2}/{x['spram'][1]:<3} {x['dsp'][0]:>2}/{x['dsp'][1]:<3} "
              f"{(x['fmax'][0] or 0):>8.2f}/{(x['fmax'][1] or 0):<9.2f} " + (f"{fe:>+6.1f}%" if fe is not None else "      -"))
    print(f"{len(rows)} designs tagged '{a.tag}': EBR, SPRAM, DSP exact in {sum(x['exact'] for x in rows)}/{len(rows)}; "
          f"LC median |error| {statistics.median(lc_err):.2f}%, worst {max(lc_err):.2f}%"
          + (f"; max clock median |error| {statistics.median(f_err):.2f}%, worst {max(f_err):.2f}%" if f_err else ""))
    return 0


def main():
    if "--summary" in sys.argv:
        ap = argparse.ArgumentParser(description="summary of the cached iCE40 runs")
        ap.add_argument("--summary", action="store_true")
        ap.add_argument("--tag", default="test")
        ap.add_argument("--cache")
        ap.add_argument("--costs")
        ap.add_argument("--mpqx", default=os.environ.get("MPQX", "mpqx"))
        return summary(ap.parse_args())
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("-c", "--config")
    ap.add_argument("-d", "--device", default="ice40up5k", choices=sorted(PARTS))
    ap.add_argument("--mpqx", default=os.environ.get("MPQX", "mpqx"))
    ap.add_argument("--cache")
    ap.add_argument("--costs", help="coefficients ini passed to mpqx estimate")
    ap.add_argument("--tag", default="")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="export into this directory and keep it")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    for tool in ("yosys", "nextpnr-ice40"):
        if not shutil.which(tool):
            print(f"pnr_check: {tool} is not installed (tools/deps.sh installs it)", file=sys.stderr)
            return 77
    mpqx = shutil.which(a.mpqx) or a.mpqx
    cdir = synth_check.cache_dir(a.cache)
    os.makedirs(cdir, exist_ok=True)
    tmp = None
    exp = a.keep
    if not exp:
        tmp = tempfile.mkdtemp(prefix="mpqx-pnr-")
        exp = os.path.join(tmp, "export")
    try:
        cmd = [mpqx, "export", a.model, "-d", a.device, "-o", exp, "--windows", "2", "-q"]
        cmd += ["-c", a.config] if a.config else []
        p = run(cmd)
        if p.returncode != 0:
            sys.exit(f"pnr_check: {' '.join(cmd)} failed:\n{p.stderr}")
        cmd = [mpqx, "estimate", a.model, "-d", a.device, "--json", "--features"]
        cmd += (["-c", a.config] if a.config else []) + (["--costs", a.costs] if a.costs else [])
        p = run(cmd)
        if p.returncode != 0:
            sys.exit(f"pnr_check: {' '.join(cmd)} failed:\n{p.stderr}")
        est = json.loads(p.stdout)
        with open(os.path.join(exp, "manifest.json")) as fp:
            manifest = json.load(fp)
        key = synth_check.design_hash(exp) + "-" + a.device
        cpath = os.path.join(cdir, key + ".pnr.json")
        if os.path.exists(cpath):
            with open(cpath) as fp:
                st = json.load(fp)
        else:
            mods, rep, err, ty, tp = pnr(exp, manifest["top"], a.device, est["capacity"], est["clock_mhz"], a.seed,
                                         os.path.join(exp, "pnr.log"))
            st = {"modules": mods, "report": rep, "error": err, "seconds_yosys": ty, "seconds_nextpnr": tp,
                  "yosys": run(["yosys", "-V"]).stdout.strip(), "seed": a.seed, "clock_mhz": est["clock_mhz"],
                  "manifest": manifest}
            with open(cpath + ".tmp", "w") as fp:
                json.dump(st, fp)
            os.replace(cpath + ".tmp", cpath)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    syn = flat_totals(cells_of(st["modules"], manifest["top"]))
    rep = st["report"]
    placed = None
    fmax = None
    crit = None
    if rep and not st["error"]:
        u = rep["utilization"]
        placed = {"lut": u["ICESTORM_LC"]["used"], "lutram": u.get("ICESTORM_SPRAM", {}).get("used", 0),
                  "ff": syn["ff"], "bram18": u["ICESTORM_RAM"]["used"], "dsp": u.get("ICESTORM_DSP", {}).get("used", 0)}
        clocks = {k: v for k, v in rep["fmax"].items() if "PACKER" not in k}
        if clocks:
            fmax = min(v["achieved"] for v in clocks.values())
        for cp in rep.get("critical_paths", []):
            if "PACKER" in str(cp.get("from", "")) or not cp.get("path"):
                continue
            # the launching register is the clk-to-q step's destination, the capturing one the setup's
            first, last = cp["path"][0], cp["path"][-1]
            crit = {"from": first.get("to", {}).get("cell", ""), "to": last.get("to", {}).get("cell", ""),
                    "delay_ns": sum(s.get("delay", 0) for s in cp["path"])}
            crit["from_layer"] = layer_of(crit["from"], manifest)
            crit["to_layer"] = layer_of(crit["to"], manifest)
            break
    if placed is None and st["error"]:
        # a design larger than the device: nextpnr has packed it and names its logic cells in the error
        m = re.search(r"of (\d+) ICESTORM_LCs", st["error"])
        if m:
            placed = {"lut": int(m.group(1)), "lutram": syn["lutram"], "ff": syn["ff"], "bram18": syn["bram18"],
                      "dsp": syn["dsp"], "packed_only": True}
    tot_e = {k: est["total"][k] for k in RES}
    ref = placed or {"lut": None, "lutram": syn["lutram"], "ff": syn["ff"], "bram18": syn["bram18"], "dsp": syn["dsp"]}
    exact = all(tot_e[k] == ref[k] for k in ("lutram", "bram18", "dsp"))
    err_pct = {k: synth_check.pct(tot_e[k], ref[k]) for k in RES if ref[k] is not None}
    fmax_est = est.get("fmax_mhz")
    record = {
        "format": "mpqx-synth-check", "version": 1, "tag": a.tag, "flow": "ice40-pnr",
        "model": os.path.abspath(a.model), "config": os.path.abspath(a.config) if a.config else None,
        "design": key, "device": a.device, "estimate": est, "synth": None,
        "synth_flat": {"total": ref, "yosys_cells": syn, "seconds": st["seconds_yosys"], "yosys": st["yosys"]}
        if placed else None,
        "pnr": {"placed": placed, "fmax_mhz": fmax, "clock_mhz": st["clock_mhz"], "critical": crit,
                "error": st["error"], "seconds": st["seconds_nextpnr"], "seed": st["seed"]},
        "flows": ["flat"] if placed else [],
        "total": {"estimate": tot_e, "synth": ref, "reference": "nextpnr", "error_pct": err_pct},
        "bram_dsp_exact": exact,
        "fmax": {"estimate": fmax_est, "nextpnr": fmax,
                 "error_pct": synth_check.pct(fmax_est, fmax) if fmax_est and fmax else None},
    }
    rpath = os.path.join(cdir, key + (("-" + a.tag) if a.tag else "") + ".run.json")
    with open(rpath + ".tmp", "w") as fp:
        json.dump(record, fp)
    os.replace(rpath + ".tmp", rpath)
    if a.json:
        out = dict(record)
        del out["estimate"]
        print(json.dumps(out, indent=1))
    else:
        print(f"{os.path.basename(os.path.normpath(a.model))} {a.config or '(uniform 8 bits)'} on {a.device}: "
              f"estimate vs nextpnr-ice40 (Yosys {st['seconds_yosys']} s, nextpnr {st['seconds_nextpnr']} s)")
        if st["error"]:
            print(f"place and route failed: {st['error']}")
        names = {"lut": "LC", "lutram": "SPRAM", "ff": "FF", "bram18": "EBR", "dsp": "DSP"}
        for k in RES:
            r = ref[k]
            print(f"  {names[k]:6} estimate {tot_e[k]:>6}  {'nextpnr' if placed and k != 'ff' else 'Yosys':7} "
                  f"{'-' if r is None else r:>6}" + (f"  {err_pct[k]:+.1f}%" if k in err_pct else ""))
        print(f"  Yosys cells: LUT4 {syn['lut']}, FF {syn['ff']}, SB_CARRY {syn['carry']}")
        if fmax:
            print(f"  max clock: nextpnr {fmax:.2f} MHz ({'meets' if fmax >= st['clock_mhz'] else 'MISSES'} "
                  f"{st['clock_mhz']:g} MHz)" + (f", estimate {fmax_est:.2f} MHz" if fmax_est else ""))
        if crit:
            print(f"  critical path: {crit['from_layer']} -> {crit['to_layer']} ({crit['delay_ns']:.1f} ns)")
        print(f"EBR, SPRAM and DSP exact: {'yes' if exact else 'NO'}")
    return 0 if exact and (not st["error"] or (placed and placed.get("packed_only"))) else 1


if __name__ == "__main__":
    sys.exit(main())
