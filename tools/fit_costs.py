#!/usr/bin/python3
"""Refit the estimator's LUT/FF coefficients (devices/FAMILY-cost.ini) from synthesis results.

    tools/fit_costs.py [--cache DIR] [--tag fit] [--probe-ram] [--refresh] [-o devices/xc7-cost.ini]
    tools/fit_costs.py --vivado ESTIMATE.json REPORT.txt [ESTIMATE.json REPORT.txt ...] [-o INI]
    tools/fit_costs.py --ini devices/ice40-cost.ini [--tag fit]    (records of tools/pnr_check.py)

Yosys mode (the default) reads the records tools/synth_check.py stored in the cache (only those with the
given --tag, so that test configurations stay out of the fit). It fits in two steps:

1. Per block, on the synthesis with the hierarchy kept (whole designs, tools/synth_check.py, or single
   layer modules, tools/synth_layers.py --hier --tag). Each record holds, per layer, the estimator's
   blocks with their model features and, from synthesis, the cells of each block kind: the layer
   module's own cells, its RAM, ROMs, requantizer, rescale blocks and divider, and the top module's own
   cells. For every block kind and for LUTs and FFs it solves a non-negative least-squares fit of
   (synthesis - the part the rules already count) on the kind's features; kinds without data keep
   their coefficients, and so do kinds not named by --kinds when it is given (in step 2 as well).
2. On the flattened totals (the reference: what a real flow produces, optimised across layers). Per
   resource, one scale per block kind (its `flat.lut` / `flat.ff` in the ini) multiplies that kind's
   step-1 figures in the estimate's totals, fitted by least squares of the designs' relative total
   errors, pulled towards 1 (--flat-ridge, default 0.02, the best of 0.02, 0.05, 0.2 and 1 in
   leave-one-out over the fit designs: a kind moves only as far as the totals ask for). The per-block
   coefficients stay those of step 1, so the estimate's per-layer figures with the hierarchy kept
   (`hier` in `mpqx estimate --json`) keep matching per-layer synthesis. Records without a flattened run
   count only in step 1; --flat-ridge inf skips step 2; --keep-blocks skips step 1 (the per-block
   coefficients of --ini are kept and only the scales are refitted).

The ini is rewritten with the coefficients and the scales. --probe-ram also synthesizes the distributed buffer (ram.v) alone
at 128..4096 words to fit its read multiplexer.

Vivado mode scales the flattened figures (every kind's flat.lut and flat.ff; the per-layer figures with the
hierarchy kept do not change) so that the estimate matches Vivado: pass pairs of
`mpqx estimate --json --features` output and `report_utilization` text of the same design (rows are read by label:
"Slice LUTs", "LUT as Memory", "Slice Registers", "Block RAM Tile", "DSPs"). With several designs the
LUT and FF scales are least-squares fits; the memories and DSPs come from rules and are only compared.
"""
import argparse
import glob
import json
import math
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import synth_check  # noqa: E402

LAYER_KINDS = ("linear", "affine", "matmul", "add", "relu", "split", "avgpool", "concat", "softmax", "layernorm",
               "gelu")
# Which features each kind's LUT and FF models use (the rest stay 0).
SPEC = {k: {"lut": ["one", "cnt", "addr1", "addr2", "clr", "acc", "mux", "prod", "in", "out", "split", "bias"],
            "ff": ["one", "regs", "dspx"]}
        for k in LAYER_KINDS}
SPEC.update({
    "ram": {"lut": ["w7", "one7", "w8", "one8", "w9", "one9", "w10", "one10", "w11", "one11", "w12", "one12",
                    "w13", "one13"], "ff": []},
    "rom": {"lut": ["small", "big"], "ff": ["cols"]},  # flips: dropped (doc/estimator.md, "Logic ROMs")
    "requant": {"lut": ["one", "pw", "sh", "ob", "tw", "z"], "ff": []},
    "rescale": {"lut": ["one", "iw", "lutmul"], "ff": ["preg", "dspx"]},
    "div": {"lut": ["one", "sw", "qw"], "ff": ["one", "regs"]},
    "top": {"lut": ["one", "orbits", "layers"], "ff": []},
    "mult": {"lut": ["one", "pp", "csd", "ppm"], "ff": ["acc", "preg"]},
    # gelu.v: its phase, the element counter and the counter's per-bit clear; the input, table and output
    # widths do not change its own logic (doc/estimator.md, "layernorm and gelu")
    "gelu": {"lut": ["cnt", "addr1", "clr"], "ff": ["regs"]},
})
ORDER = list(LAYER_KINDS) + ["ram", "rom", "requant", "rescale", "div", "top", "mult"]


