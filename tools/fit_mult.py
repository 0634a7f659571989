#!/usr/bin/python3
"""Fit the estimator's [mult] LUT coefficients (multipliers in logic) on single layer modules.

    tools/fit_mult.py RUNS [--features pp,csd,ppm] [--mpqx PATH] [--write devices/xc7-cost.ini] [-v]

RUNS is a text file, one run a line: `TAG MODEL CONFIG RESULT [DSP_CONFIG DSP_RESULT]`, where RESULT is
the output of `tools/synth_layers.py MODEL -c CONFIG EXPORT --json` (each layer module synthesized alone,
flattened inside) and the optional DSP pair the same layers of CONFIG with `"mult": "dsp"` (pass the
layer names to synth_layers.py). For every layer of a run whose `mult` is logic, the estimate's blocks
(`mpqx estimate --json --features`) give the `mult` block's features and the rest of the layer's LUTs.
The target of the fit is the logic multiplier's own cells: with a DSP pair, (Yosys logic - Yosys DSP) -
(the estimate's rest in logic - its estimate in DSP), so that the layer kind's own error, the same with
either multiplier, does not move the [mult] coefficients; without one, Yosys logic - the rest. The
coefficients are the non-negative least squares of the target on the features, each layer weighted by
1 / its Yosys LUTs (relative errors), over the runs tagged `fit`. Prints estimate / Yosys per layer (LUT and FF with the
new coefficients) for every tag, and the median and worst |error| per tag; with DSP pairs also the
multiplier's own error, (estimate logic - estimate DSP) - (Yosys logic - Yosys DSP), relative to the layer. The layers' FF are not fitted:
the registers of a logic multiplier are counted by rule (doc/estimator.md, "Multipliers in logic").
--write replaces the coefficients of the ini's [mult] section (its comment lines are kept).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fit_costs import nnls  # noqa: E402


def load(runs, mpqx):
    rows = []
    for ln in open(runs):
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        tag, model, cfg, res, *pair = ln.split()

        def est(c):
            out = subprocess.run([mpqx, "estimate", model, "-c", c, "--json", "--features"], capture_output=True,
                                 text=True, check=True).stdout
            return {L["name"]: L for L in json.loads(out)["layers"]}
        layers = est(cfg)
        dsp_est, dsp_y = {}, {}
        if pair:
            dsp_est = est(pair[0])
            dsp_y = {r["name"]: r["yosys"] for r in json.load(open(pair[1]))["layers"]}
        for r in json.load(open(res))["layers"]:
            L = layers[r["name"]]
            if L.get("mult") != "logic":
                continue
            mb = [b for b in L.get("blocks", []) if b["kind"] == "mult"]
            feats = mb[0]["features"] if mb else {}
            mlut = sum(b["lut"] for b in mb)
            d = None
            if r["name"] in dsp_y:
                d = {"y": dsp_y[r["name"]]["lut"], "est": dsp_est[r["name"]]["hier"]["lut"]}
            rows.append({"dsp_pair": d, "tag": tag, "run": os.path.splitext(os.path.basename(cfg))[0], "name": r["name"],
                         "op": L["op"], "rest": L["hier"]["lut"] - mlut, "ff": L["hier"]["ff"], "f": feats,
                         "y": r["yosys"], "dsp": L["dsp"], "lutram": L["lutram"], "bram18": L["bram18"]})
    return rows


def write_ini(path, coef):
    out, sec = [], None
    done = False
    for line in open(path):
        s = line.strip()
        if s.startswith("["):
            sec = s[1:s.index("]")]
        if sec == "mult" and s and s[0] not in ";#[" and not s.startswith("flat."):
            if not done:
                out += [f"lut.{k} = {v:.4g}\n" for k, v in coef.items() if v > 0]
                done = True
            continue
        out.append(line)
    with open(path, "w") as fp:
        fp.writelines(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs")
    ap.add_argument("--features", default="pp,csd,ppm")
    ap.add_argument("--mpqx", default=os.environ.get("MPQX", "mpqx"))
    ap.add_argument("--write")
    ap.add_argument("-v", action="store_true", help="print every layer")
    a = ap.parse_args()
    fs = a.features.split(",")
    rows = load(a.runs, a.mpqx)
    fit = [r for r in rows if r["tag"] == "fit"]
    if not fit:
        sys.exit(f"{a.runs}: no run tagged fit")
    A = np.array([[r["f"].get(k, 0) for k in fs] for r in fit], float)
    b = np.array([(r["y"]["lut"] - r["dsp_pair"]["y"]) - (r["rest"] - r["dsp_pair"]["est"]) if r["dsp_pair"]
                  else r["y"]["lut"] - r["rest"] for r in fit], float)
    w = np.array([1.0 / max(1, r["y"]["lut"]) for r in fit])
    x = nnls(A * w[:, None], b * w)
    coef = dict(zip(fs, x))
    print("coefficients: " + ", ".join(f"lut.{k} = {v:.4g}" for k, v in coef.items()))
    for tag in sorted({r["tag"] for r in rows}):
        el, ef, em, other = [], [], [], 0
        for r in rows:
            if r["tag"] != tag:
                continue
            lut = r["rest"] + round(sum(c * r["f"].get(k, 0) for k, c in coef.items()))
            y = r["y"]
            e1 = 100.0 * (lut - y["lut"]) / y["lut"]
            e2 = 100.0 * (r["ff"] - y["ff"]) / y["ff"] if y["ff"] else 0.0
            el.append(abs(e1))
            ef.append(abs(e2))
            other += any(r[k] != y[k] for k in ("dsp", "lutram", "bram18"))
            if r["dsp_pair"]:
                # the multiplier's own error: the estimate's logic - DSP difference against Yosys's
                em.append(abs(100.0 * ((lut - r["dsp_pair"]["est"]) - (y["lut"] - r["dsp_pair"]["y"])) / y["lut"]))
            if a.v:
                d = r["dsp_pair"]
                dm = f"  in DSP: LUT {d['est']} / {d['y']} ({100.0 * (d['est'] - d['y']) / d['y']:+.1f}%)" if d else ""
                print(f"{tag:5} {r['run']:18} {r['name']:12} {r['op']:8} LUT {lut:5} / {y['lut']:5} ({e1:+6.1f}%)"
                      f"  FF {r['ff']:4} / {y['ff']:4} ({e2:+5.1f}%)  DSP {r['dsp']} / {y['dsp']}{dm}")
        print(f"{tag}: {len(el)} layers, LUT |error| median {np.median(el):.1f}%, worst {max(el):.1f}%, "
              f"over 10% in {sum(e > 10 for e in el)}; FF median {np.median(ef):.1f}%, worst {max(ef):.1f}%, "
              f"over 10% in {sum(e > 10 for e in ef)}; DSP, LUTRAM, BRAM18 differ in {other}")
        if em:
            print(f"{tag}: {len(em)} layers with a DSP pair, the logic multiplier's own LUT error (estimate's logic - "
                  f"DSP against Yosys's, / Yosys logic): median {np.median(em):.1f}%, worst {max(em):.1f}%, "
                  f"over 10% in {sum(e > 10 for e in em)}")
    if a.write:
        write_ini(a.write, coef)
    return 0


if __name__ == "__main__":
    sys.exit(main())
