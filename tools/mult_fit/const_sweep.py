#!/usr/bin/python3
"""How predictable is Yosys's cost of a constant product in logic? A sweep over random constants.

    tools/mult_fit/const_sweep.py [-n N] [--seed S] [--out FILE.jsonl] [--yosys PATH]

Synthesizes the requantizer with its own multiplier (hdl_templates/rescale.v with requant.v) alone, for N
random multipliers m (15 bits, 2^14 <= m < 2^15, as the quantizer normalizes them) and input widths IW
(9..22) and shifts, twice: LOGIC=1 (|v| * m as a shift-add over the canonical signed digits of m) and
LOGIC=0 (a DSP slice), with `synth_xilinx -family xc7 -noiopad -noclkbuf -flatten`. The difference of the
two LUT counts is the constant product's own cost. Then fits own = a * bits + b, where bits is the
estimator's feature (csd_adder_bits in src/core/estimate.c: the adder bits of the shift-add), and prints
the fit, the residuals (median and worst, relative), and the LUTs per adder bit (median, range): what
part of Yosys's cost a count of adders can predict. FILE.jsonl (appended to) keeps every run.
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CELLS = re.compile(r"^\s+(LUT[1-6]|INV|CARRY4|FDRE|DSP48E1)\s+(\d+)\s*$")


def csd_adder_bits(m, pw):
    """src/core/estimate.c csd_adder_bits: every digit but a positive lowest adds bits pos .. pw-1."""
    t = 3 * m
    cp, cn = (t & ~m) >> 1, (~t & m) >> 1
    if not (cp | cn):
        return 0
    low = ((cp | cn) & -(cp | cn)).bit_length() - 1
    bits = 0
    for i in range(64):
        if (cp >> i) & 1 and i != low:
            bits += max(0, pw - i)
        if (cn >> i) & 1:
            bits += max(0, pw - i)
    return bits


def synth(yosys, params, logic):
    sets = " ".join(f"-set {k} {v}" for k, v in params.items())
    rtl = [os.path.join(ROOT, "hdl_templates", f) for f in ("requant.v", "rescale.v")]
    script = (f"read_verilog {' '.join(rtl)}; chparam {sets} -set LOGIC {logic} mpqx_rescale; "
              "synth_xilinx -family xc7 -noiopad -noclkbuf -flatten -top mpqx_rescale; stat")
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([yosys, "-q", "-p", script + f"; tee -q -o {d}/stat.txt stat"], capture_output=True,
                             text=True)
        if out.returncode:
            sys.exit(f"yosys failed: {out.stderr.strip()[-400:]}")
        cells = {}
        for ln in open(f"{d}/stat.txt"):
            m = CELLS.match(ln)
            if m:
                cells[m.group(1)] = cells.get(m.group(1), 0) + int(m.group(2))
    return sum(v for k, v in cells.items() if k.startswith("LUT") or k == "INV"), cells


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--yosys", default="yosys")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    rows = []
    for _ in range(a.n):
        p = {"IW": rng.randrange(9, 23), "MW": 15, "MUL": rng.randrange(1 << 14, 1 << 15), "SHR": rng.randrange(14, 24),
             "OB": 8, "Z": 0}
        lut1, c1 = synth(a.yosys, p, 1)
        lut0, c0 = synth(a.yosys, p, 0)
        r = {**p, "lut_logic": lut1, "lut_dsp": lut0, "own": lut1 - lut0, "carry4": c1.get("CARRY4", 0),
             "bits": csd_adder_bits(p["MUL"], p["IW"] + p["MW"])}
        rows.append(r)
        print(f"IW {p['IW']:2}  m {p['MUL']:5}  SHR {p['SHR']:2}  adder bits {r['bits']:4}  LUT logic {lut1:4}, "
              f"DSP {lut0:3}, own {r['own']:4} ({r['own'] / max(1, r['bits']):.2f} per bit)", flush=True)
        if a.out:
            with open(a.out, "a") as fp:
                fp.write(json.dumps(r) + "\n")
    x = np.array([r["bits"] for r in rows], float)
    y = np.array([r["own"] for r in rows], float)
    A = np.c_[x, np.ones_like(x)]
    w = 1.0 / np.maximum(y, 1)
    c, *_ = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)
    e = np.abs(A @ c - y) / np.maximum(y, 1) * 100
    per = y / np.maximum(x, 1)
    print(f"{len(rows)} constants: own LUT = {c[0]:.3f} * adder bits {c[1]:+.1f}; |residual| median {np.median(e):.1f}%, "
          f"worst {e.max():.1f}%, over 10% in {int((e > 10).sum())}; LUT per adder bit median {np.median(per):.2f}, "
          f"range {per.min():.2f} .. {per.max():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