def mult_host(blocks):
    """The block whose synthesized cells hold a layer's logic multipliers: the layer module's own logic
    (linear, affine, matmul) or its rescale module (relu, split, avgpool, concat)."""
    for b in blocks:
        if b["kind"] in LAYER_KINDS:
            return b
    for b in blocks:
        if b["kind"] == "rescale":
            return b
    return None


def nnls(A, b, iters=500):
    """Lawson-Hanson non-negative least squares: min |Ax - b| with x >= 0."""
    m, n = A.shape
    x = np.zeros(n)
    P = np.zeros(n, dtype=bool)
    w = A.T @ (b - A @ x)
    for _ in range(iters):
        if P.all() or w[~P].max(initial=-1) <= 1e-10:
            break
        j = np.argmax(np.where(P, -np.inf, w))
        P[j] = True
        while True:
            z = np.zeros(n)
            z[P] = np.linalg.lstsq(A[:, P], b, rcond=None)[0]
            if (z[P] > 1e-12).all():
                x = z
                break
            neg = P & (z <= 1e-12)
            alpha = np.min(x[neg] / (x[neg] - z[neg]))
            x = x + alpha * (z - x)
            P &= x > 1e-12
        w = A.T @ (b - A @ x)
    return x


def read_ini(path):
    """{section: {key: value}} keeping the order; comments are not kept."""
    secs = {}
    cur = None
    with open(path) as fp:
        for line in fp:
            s = line.strip()
            if not s or s[0] in ";#":
                continue
            if s.startswith("["):
                cur = s[1:s.index("]")]
                secs.setdefault(cur, {})
            elif "=" in s and cur is not None:
                k, v = s.split("=", 1)
                secs[cur][k.strip()] = v.strip()
    return secs


def fmt(v):
    if abs(v) < 5e-5:
        return "0"
    return f"{v:.4g}"


def section_comments(path):
    """{kind: [comment lines just above its [kind] header]} of an existing ini, to keep for kinds not refitted."""
    out, pending = {}, []
    if not os.path.exists(path):
        return out
    with open(path) as fp:
        for line in fp:
            t = line.rstrip("\n")
            if t.startswith(";"):
                pending.append(t)
            elif t.startswith("["):
                out[t[1:t.index("]")]] = pending
                pending = []
            elif t.strip():
                pending = []
    return out


def extra_sections(path):
    """What write_ini keeps of an existing ini besides the kinds: [family] keys other than name and source
    (iCE40's lc.lut, lc.ff) and the [clock] section, with the comments above it."""
    ini = read_ini(path) if os.path.exists(path) else {}
    fam = {k: v for k, v in ini.get("family", {}).items() if k not in ("name", "source")}
    return {"family": fam, "clock": ini.get("clock", {}), "clock_comments": section_comments(path).get("clock", [])}


def write_ini(path, family, source, coef, stats, keep=None, extra=None):
    if len(source) > 180:  # the ini reader's line limit is 200 characters
        source = source[:176] + " ..."
    if extra is None:
        extra = extra_sections(path)
    lines = ["; Estimator coefficients for the " + family + " family (doc/estimator.md), written by "
             "tools/fit_costs.py.",
             "; Each [kind] is one block of the RTL; lut.F / ff.F multiply feature F of src/core/estimate.c.",
             "; Memories, DSPs and exactly known registers come from rules and are not in this file.",
             "[family]", f"name = {family}", f"source = {source}"]
    lines += [f"{k} = {v}" for k, v in extra.get("family", {}).items()] + [""]
    for kind in ORDER:
        if kind not in coef:
            continue
        st = stats.get(kind)
        if keep and keep.get(kind):
            lines += keep[kind]
        if st:
            lines.append(f"; {kind}: {st}")
        lines.append(f"[{kind}]")
        for key, v in coef[kind].items():
            if fmt(v) != "0":
                lines.append(f"{key} = {fmt(v)}")
        lines.append("")
    if extra.get("clock"):
        lines += extra.get("clock_comments", []) + ["[clock]"] + [f"{k} = {v}" for k, v in extra["clock"].items()] + [""]
    tmp = path + ".tmp"
    with open(tmp, "w") as fp:
        fp.write("\n".join(lines))
    os.replace(tmp, path)


