#!/usr/bin/python3
"""Run tools/synth_check.py over a set of configurations of one model, one synthesis at a time.

    tools/synth_sweep.py MODEL [--uniform 8,6,4] [--buffers auto,distributed,block] [--random N --seed S]
                         [--tag TAG] [--cache DIR] [--mpqx PATH] [--summary] [--flow both|flat|hier]

Uniform configurations set every layer's weight and output bits to B and every buffer to the given
storage (ROMs auto). Random ones draw each layer's w_bits and a_bits from 2..16 and its buffer and ROM
storage from (block, distributed/logic, auto), from the seed; use different seeds for the fitting set
and for the test set. --mult dsp,logic,auto also draws each layer's multiplier choice among those, from a
second generator (the bits and storage of a seed stay those drawn without it, as tools/hdl_configs.py
does); these configurations are named MODEL-rSEEDm-I. The configurations are written to CACHE/configs/. Each design is synthesized as
tools/synth_check.py does (--flow both: flattened, the reference for the totals, and with the hierarchy
kept, for the per-layer figures). --summary prints one line per design (total LUT, LUTRAM, FF errors
against the flattened run, the hierarchical run's LUT and FF errors, whether BRAM18/DSP were exact) and
the median and worst absolute LUT and FF errors, the exactness of the memories and DSPs, the fit verdicts
and, where the hierarchical run exists, the per-layer errors.

    tools/synth_sweep.py --records TAG [--cache DIR] [--mpqx PATH] [--summary] [--table]

takes every design cached with tag TAG instead (its model and configuration as recorded, any model),
re-estimated with the current build and coefficients, without synthesis: the summary over a whole
held-out set. Designs whose RTL is identical (e.g. `auto` resolving to what another configuration sets)
are one record.
"""
import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synth_check  # noqa: E402


def layer_names(model):
    path = os.path.join(model, "model.json") if os.path.isdir(model) else model
    with open(path) as fp:
        return [l["name"] for l in json.load(fp)["layers"]]


