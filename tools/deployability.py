#!/usr/bin/python3
"""The deployability study (doc/deployability.md): which uniform configurations of seattle-daily and of a
sweep of model sizes do not fit a device (default XC7S15), the mixed configuration mpqx search finds for
each model, its test MSE against uniform 8 bits, and whether Yosys synthesis of its export confirms the fit.

    /usr/bin/python3 tools/deployability.py --mpqx BUILD/src/cli/mpqx [--work DIR] [--sizes 16,24,32,48,64]
        [--epochs 40] [--device xc7s15] [--no-synth] [--out doc/deployability.md]

Steps, each skipped when its result is already in the work directory (so an interrupted run resumes; remove
WORK/results after a change to mpqx, its estimator coefficients or the models, or the old results are
reused):
 1. trains the sweep the way the seattle-daily sample is trained (tools/mpqx_torch.py train --sample
    seattle-daily, its data and recipe) with --d-model D --ffn 4D and only --epochs N (2 shared cores);
 2. mpqx estimate of uniform 8, 6 and 4 bits with every buffer in LUT RAM, and with every buffer in block
    RAM (ROMs auto);
 3. mpqx search with its defaults (bits 2..16 per layer, storage chosen, MSE on the test windows) -o
    best.json, and the same search choosing on the training windows (--select train) as a held-out check
    of the test MSE it reports;
 4. tools/synth_check.py --flow flat on best.json: Yosys synth_xilinx -flatten of the export (the totals a
    real flow produces), one design at a time, nice'd;
    when Yosys counts it over the LUTs, the search again under a cap derived from that count (see
    --rounds and the generated document);
 5. writes the markdown.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RES = ("lut", "lutram", "ff", "bram18", "dsp")


def log(msg):
    print(f"deployability: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def cached_json(path, make):
    """The JSON in path, made by make() (which returns the object) when the file is not there."""
    if os.path.exists(path):
        with open(path) as fp:
            return json.load(fp)
    obj = make()
    with open(path + ".tmp", "w") as fp:
        json.dump(obj, fp, indent=1)
    os.replace(path + ".tmp", path)
    return obj


def mpqx_json(a, args):
    p = run([a.mpqx] + args)
    if p.returncode not in (0, 1) or not p.stdout.strip():
        sys.exit(f"deployability: mpqx {' '.join(args)} failed:\n{p.stderr}")
    return json.loads(p.stdout)


def train(a, d, out):
    if os.path.exists(os.path.join(out, "model.json")):
        return
    cmd = ["nice", "-n", "10", "/usr/bin/python3", os.path.join(HERE, "mpqx_torch.py"), "train", "--sample",
           "seattle-daily", "--csv", os.path.join(ROOT, "samples", "seattle-daily", "data.csv"), "--out", out,
           "--name", f"daily-d{d}", "--d-model", str(d), "--ffn", str(4 * d), "--epochs", str(a.epochs),
           "--threads", "1"]
    log(f"training d_model {d}: {' '.join(cmd[3:])}")
    p = run(cmd)
    if p.returncode:
        sys.exit(f"deployability: training d_model {d} failed:\n{p.stderr[-3000:]}")


def model_facts(path):
    with open(os.path.join(path, "model.json")) as fp:
        m = json.load(fp)
    f = {"d_model": None, "heads": None, "ffn": None, "params": 0, "layers": len(m["layers"])}
    for L in m["layers"]:
        if L["name"] == "in_proj":
            f["d_model"] = L["shape"][1]
        if L["name"].endswith(".ff1"):
            f["ffn"] = L["shape"][1]
        if L["op"] == "matmul":
            f["heads"] = L.get("heads", 1)
        for k in ("weight", "bias"):
            if L["op"] in ("linear", "affine") and k in L:
                f["params"] += len(L[k]["data"])
    return f


def uniform_config(path, bits, buffer, device):
    cfg = {"format": "mpqx-config", "version": 1, "device": device,
           "defaults": {"w_bits": bits, "a_bits": bits, "buffer": buffer, "rom": "auto"}, "layers": {}}
    with open(path, "w") as fp:
        json.dump(cfg, fp)


def study_model(a, name, path, work):
    os.makedirs(work, exist_ok=True)
    r = {"name": name, "path": path, "facts": model_facts(path)}
    uni = {}
    for bits in (8, 6, 4):
        for buf in ("distributed", "block"):
            cpath = os.path.join(work, f"u{bits}-{buf}.json")
            uniform_config(cpath, bits, buf, a.device)
            e = cached_json(os.path.join(work, f"u{bits}-{buf}.est.json"),
                            lambda: mpqx_json(a, ["estimate", path, "-c", cpath, "-d", a.device, "--json"]))
            uni[f"{bits}-{buf}"] = {"fits": e["fits"], "limiting": e["limiting"], "util": e["utilisation"],
                                    "total": e["total"]}
    r["uniform"] = uni
    caps = device_caps(a)
    rounds = []
    limits = {}
    fit_cap, over_est = {}, {}  # per capped resource: the loosest cap that fit, the least use that was over
    for k in range(a.rounds):
        rd = search_round(a, name, path, work, k, limits)
        rounds.append(rd)
        if not rd["found"] or "synth" not in rd:
            break
        t, b = rd["synth"]["total"], rd["best"]
        before = dict(limits)
        if not rd["synth"]["over"]:
            for res, cap in limits.items():
                fit_cap[res] = max(fit_cap.get(res, 0), cap)
            # A cap made it fit: when a looser design was over with less MSE, the cap may be tighter than
            # needed; try halfway between (bisection, one synthesis a round).
            over_mse = min((x["best"]["mse"] for x in rounds if x.get("synth", {}).get("over")), default=None)
            if over_mse is None or b["mse"] <= over_mse:
                break
            for res in list(limits):
                if res in over_est:
                    limits[res] = int((fit_cap[res] + over_est[res]) / 2)
        else:
            # Over. The estimator's LUT RAM, BRAM and DSP counts are rules that match synthesis; its logic
            # LUTs and FFs are a fitted model that may be far off. When the logic LUTs synthesis counted leave
            # room, cap the LUT RAM at that room (3% to spare); else cap all LUTs at the capacity scaled by
            # the estimate's error, or halfway to a cap known to fit. FFs likewise scaled by their error.
            if t["lut"] + t["lutram"] > int(caps["lut"]):
                room = int(int(caps["lut"]) - 1.03 * t["lut"])
                res, use = ("lutram", b["lutram"]) if 0 < room < b["lutram"] else ("lut", b["lut"])
                over_est[res] = min(over_est.get(res, use), use)
                if res in fit_cap:
                    cap = int((fit_cap[res] + over_est[res]) / 2)
                elif res == "lutram":
                    cap = room
                else:
                    cap = int(int(caps["lut"]) * b["lut"] / (t["lut"] + t["lutram"]) * 0.97)
                limits[res] = min(cap, over_est[res] - 1)
            if t["ff"] > int(caps["ff"]) and b["ff"] > 0:
                limits["ff"] = int(min(limits.get("ff", int(caps["ff"])), int(caps["ff"]) * b["ff"] / t["ff"] * 0.97))
        if limits == before or any(res in fit_cap and res in over_est and over_est[res] - fit_cap[res] <=
                                   max(16, 0.02 * over_est[res]) and limits[res] != before.get(res)
                                   for res in limits):
            if rd["synth"]["over"] and limits == before:
                rd["stop"] = "synthesis is over in a resource the estimator counts by rule (BRAM, DSP, LUT RAM)"
            break
    # The answer: the least MSE among the rounds synthesis confirmed, else the last round.
    ok = [i for i, rd in enumerate(rounds) if rd["found"] and "synth" in rd and not rd["synth"]["over"]]
    r["final"] = min(ok, key=lambda i: rounds[i]["best"]["mse"]) if ok else len(rounds) - 1
    r["rounds"] = rounds

    def held_out():
        log(f"{name}: mpqx search --select train")
        return mpqx_json(a, ["search", path, "-d", a.device, "--json", "--select", "train"])

    h = cached_json(os.path.join(work, "search-train.json"), held_out)
    r["held_out"] = {"found": h["found"], "best": h.get("best"), "uniform8": h["uniform8"]}
    return r


def search_round(a, name, path, work, k, limits):
    """mpqx search (with limits) -o best, then Yosys on best."""
    sfx = "" if k == 0 else f"-r{k + 1}-" + "-".join(f"{res}{v}" for res, v in sorted(limits.items()))
    best = os.path.join(work, f"best{sfx}.json")
    args = ["search", path, "-d", a.device, "--json", "-o", best]
    for res, v in sorted(limits.items()):
        args += ["--limit", f"{res}={v}"]

    def search():
        log(f"{name}: mpqx {' '.join(args[2:])}")
        return mpqx_json(a, args)

    s = cached_json(os.path.join(work, f"search{sfx}.json"), search)
    rd = {k2: s[k2] for k2 in ("found", "uniform8", "mse_float", "budget", "stats") if k2 in s}
    rd["best"] = s.get("best")
    rd["why"] = s.get("why")
    rd["sens_ms"] = s["sensitivity"]["ms"]
    rd["limits"] = dict(limits)
    # --no-synth still reads a synthesis already cached (a run that synthesized only some models)
    if s["found"] and (not a.no_synth or os.path.exists(os.path.join(work, f"synth{sfx}.json"))):
        def synth():
            log(f"{name}: Yosys synthesis of the best configuration{sfx} (tools/synth_check.py)")
            p = run(["/usr/bin/python3", os.path.join(HERE, "synth_check.py"), path, "-c", best, "-d", a.device,
                     "--mpqx", a.mpqx, "--json", "--tag", "deployability", "--flow", "flat"])
            if not p.stdout.strip():
                sys.exit(f"deployability: synth_check failed:\n{p.stderr[-3000:]}")
            return json.loads(p.stdout)

        syn = cached_json(os.path.join(work, f"synth{sfx}.json"), synth)
        t = syn["total"]["synth"]
        rd["synth"] = {"total": t, "error_pct": syn["total"]["error_pct"], "bram_dsp_exact": syn["bram_dsp_exact"],
                       "over": synth_fits(t, device_caps(a))}
    return rd


def device_caps(a):
    caps = {}
    with open(os.path.join(ROOT, "devices", a.device + ".ini")) as fp:
        for ln in fp:
            if "=" in ln and not ln.lstrip().startswith(";"):
                k, v = (x.strip() for x in ln.split("=", 1))
                caps[k] = v
    return caps


def source_commit():
    """HEAD's short hash, with -dirty when mpqx's sources, headers or device files differ from it."""
    c = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip() or "?"
    if run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "include", "devices"]).stdout.strip():
        c += "-dirty"
    return c


def coeff_source():
    with open(os.path.join(ROOT, "devices", "xc7-cost.ini")) as fp:
        for ln in fp:
            if ln.startswith("source"):
                return ln.split("=", 1)[1].strip()
    return "?"


def synth_fits(tot, caps):
    """Yosys counts against the device: all LUTs (logic and memory), LUT RAM, FF, RAMB18, DSP."""
    over = []
    if tot["lut"] + tot["lutram"] > int(caps["lut"]):
        over.append("LUT")
    if tot["lutram"] > int(caps["lutram"]):
        over.append("LUTRAM")
    if tot["ff"] > int(caps["ff"]):
        over.append("FF")
    if tot["bram18"] > int(caps["bram18"]):
        over.append("BRAM")
    if tot["dsp"] > int(caps["dsp"]):
        over.append("DSP")
    return over


def fmt(v, d=4):
    return f"{v:.{d}g}" if isinstance(v, (int, float)) else "-"


def bits_summary(best):
    """'w 2..12 (median 6), out 3..15' from the best configuration's layers."""
    ws = sorted(L["w_bits"] for L in best["layers"] if "w_bits" in L)
    acts = sorted(L["a_bits"] for L in best["layers"])
    blk = sum(1 for L in best["layers"] if L.get("buffer") == "block")
    nb = sum(1 for L in best["layers"] if "buffer" in L)
    rb = sum(1 for L in best["layers"] if L.get("rom") == "block")
    nr = sum(1 for L in best["layers"] if "rom" in L)
    return (f"weights {ws[0]}-{ws[-1]} (median {ws[len(ws) // 2]}), outputs {acts[0]}-{acts[-1]} "
            f"(median {acts[len(acts) // 2]}); buffers {blk}/{nb} in block RAM, ROMs {rb}/{nr}")