def current_source(path):
    ini = read_ini(path) if os.path.exists(path) else {}
    return re.sub(r", scaled per kind to the flattened totals of \d+.*$", "", ini.get("family", {}).get("source", "?"))


def current_coef(path):
    ini = read_ini(path) if os.path.exists(path) else {}
    coef = {}
    for kind in ORDER:
        coef[kind] = {k: float(v) for k, v in ini.get(kind, {}).items()}
    family = ini.get("family", {}).get("name", "xc7")
    return family, coef


def synth_parts(layer):
    return layer.get("parts", {})


def collect(records):
    """rows[kind][res] -> list of (features dict, target, weight). A row's weight is 1 / the design's
    synthesized total of that resource, so that the fit minimises relative errors of design totals and
    a small design counts as much as a large one."""
    rows = {k: {"lut": [], "ff": []} for k in ORDER}
    for rec in records:
        est, syn = rec["estimate"], rec["synth"]
        if not syn:
            continue  # flattened only: no per-block cells (step 2 uses it)
        w = {res: 1.0 / max(1, syn["total"][res]) for res in ("lut", "ff")}
        # by name: a record of single layer modules (tools/synth_layers.py --hier) has some layers only
        by_name = {ls["name"]: ls for ls in syn["layers"]}
        for le in est["layers"]:
            ls = by_name.get(le["name"])
            if ls is None:
                continue
            parts = synth_parts(ls)
            blocks = le.get("blocks", [])
            mult = next((b for b in blocks if b["kind"] == "mult"), None)
            host = mult_host(blocks) if mult else None
            for blk in blocks:
                kind = blk["kind"]
                # a logic multiplier's cells are in its host's module: each is fitted on that module's
                # cells less the other's estimate
                other = host if kind == "mult" else (mult if blk is host else None)
                hk = (host or blk)["kind"] if kind == "mult" else kind
                part = parts.get("own" if hk in LAYER_KINDS else hk, {})
                for res in ("lut", "ff"):
                    t = part.get(res, 0) - blk[f"rule_{res}"] - (other[res] if other else 0)
                    rows[kind][res].append((blk["features"], t, w[res]))
        if rec.get("layers_only"):
            continue  # no top module synthesized
        for blk in est["top"].get("blocks", []):
            for res in ("lut", "ff"):
                rows["top"][res].append((blk["features"], syn["top"].get(res, 0) - blk[f"rule_{res}"], w[res]))
    return rows


def probe_ram_rows(cache, mpqx_templates):
    """Synthesizes ram.v (distributed) alone over a grid; cached. Rows for kind ram."""
    path = os.path.join(cache, "ram-probe.json")
    data = {}
    if os.path.exists(path):
        with open(path) as fp:
            data = json.load(fp)
    src = os.path.join(mpqx_templates, "ram.v")
    with open(src) as fp:
        text = fp.read()
    text = re.sub(r"/\*\{\{STYLE\*/.*?/\*\}\}\*/", '"distributed"', text)
    text = re.sub(r"/\*\{\{MODULE\*/(.*?)/\*\}\}\*/", r"\1", text)
    tv = os.path.join(cache, "ram-probe.v")
    with open(tv, "w") as fp:
        fp.write(text)
    rows = []
    for aw in range(7, 13):
        for w in (1, 2, 3, 4, 5, 6, 8, 9, 12, 16):
            key = f"{aw},{w}"
            if key not in data:
                import subprocess
                import tempfile
                with tempfile.TemporaryDirectory() as td:
                    out = os.path.join(td, "s.json")
                    script = (f"read_verilog {tv}; chparam -set WIDTH {w} -set AW {aw} mpqx_ram; "
                              f"synth_xilinx -family xc7 -noiopad -noclkbuf -top mpqx_ram; tee -q -o {out} stat -json")
                    p = subprocess.run(["nice", "-n", "10", "yosys", "-q", "-p", script], capture_output=True, text=True)
                    if p.returncode:
                        sys.exit(p.stderr[-2000:])
                    with open(out) as fp:
                        mods = synth_check.parse_stat(fp.read())
                top = [k for k in mods if "mpqx_ram" in k][0]
                data[key] = synth_check.categorize(synth_check.flat_cells(mods, top, {}))
                with open(path, "w") as fp:
                    json.dump(data, fp)
            if aw == 7 and w == 1:
                continue  # RAM128X1D: no multiplexer
            f = {n: 0 for n in SPEC["ram"]["lut"]}
            f[f"w{aw}"] = w
            f[f"one{aw}"] = 1
            rows.append((f, data[key]["lut"], 1.0 / 1000))
    return rows