def write(path, layers, defaults):
    cfg = {"format": "mpqx-config", "version": 1, "device": "xc7s15", "defaults": defaults, "layers": layers}
    with open(path, "w") as fp:
        json.dump(cfg, fp, indent=1)
        fp.write("\n")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="?")
    ap.add_argument("--uniform", default="")
    ap.add_argument("--buffers", default="auto")
    ap.add_argument("--random", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mult", default="", help="random configs: draw each layer's mult among these (e.g. dsp,logic,auto)")
    ap.add_argument("--tag", default="")
    ap.add_argument("--cache")
    ap.add_argument("--mpqx", default=os.environ.get("MPQX", "mpqx"))
    ap.add_argument("--costs")
    ap.add_argument("--summary", action="store_true")
    ap.add_argument("--no-synth", action="store_true", help="only designs already synthesized (cached)")
    ap.add_argument("--flow", choices=("both", "flat", "hier"), default="both", help="passed to synth_check.py")
    ap.add_argument("--table", action="store_true", help="a markdown table of totals and verdicts, estimate and Yosys")
    ap.add_argument("--markdown", action="store_true",
                    help="a markdown table, one row per design: Yosys totals with the estimate's errors, verdicts")
    ap.add_argument("--records", metavar="TAG", help="every cached design with this tag, any model (implies --no-synth)")
    a = ap.parse_args()
    if (a.model is None) == (a.records is None):
        ap.error("give a model or --records TAG")

    cache = synth_check.cache_dir(a.cache)
    if a.records is not None:
        runs = cached_runs(cache, a.records)
        if not runs:
            sys.exit(f"synth_sweep: no record tagged '{a.records}' in {cache}")
        return sweep(a, cache, runs, a.records, True)
    cdir = os.path.join(cache, "configs")
    os.makedirs(cdir, exist_ok=True)
    name = os.path.basename(os.path.normpath(a.model))
    names = layer_names(a.model)
    configs = []
    for b in [int(x) for x in a.uniform.split(",") if x]:
        for st in a.buffers.split(","):
            d = {"w_bits": b, "a_bits": b, "buffer": st, "rom": "auto"}
            configs.append(write(os.path.join(cdir, f"{name}-u{b}-{st}.json"), {}, d))
    rng = random.Random(a.seed)
    mrng = random.Random(a.seed * 7919 + 1)
    mults = [m for m in a.mult.split(",") if m]
    for i in range(a.random):
        layers = {n: {"w_bits": rng.randint(2, 16), "a_bits": rng.randint(2, 16),
                      "buffer": rng.choice(["block", "distributed", "auto"]),
                      "rom": rng.choice(["block", "logic", "auto"])} for n in names}
        if mults:
            for n in names:
                layers[n]["mult"] = mrng.choice(mults)
        d = {"w_bits": 8, "a_bits": 8, "buffer": "auto", "rom": "auto"}
        configs.append(write(os.path.join(cdir, f"{name}-r{a.seed}{'m' if mults else ''}-{i}.json"), layers, d))
    return sweep(a, cache, [(a.model, c) for c in configs], a.tag, a.no_synth)


def cached_runs(cache, tag):
    """(model, config) of every cached synth_check record with this tag, sorted by model and config."""
    runs = []
    for f in os.listdir(cache):
        if f.endswith(f"-{tag}.run.json"):
            with open(os.path.join(cache, f)) as fp:
                r = json.load(fp)
            if r.get("tag") == tag and r.get("config"):
                runs.append((r["model"], r["config"]))
    return sorted(runs, key=lambda mc: (os.path.basename(mc[0]), os.path.basename(mc[1])))


def sweep(a, cache, runs, tag, no_synth):
    results = []
    for model, c in runs:
        cmd = [sys.executable, os.path.join(HERE, "synth_check.py"), model, "-c", c, "--json",
               "--mpqx", a.mpqx, "--cache", cache, "--tag", tag, "--flow", a.flow]
        if a.costs:
            cmd += ["--costs", a.costs]
        if no_synth:
            cmd += ["--no-synth"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode == 3:
            print(f"{os.path.basename(c):28} not synthesized yet", flush=True)
            continue
        if p.returncode not in (0, 1) or not p.stdout.strip():
            print(f"{os.path.basename(c)}: FAILED\n{p.stderr[-1500:]}", file=sys.stderr)
            continue
        r = json.loads(p.stdout)
        results.append((os.path.basename(c), r))
        e = r["total"]["error_pct"]
        eh = r["total"].get("error_pct_hier")
        ref = r["total"].get("reference", "hier")
        fi = r["fits"]
        hier = (f"  (hier LUT {eh['lut']:+5.1f}% FF {eh['ff']:+5.1f}%)" if eh and ref == "flat" else "")
        print(f"{os.path.basename(c):28} {ref:4} LUT {e['lut']:+6.1f}%  LUTRAM {e['lutram']:+6.1f}%  FF {e['ff']:+6.1f}%  "
              f"BRAM18/DSP exact: {'yes' if r['bram_dsp_exact'] else 'NO'}  fits: estimate "
              f"{'yes' if fi['estimate'] else 'no'}, Yosys {'yes' if fi['synth'] else 'no'}{hier}", flush=True)
    if a.table and results:
        print("\n| config | | logic LUT (LUT use: logic + memory) | LUTRAM | FF | BRAM18 | DSP | fits? (limiting) |")
        print("|---|---|---|---|---|---|---|---|")
        for name, r in results:
            fi = r["fits"]
            for who, key, fit, lim in (("estimate", "estimate", fi["estimate"], fi["limiting_estimate"]),
                                      ("Yosys", "synth", fi["synth"], fi["limiting_synth"])):
                t = r["total"][key]
                u = fi["utilisation_" + key]
                cells = " | ".join(f"{t[k]} ({100 * u[k]:.0f}%)" for k in ("lut", "lutram", "ff", "bram18", "dsp"))
                print(f"| {name.replace('.json', '') if who == 'estimate' else ''} | {who} | {cells} | "
                      f"{'**yes**' if fit else 'no'} ({lim} {100 * u[lim]:.0f}%) |")
    if a.markdown and results:
        print("\n| design (Yosys totals) | logic LUT | LUTRAM | FF | BRAM18 / DSP | exact | fits: estimate / Yosys |")
        print("|---|---|---|---|---|---|---|")
        for name, r in results:
            t, e = r["total"]["synth"], r["total"]["error_pct"]
            lr = f"{t['lutram']} ({e['lutram']:+.1f}%)" if t["lutram"] or r["total"]["estimate"]["lutram"] else "0"
            ex = all(r["total"]["estimate"][k] == t[k] for k in ("bram18", "dsp", "lutram"))
            fi = r["fits"]
            print(f"| {name.replace('.json', '')} | {t['lut']} ({e['lut']:+.1f}%) | {lr} | {t['ff']} ({e['ff']:+.1f}%) | "
                  f"{t['bram18']} / {t['dsp']} | {'yes' if ex else 'NO'} | "
                  f"{'yes' if fi['estimate'] else 'no'} / {'yes' if fi['synth'] else 'no'} |")
    if a.summary and results:
        for res in ("lut", "ff", "lutram"):
            v = [abs(r["total"]["error_pct"][res]) for _, r in results
                 if r["total"]["synth"][res] or r["total"]["estimate"][res]]
            if v:
                print(f"{res}: median |error| {statistics.median(v):.2f}%, worst {max(v):.2f}% over {len(v)}")
        nrand = sum(1 for name, _ in results if re.search(r"-r\d+m?-\d+\.json$", name))
        nflat = sum(1 for _, r in results if r["total"].get("reference") == "flat")
        print(f"reference: flattened synthesis in {nflat}/{len(results)} designs (the rest: hierarchy kept)")
        for res in ("bram18", "dsp", "lutram"):
            ok = sum(1 for _, r in results if r["total"]["estimate"][res] == r["total"]["synth"][res])
            print(f"{res} total exact in {ok}/{len(results)} designs")
        print(f"BRAM18 and DSP exact (per layer where the hierarchy was kept, and in total) in "
              f"{sum(r['bram_dsp_exact'] for _, r in results)}/{len(results)} designs ({nrand} random mixed)")
        same = sum(1 for _, r in results if r["fits"]["estimate"] == r["fits"]["synth"])
        nfit = sum(1 for _, r in results if r["fits"]["synth"])
        print(f"fit verdict the same in {same}/{len(results)} designs ({nfit} fit by Yosys)")
        for res in ("lut", "ff"):
            v = [abs(r["total"]["error_pct_hier"][res]) for _, r in results
                 if r["total"].get("error_pct_hier") and r["total"].get("reference") == "flat"]
            if v:
                print(f"{res} against the hierarchical runs of the same designs: median |error| "
                      f"{statistics.median(v):.2f}%, worst {max(v):.2f}% over {len(v)}")
        for res in ("lut", "ff"):
            v = sorted(abs(100.0 * (l["est"][res] - l["synth"][res]) / l["synth"][res])
                       for _, r in results for l in r["layers"] if l["synth"] and l["synth"][res] >= 20)
            if v:
                print(f"per layer {res} (layers with >= 20): median |error| {statistics.median(v):.1f}%, "
                      f"90th percentile {v[int(0.9 * (len(v) - 1))]:.1f}%, worst {v[-1]:.1f}% over {len(v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