def write_md(a, rows, caps):
    L = []
    add = L.append
    commit = source_commit()
    with open(os.path.join(a.work, "results", "source.txt")) as fp:
        made = fp.read().strip()
    if made != commit:
        commit = f"{made} when the results were computed, {commit} when this page was written"
    add("# Deployability study: seattle-daily and a sweep of model sizes on the " + caps.get("name", a.device).upper())
    add("")
    add(f"Generated by `tools/deployability.py` on {datetime.date.today().isoformat()} (source tree at "
        f"{commit}); re-run it to refresh. Command:")
    add("")
    add("```")
    add(f"/usr/bin/python3 tools/deployability.py --mpqx BUILD/src/cli/mpqx --sizes {','.join(map(str, a.sizes))} "
        f"--epochs {a.epochs} --device {a.device}" + (" --no-synth" if a.no_synth else ""))
    add("```")
    add("")
    add(f"Device {a.device}: LUT {caps['lut']} (LUT RAM at most {caps['lutram']}), FF {caps['ff']}, "
        f"{int(caps['bram18']) // 2} block RAM tiles ({caps['bram18']} RAMB18), DSP {caps['dsp']}. "
        f"Resources come from `mpqx estimate` (estimator coefficients: *{coeff_source()}*); the chosen mixed "
        "configurations are also synthesized with Yosys `synth_xilinx -flatten` (tools/synth_check.py --flow flat), whose counts "
        "decide the last column. All MSE figures are the integer engine's, on the normalised scale, over the "
        "test windows.")
    add("")
    add("## The models")
    add("")
    add("seattle-daily is the bundled sample (d_model 32, 2 heads, FFN 128, trained with its full recipe). The "
        f"sweep is trained the same way (`tools/mpqx_torch.py train --sample seattle-daily`: the same data, "
        f"split, heads, optimiser and regularisation) with `--d-model D --ffn 4D` and only {a.epochs} epochs.")
    add("")
    add("| model | d_model | heads | FFN | parameters | layers | float test MSE |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        f = r["facts"]
        add(f"| {r['name']} | {f['d_model']} | {f['heads']} | {f['ffn']} | {f['params']} | {f['layers']} | "
            f"{fmt(r['rounds'][0]['mse_float'])} |")
    add("")
    add("## Uniform configurations")
    add("")
    add("Every layer at the same bits, every buffer in LUT RAM (`distributed`) or in block RAM (`block`), ROMs "
        "`auto`. A cell is `fits`, or the resources over capacity with their use.")
    add("")
    hdr = "| model |" + "".join(f" {b} bits, {'LUTRAM' if s == 'distributed' else 'BRAM'} |"
                                 for b in (8, 6, 4) for s in ("distributed", "block"))
    add(hdr)
    add("|---|" + "---|" * 6)
    names = {"lut": "LUT", "lutram": "LUTRAM", "ff": "FF", "bram18": "BRAM", "dsp": "DSP"}
    for r in rows:
        cells = []
        for b in (8, 6, 4):
            for s in ("distributed", "block"):
                u = r["uniform"][f"{b}-{s}"]
                if u["fits"]:
                    cells.append("fits")
                else:
                    over = [f"{names[k]} {100 * v:.0f}%" for k, v in u["util"].items() if v > 1]
                    cells.append("**over**: " + ", ".join(over))
        add(f"| {r['name']} | " + " | ".join(cells) + " |")
    add("")
    byname = {r["name"]: r for r in rows}
    pairs = [(x, y) for x, y in (("daily-d24", "daily-d32"), ("daily-d48", "daily-d64")) if x in byname and y in byname]
    mem = [(x, y) for x, y in pairs if all(byname[x]["uniform"][k]["total"][m] == byname[y]["uniform"][k]["total"][m]
                                           for k in byname[x]["uniform"] for m in ("lutram", "bram18"))]
    same = [(x, y) for x, y in mem
            if all(sorted(k2 for k2, v in byname[x]["uniform"][k]["util"].items() if v > 1) ==
                   sorted(k2 for k2, v in byname[y]["uniform"][k]["util"].items() if v > 1) for k in byname[x]["uniform"])]
    if mem:
        add("The hardware rounds every buffer to a power-of-two depth: the buffers of d_model 24 and 32 have the "
            "same depths (24 x 24 and 24 x 32 values both take 1,024 words, the FFN's 2,304 and 3,072 both 4,096), "
            "as have those of 48 and 64, so the LUT RAM and block RAM of " +
            " and of ".join(f"{x} and {y}" for x, y in mem) + " are the same in every column; only the weight "
            "ROMs and the logic differ" + ((", not enough to change which resources are over for " +
                                            " or ".join(f"{x} and {y}" for x, y in same)) if same else "") + ".")
    add("")
    add("## The mixed configuration the search finds")
    add("")
    add("`mpqx search MODEL -d " + a.device + "` with its defaults: weight and output bits 2..16 per layer, each "
        "buffer's and ROM's storage chosen, the test MSE minimised under every resource of the device. Its MSE is "
        "compared with uniform 8 bits (the same for either buffer storage). When Yosys counts the chosen design "
        "over the LUT capacity, the search runs again with the LUT RAM capped at the capacity less the logic "
        "LUTs Yosys counted (3% to spare: the estimator's LUT RAM is exact, its logic LUTs are not), or, when "
        "the logic alone is over, with all LUTs capped at the capacity scaled by the estimate's error; the "
        "new best is synthesized. A cap that made the design fit after a looser one did not is then moved "
        f"halfway back (bisection), at most {a.rounds} rounds in all; the round kept is the one synthesis "
        "confirmed with the least MSE. *Held out*: the first search choosing on the training windows (`--select "
        "train`) instead, and the test MSE of what it chose: the test figure of the search proper is selected "
        "on the test windows themselves and so is optimistic.")
    add("")
    add("| model | uniform 8 fits (LUTRAM / BRAM) | round: caps | best MSE (test, exact) | uniform 8 MSE | ratio | "
        "estimate LUT / LUTRAM / FF / BRAM18 / DSP | Yosys LUT / LUTRAM / FF / BRAM18 / DSP | Yosys confirms the fit |")
    add("|---|---|---|---:|---:|---:|---|---|---|")
    for r in rows:
        u8 = r["uniform"]
        fit8 = ("yes" if u8["8-distributed"]["fits"] else "no") + " / " + ("yes" if u8["8-block"]["fits"] else "no")
        for k, rd in enumerate(r["rounds"]):
            m8 = rd["uniform8"]["mse"]
            caps_s = ", ".join(f"{res} {v}" for res, v in sorted(rd["limits"].items())) or "device"
            lead = f"| {r['name'] if k == 0 else ''} | {fit8 if k == 0 else ''} | {k + 1}: {caps_s} |"
            if not rd["found"]:
                add(f"{lead} none fits | {fmt(m8)} | - | - | - | - |")
                continue
            b = rd["best"]
            est = f"{b['lut']:.0f} / {b['lutram']:.0f} / {b['ff']:.0f} / {2 * b['bram_tiles']:.0f} / {b['dsp']:.0f}"
            if "synth" in rd:
                t = rd["synth"]["total"]
                syn = " / ".join(str(t["lut"] + t["lutram"]) if k2 == "lut" else str(t[k2]) for k2 in RES)
                over = rd["synth"]["over"]
                conf = "yes" if not over else "**no**: " + ", ".join(over) + " over"
            else:
                syn, conf = "-", "not synthesized"
            mark = " (kept)" if k == r["final"] and len(r["rounds"]) > 1 else ""
            add(f"{lead} {fmt(b['mse'])}{mark} | {fmt(m8)} | {b['mse'] / m8:.3f} | {est} | {syn} | {conf} |")
    add("")
    add("LUT counts logic and memory LUTs together (as Vivado's *Slice LUTs* and the device's capacity), in the "
        "Yosys column too. Ratio = best MSE / uniform 8 bits MSE; below 1 is better than uniform 8 bits.")
    add("")
    syn = [rd for r in rows for rd in r["rounds"] if rd["found"] and "synth" in rd]
    if syn:
        def err(rd, k):
            t = rd["synth"]["total"]
            y = t["lut"] + t["lutram"] if k == "lut" else t[k]
            return 100 * (rd["best"][k] - y) / max(1, y)
        le = [err(rd, "lut") for rd in syn]
        fe = [err(rd, "ff") for rd in syn]
        exact = sum(1 for rd in syn if rd["synth"]["bram_dsp_exact"] and rd["best"]["lutram"] == rd["synth"]["total"]["lutram"])
        agree = sum(1 for rd in syn if not rd["synth"]["over"])
        add(f"Estimate against Yosys over the {len(syn)} synthesized designs: LUT (logic and memory) "
            f"{min(le):+.1f}% to {max(le):+.1f}%, FF {min(fe):+.1f}% to {max(fe):+.1f}%; LUT RAM, RAMB18 and DSP "
            f"equal in {exact} of {len(syn)}. The search's verdict (fits, by the estimate) agrees with Yosys's in "
            f"{agree} of {len(syn)}.")
        add("")
    add("Held out (`--select train`, first round's budget): the test MSE of the configuration chosen on the "
        "training windows, against uniform 8 bits.")
    add("")
    add("| model | test MSE | uniform 8 MSE | ratio |")
    add("|---|---:|---:|---:|")
    for r in rows:
        ho = r["held_out"]
        m8 = r["rounds"][0]["uniform8"]["mse"]
        if ho["found"]:
            hm = ho["best"]["mse_test"]
            add(f"| {r['name']} | {fmt(hm)} | {fmt(m8)} | {hm / m8:.3f} |")
        else:
            add(f"| {r['name']} | none fits | {fmt(m8)} | - |")
    add("")
    add("Per model, what the search chose (the round synthesis confirmed with the least MSE) and how long it "
        "took:")
    add("")
    for r in rows:
        rd = r["rounds"][r["final"]]
        st = rd["stats"]
        line = bits_summary(rd["best"]) if rd["found"] else "nothing fits: " + (rd["why"] or "?")
        add(f"- **{r['name']}**: {line}. Sensitivity {rd['sens_ms'] / 1e3:.1f} s; {st['priced']} configurations "
            f"priced in {st['price_ms'] / 1e3:.2f} s ({st['priced_per_s']:.0f} per second); {st['exact_runs']} "
            f"exact evaluations in {st['exact_ms'] / 1e3:.1f} s.")
    add("")
    add("## Against the target: within 10% of uniform 8 bits")
    add("")
    for r in rows:
        rd = r["rounds"][r["final"]]
        if not rd["found"] or rd.get("synth", {}).get("over"):
            continue
        ratio = rd["best"]["mse"] / rd["uniform8"]["mse"]
        u8 = r["uniform"]
        fit8 = u8["8-distributed"]["fits"] or u8["8-block"]["fits"]
        verdict = "within 10%" if ratio <= 1.10 else "**not within 10%**"
        how8 = " and ".join(w for w, k in (("LUT RAM", "8-distributed"), ("block RAM", "8-block")) if u8[k]["fits"])
        add(f"- **{r['name']}** ({'uniform 8 bits fits with ' + how8 + ' buffers' if fit8 else 'uniform 8 bits does not fit'}): "
            f"the kept configuration is {verdict} of uniform 8 bits (ratio {ratio:.3f}, "
            f"{'confirmed by Yosys' if 'synth' in rd else 'fits by the estimate, not synthesized'}); "
            f"held out, the configuration chosen on the training windows has a test ratio of "
            + (f"{r['held_out']['best']['mse_test'] / rd['uniform8']['mse']:.3f}" if r["held_out"]["found"] else "-")
            + " (not synthesized).")
        ho = r["held_out"]
        if ho["found"] and ho["best"]["mse_test"] < rd["best"]["mse"]:
            b0 = r["rounds"][0]["best"]
            add(f"  The configuration chosen on the training windows has the lower test MSE ({fmt(ho['best']['mse_test'])} "
                f"against {fmt(rd['best']['mse'])}, at {ho['best']['lut']:.0f} estimated LUTs): the search on the test "
                "windows missed it. Its surrogate is off by "
                f"{100 * (b0['mse_surrogate'] - b0['mse']) / b0['mse']:+.1f}% at its first round's best: where it ranks this "
                "poorly, the default 48 exact evaluations around its choice may be too few (`--exact N` sets "
                "them).")
        if ratio > 1.10:
            over = [x for x in r["rounds"] if x.get("synth", {}).get("over")]
            if over:
                least = min(over, key=lambda x: x["best"]["mse"])
                le, lt = least["best"]["lut"], least["synth"]["total"]["lut"] + least["synth"]["total"]["lutram"]
                add(f"  The configurations with less MSE that the search found were over by Yosys (the best, ratio "
                    f"{least['best']['mse'] / least['uniform8']['mse']:.3f}, estimated at {le:.0f} LUTs, "
                    f"{lt} by Yosys ({100 * (le - lt) / lt:+.1f}%), over: {', '.join(least['synth']['over'])}); the "
                    "caps that make the design fit force bits further down. The bisection between the caps that "
                    f"fit and those that did not stopped after {len(r['rounds'])} rounds (one Yosys run each).")
            else:
                add("  Every configuration the search found fits by Yosys too; none within 10% fits by the "
                    "estimate. The search is a heuristic, so this does not prove that none exists.")
    add("")
    add("## Where no mixed configuration fits")
    add("")
    nofit = [r for r in rows if not r["rounds"][r["final"]]["found"] or r["rounds"][r["final"]].get("synth", {}).get("over")]
    if not nofit:
        add("Every model of the study has a mixed configuration that fits, " +
            ("by the estimate (not synthesized: --no-synth)." if a.no_synth else "confirmed by synthesis."))
    for r in nofit:
        rd = r["rounds"][r["final"]]
        if not rd["found"]:
            add(f"- **{r['name']}**: no configuration meets the budget by the estimate: {rd['why']}.")
        else:
            t, b = rd["synth"]["total"], rd["best"]
            add(f"- **{r['name']}**: after {len(r['rounds'])} rounds the search's configuration is still over by "
                "Yosys (" + ", ".join(rd["synth"]["over"]) + ")" + (f": {rd['stop']}" if rd.get("stop") else "")
                + f". Yosys counts {t['lut']} logic LUTs where the estimate has {b['lut'] - b['lutram']:.0f} "
                f"({t['lut'] / max(1, b['lut'] - b['lutram']):.1f} times as many), with {t['bram18']} of "
                f"{caps['bram18']} RAMB18 in use" + (", so the ROMs and buffers left in LUTs cannot move to "
                "block RAM" if t["bram18"] >= int(caps["bram18"]) - 1 else "") + "; " +
                ("the estimate misses logic that decides the fit, so the search cannot trade it against MSE."
                 if t["lut"] > 1.05 * max(1, b["lut"] - b["lutram"]) else
                 "the estimate is close to Yosys, so the design the search chose sits at the capacity's edge, "
                 "where the estimate's error of a few percent decides the verdict."))
    add("")
    out = os.path.join(ROOT, a.out) if not os.path.isabs(a.out) else a.out
    with open(out + ".tmp", "w") as fp:
        fp.write("\n".join(L))
    os.replace(out + ".tmp", out)
    log(f"wrote {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mpqx", default=os.environ.get("MPQX", "mpqx"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build-deployability"),
                    help="models and results (default build-deployability/ in the source tree)")
    ap.add_argument("--sizes", default="16,24,32,48,64")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--device", default="xc7s15")
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--rounds", type=int, default=3,
                    help="searches per model: when Yosys finds the best over the LUT capacity, search again with "
                         "the LUT RAM capped by what synthesis left (default 3)")
    ap.add_argument("--out", default="doc/deployability.md")
    a = ap.parse_args()
    a.sizes = [int(x) for x in a.sizes.split(",") if x]
    a.mpqx = os.path.abspath(a.mpqx) if os.path.exists(a.mpqx) else a.mpqx
    os.makedirs(os.path.join(a.work, "results"), exist_ok=True)
    src = os.path.join(a.work, "results", "source.txt")
    if not os.path.exists(src):  # the tree the cached results come from (they are reused until removed)
        with open(src, "w") as fp:
            fp.write(source_commit() + "\n")
    caps = device_caps(a)
    models = [("seattle-daily", os.path.join(ROOT, "samples", "seattle-daily"))]
    for d in a.sizes:
        out = os.path.join(a.work, f"daily-d{d}")
        train(a, d, out)
        models.append((f"daily-d{d}", out))
    rows = []
    for name, path in models:
        rows.append(study_model(a, name, path, os.path.join(a.work, "results", name)))
        with open(os.path.join(a.work, "study.json"), "w") as fp:
            json.dump(rows, fp, indent=1)
    write_md(a, rows, caps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