def refresh(rec, path, mpqx):
    """Replaces a record's estimate by the current estimator's (the synthesis part stays)."""
    import subprocess
    cmd = [mpqx, "estimate", rec["model"], "--json", "--features"]
    if rec.get("config"):
        cmd += ["-c", rec["config"]]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"fit_costs: {' '.join(cmd)}: {p.stderr}")
    rec["estimate"] = json.loads(p.stdout)
    with open(path + ".tmp", "w") as fp:
        json.dump(rec, fp)
    os.replace(path + ".tmp", path)


def has_kind(rec, kind):
    est = rec["estimate"]
    return any(b["kind"] == kind for le in est["layers"] for b in le.get("blocks", [])) or \
        any(b["kind"] == kind for b in est["top"].get("blocks", []))


def flat_scale(records, coef, ridge, stats, only=None, without=()):
    """Step 2: per resource, scales s_k (one per block kind, flat.RES) of the fitted part so that the
    estimate's totals match the flattened synthesis: min sum_d ((y_d - sum_k s_k P_dk) / T_d)^2 + ridge sum_k
    (s_k - 1)^2, y_d = flattened total - the rule-counted part, P_dk = kind k's fitted part with the hierarchy
    kept, T_d = flattened total. With `only` (--kinds) just those kinds are scaled; the others' fitted part,
    times their present scale, counts as fixed, in y_d."""
    flat = [r for r in records if r.get("synth_flat") and not any(has_kind(r, k) for k in without)]
    if not flat or not math.isfinite(ridge):
        return {}
    scales = {}
    for res in ("lut", "ff"):
        kinds = [k for k in ORDER if any(key.startswith(res + ".") for key in coef[k]) and (not only or k in only)]
        P = np.zeros((len(flat), len(kinds)))
        y = np.zeros(len(flat))
        T = np.zeros(len(flat))
        for d, rec in enumerate(flat):
            est = rec["estimate"]
            blocks = [b for le in est["layers"] for b in le.get("blocks", [])] + est["top"].get("blocks", [])
            fixed = 0.0  # the rules' part, and with `only` the fitted part of the kinds left as they are
            for b in blocks:
                fixed += b[f"rule_{res}"]
                part = sum(coef[b["kind"]].get(f"{res}.{n}", 0) * v for n, v in b["features"].items())
                if b["kind"] in kinds:
                    P[d, kinds.index(b["kind"])] += part
                else:
                    fixed += part * coef[b["kind"]].get(f"flat.{res}", 1.0)
            T[d] = max(1, rec["synth_flat"]["total"][res])
            y[d] = T[d] - fixed
        used = P.any(axis=0)
        A = P[:, used] / T[:, None]
        b = y / T
        m = used.sum()
        A2 = np.vstack([A, math.sqrt(ridge) * np.eye(m)])
        b2 = np.concatenate([b, math.sqrt(ridge) * np.ones(m)])
        s = np.clip(np.linalg.lstsq(A2, b2, rcond=None)[0], 0.5, 1.5)
        prev = np.array([coef[k].get(f"flat.{res}", 1.0) for k, u in zip(kinds, used) if u])
        before = np.abs(A @ prev - b)
        after = np.abs(A @ s - b)
        for k, v in zip([k for k, u in zip(kinds, used) if u], s):
            scales.setdefault(k, {})[res] = float(v)
            coef[k][f"flat.{res}"] = float(v)
            stats[k] = stats.get(k, "") + f"flat {res} x{v:.3f}; "
        print(f"  step 2, {res}: {len(flat)} flattened designs, median |error| of the total "
              f"{100 * np.median(before):.2f}% -> {100 * np.median(after):.2f}%, worst "
              f"{100 * before.max():.2f}% -> {100 * after.max():.2f}%")
    return scales


def fit(rows, coef, stats, kinds=None):
    for kind in ORDER:
        if kinds and kind not in kinds:
            continue
        for res in ("lut", "ff"):
            feats = SPEC[kind][res]
            data = rows[kind][res]
            if not feats or not data:
                continue
            A = np.array([[f.get(n, 0) for n in feats] for f, _, _ in data], dtype=float)
            b = np.array([t for _, t, _ in data], dtype=float)
            wt = np.array([w for _, _, w in data], dtype=float)
            wt /= wt.mean()  # keep NNLS's tolerances meaningful
            used = A.any(axis=0)
            # a refitted model replaces every coefficient of that kind and resource
            for key in [k for k in coef[kind] if k.startswith(res + ".")]:
                del coef[kind][key]
            x = np.zeros(len(feats))
            if used.any():
                x[used] = nnls(A[:, used] * wt[:, None], b * wt)
            for n, v in zip(feats, x):
                if used[feats.index(n)]:
                    coef[kind][f"{res}.{n}"] = float(v)
            resid = A @ x - b
            tot = np.abs(b).sum()
            stats.setdefault(kind, "")
            stats[kind] += (f"{res} {len(b)} rows, mean |error| {np.abs(resid).mean():.1f}"
                            f" ({100 * np.abs(resid).sum() / tot if tot else 0:.1f}% of the total); ")


VIVADO_ROWS = {
    "slice_luts": r"^\|\s*Slice LUTs\*?\s*\|\s*([\d.]+)",
    "lut_mem": r"^\|\s*LUT as Memory\s*\|\s*([\d.]+)",
    "ff": r"^\|\s*(?:Slice Registers|Register as Flip Flop)\s*\|\s*([\d.]+)",
    "bram_tiles": r"^\|\s*Block RAM Tile\s*\|\s*([\d.]+)",
    "dsp": r"^\|\s*DSPs\s*\|\s*([\d.]+)",
}


def parse_vivado(path):
    with open(path) as fp:
        text = fp.read()
    out = {}
    for k, rx in VIVADO_ROWS.items():
        m = re.search(rx, text, re.M)
        if m:
            out[k] = float(m.group(1))
    missing = [k for k in ("slice_luts", "lut_mem", "ff") if k not in out]
    if missing:
        sys.exit(f"fit_costs: {path}: no row for {', '.join(missing)} (expected report_utilization text)")
    return out


def vivado_mode(pairs, ini, out):
    family, coef = current_coef(ini)
    el, vl, ef, vf = [], [], [], []
    for ej, rep in pairs:
        with open(ej) as fp:
            est = json.load(fp)
        v = parse_vivado(rep)
        t = est["total"]
        # only the fitted part scales: with --features the estimate says what the rules count
        blocks = [b for le in est["layers"] for b in le.get("blocks", [])] + est.get("top", {}).get("blocks", [])
        rule = {res: sum(b.get(f"rule_{res}", 0) for b in blocks) for res in ("lut", "ff")}
        el.append(t["lut"] - rule["lut"])
        vl.append(v["slice_luts"] - v["lut_mem"] - rule["lut"])
        ef.append(t["ff"] - rule["ff"])
        vf.append(v["ff"] - rule["ff"])
        print(f"{ej}: LUT {t['lut']} vs {v['slice_luts'] - v['lut_mem']:.0f}, LUTRAM {t['lutram']} vs "
              f"{v['lut_mem']:.0f}, FF {t['ff']} vs {v['ff']:.0f}, BRAM tiles {t['bram_tiles']} vs "
              f"{v.get('bram_tiles', float('nan'))}, DSP {t['dsp']} vs {v.get('dsp', float('nan'))}")
    el, vl, ef, vf = map(np.array, (el, vl, ef, vf))
    sl = float(el @ vl / (el @ el)) if el.any() else 1.0
    sf = float(ef @ vf / (ef @ ef)) if ef.any() else 1.0
    for kind in coef:
        if any(k.startswith("lut.") for k in coef[kind]):
            coef[kind]["flat.lut"] = coef[kind].get("flat.lut", 1.0) * sl
        if any(k.startswith("ff.") for k in coef[kind]):
            coef[kind]["flat.ff"] = coef[kind].get("flat.ff", 1.0) * sf
    print(f"scales: LUT x{sl:.4f}, FF x{sf:.4f} (of the fitted part's flattened figures; what the rules count is not scaled: "
          f"pass `mpqx estimate --json --features` output to separate it)")
    write_ini(out, family, f"scaled to Vivado report_utilization of {len(pairs)} design(s)", coef,
              {k: "scaled" for k in coef}, extra=extra_sections(ini))


REQUANT_OPS = ("linear", "affine", "matmul", "add", "relu", "split", "avgpool", "concat")


def ice40_fit(records, coef, ini, out, ridge):
    """iCE40 (records of tools/pnr_check.py): step 2 scales each kind's LUT4 coefficients to Yosys's
    flattened SB_LUT4 totals (and FF to its flip-flops); then the packing lc.lut, lc.ff (logic cells per
    LUT4 and per flip-flop) is a least-squares fit of nextpnr's ICESTORM_LC on the relative error; the
    [clock] path of a kind is the median of the critical paths (1 / fmax) nextpnr reported with a layer of
    that kind at both ends, layers with a requantizer counting for the requant kind (kinds never critical
    keep their value)."""
    placed = [r for r in records if r.get("pnr", {}).get("placed")]
    if not placed:
        sys.exit("fit_costs: no placed iCE40 records (tools/pnr_check.py)")
    view = [dict(r, synth_flat={"total": r["synth_flat"]["yosys_cells"]}) for r in placed]
    stats = {}
    flat_scale(view, coef, ridge, stats)
    L, F, R, T = [], [], [], []
    for rec in placed:
        est = rec["estimate"]
        blocks = [b for le in est["layers"] for b in le.get("blocks", [])] + est["top"].get("blocks", [])
        lsum = sum(coef[b["kind"]].get(f"lut.{n}", 0) * v for b in blocks for n, v in b["features"].items())
        fsum = sum(coef[b["kind"]].get(f"ff.{n}", 0) * v for b in blocks for n, v in b["features"].items())
        fsum += sum(b["rule_ff"] for b in blocks)
        L.append(lsum)
        F.append(fsum)
        R.append(sum(b["rule_lut"] for b in blocks))
        T.append(rec["pnr"]["placed"]["lut"])
    L, F, R, T = map(np.array, (L, F, R, T))
    A = np.vstack([L / T, F / T]).T
    x = nnls(A, (T - R) / T)
    err = (R + A @ x * T - T) / T
    print(f"  packing: lc.lut {x[0]:.4f}, lc.ff {x[1]:.4f}; LC median |error| {100 * np.median(np.abs(err)):.2f}%, "
          f"worst {100 * np.abs(err).max():.2f}% over {len(T)} designs")
    extra = extra_sections(ini)
    extra["family"]["lc.lut"] = fmt(x[0])
    extra["family"]["lc.ff"] = fmt(x[1])
    crit = {}
    for rec in placed:
        c = rec["pnr"].get("critical")
        if not c or not rec["pnr"].get("fmax_mhz"):
            continue
        ops = {le["name"]: le["op"] for le in rec["estimate"]["layers"]}
        kind = ops.get(c["from_layer"]) if c["from_layer"] == c["to_layer"] else None
        # a layer with a requantizer: its product register through the requantizer's tail (a 34-bit sum,
        # the shift, the clamp) into the buffer is the path nextpnr names, whatever the op
        if kind in REQUANT_OPS:
            kind = "requant"
        if kind:
            crit.setdefault(kind, []).append(1000.0 / rec["pnr"]["fmax_mhz"])
    for kind, v in sorted(crit.items()):
        extra["clock"][kind] = fmt(float(np.median(v)))
        print(f"  clock: {kind} {np.median(v):.1f} ns, the median of {len(v)} designs where it was critical "
              f"({min(v):.1f}..{max(v):.1f} ns)")
    npk = sum(1 for r in placed if r["pnr"]["placed"].get("packed_only"))
    src = (f"Yosys synth_ice40 and nextpnr-ice40 (--up5k, the device clock): {len(placed)} designs tagged fit "
           f"({len(placed) - npk} placed, {npk} larger than the device, packed only); LUT4 and FF per kind scaled to Yosys's flattened totals from the starting coefficients, "
           f"logic cells = lc.lut x LUT4 + lc.ff x FF fitted on nextpnr's ICESTORM_LC")
    write_ini(out, "ice40", src, coef, stats, None, extra)
    print(f"wrote {out} from {len(placed)} designs")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", help="synth_check cache directory")
    ap.add_argument("--tag", default="fit", help="use the records with this tag ('' for all)")
    ap.add_argument("--probe-ram", action="store_true")
    ap.add_argument("--ini", default=os.path.join(ROOT, "devices", "xc7-cost.ini"), help="coefficients to start from")
    ap.add_argument("-o", "--output", help="ini to write (default: --ini)")
    ap.add_argument("--vivado", nargs="+", metavar="FILE", help="pairs: estimate.json report.txt ...")
    ap.add_argument("--refresh", action="store_true",
                    help="re-run `mpqx estimate` for every record first (after the estimator's features changed)")
    ap.add_argument("--mpqx", default=os.environ.get("MPQX", "mpqx"), help="the mpqx executable for --refresh")
    ap.add_argument("--kinds", help="refit and scale only these block kinds (comma-separated, e.g. layernorm,gelu); "
                    "the others keep their coefficients in both steps")
    ap.add_argument("--without", default="",
                    help="leave designs with a block of these kinds (comma-separated, e.g. mult) out of step 2: "
                    "with --kinds not naming them, their error would be paid by the kinds scaled")
    ap.add_argument("--keep-blocks", action="store_true",
                    help="no step 1: keep the ini's per-block coefficients and only scale them (step 2)")
    ap.add_argument("--flat-ridge", type=float, default=0.02,
                    help="step 2's pull of the per-kind scales towards 1 ('inf': no step 2)")
    a = ap.parse_args()
    out = a.output or a.ini
    if a.vivado:
        if len(a.vivado) % 2:
            sys.exit("fit_costs: --vivado takes pairs of files: ESTIMATE.json REPORT.txt")
        vivado_mode(list(zip(a.vivado[0::2], a.vivado[1::2])), a.ini, out)
        return 0
    cache = synth_check.cache_dir(a.cache)
    records = []
    for p in sorted(glob.glob(os.path.join(cache, "*.run.json"))):
        with open(p) as fp:
            r = json.load(fp)
        if a.tag and r.get("tag") != a.tag:
            continue
        if a.refresh:
            refresh(r, p, a.mpqx)
        records.append(r)
    if not records and not a.probe_ram:
        sys.exit(f"fit_costs: no records tagged '{a.tag}' in {cache} (run tools/synth_check.py --tag {a.tag})")
    family, coef = current_coef(a.ini)
    if family == "ice40":
        return ice40_fit(records, coef, a.ini, out, a.flat_ridge)
    rows = collect(records)
    if a.probe_ram:
        rows["ram"]["lut"] += probe_ram_rows(cache, os.path.join(ROOT, "hdl_templates"))
    stats = {}
    kinds = [k for k in a.kinds.split(",") if k] if a.kinds else None
    for k in kinds or []:
        if k not in ORDER:
            sys.exit(f"fit_costs: unknown kind '{k}' (expected one of {', '.join(ORDER)})")
    if not a.keep_blocks:
        fit(rows, coef, stats, kinds)
    without = [k for k in a.without.split(",") if k]
    for k in without:
        if k not in ORDER:
            sys.exit(f"fit_costs: unknown kind '{k}' (expected one of {', '.join(ORDER)})")
    nflat = sum(1 for r in records if r.get("synth_flat") and not any(has_kind(r, k) for k in without))
    scales = flat_scale(records, coef, a.flat_ridge, stats, kinds, without)
    nhier = sum(1 for r in records if r.get("synth"))
    src = (f"Yosys synth_xilinx, {nhier} designs tagged '{a.tag}' with the hierarchy kept" if not a.keep_blocks
           else f"{current_source(a.ini)}")
    if kinds:
        # the other kinds are as they were: keep their source and comments, say what was done to these
        prev = read_ini(a.ini).get("family", {}).get("source", "?") if os.path.exists(a.ini) else "?"
        what = "blocks refitted on %d designs with the hierarchy kept" % nhier if not a.keep_blocks else "blocks kept"
        src = f"{prev}; {', '.join(kinds)}: {what}" + (f", scaled to the flattened totals of {nflat}" if scales else "")
    elif scales:
        src += f", scaled per kind to the flattened totals of {nflat}"
    keep = section_comments(a.ini) if kinds else None
    for k in kinds if kinds and not a.keep_blocks else []:
        keep.pop(k, None)  # refitted: its old comments no longer hold
    write_ini(out, family, src + (" + ram.v probes" if a.probe_ram else ""), coef, stats, keep, extra_sections(a.ini))
    print(f"wrote {out} from {len(records)} designs" + (" and the RAM probes" if a.probe_ram else ""))
    for k in ORDER:
        if k in stats:
            print(f"  {k:8} {stats[k]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
