#!/usr/bin/python3
"""Call costs of the Python module against spawning the command line, per sample: medians of m.estimate and
m.eval (a change to the first layer after the input: every layer recomputed; to the last layer: one), and of
`mpqx estimate|eval MODEL -c CONFIG --json` run as a process and parsed, as a Python user of the command
line would. Also the wall time of Model(path).

    PYTHONPATH=build/python /usr/bin/python3 tools/py_bench.py [--repeat N] [--cli build/src/cli/mpqx] [SAMPLE...]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import mpqx

here = os.path.dirname(os.path.abspath(__file__))


cpu = {}


def med(f, n, key=None):
    """Median wall time of f; the median CPU time of this process (every thread) goes to cpu[key]."""
    t, c = [], []
    for _ in range(n):
        c0, t0 = time.process_time(), time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
        c.append(time.process_time() - c0)
    if key:
        cpu[key] = statistics.median(c)
    return statistics.median(t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("samples", nargs="*")
    p.add_argument("--repeat", type=int, default=201, help="calls per median (the CLI: a tenth, at least 5)")
    p.add_argument("--cli", default=os.path.join(here, "..", "build", "src", "cli", "mpqx"))
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    samples = a.samples or [os.path.join(here, "..", "samples", s) for s in ("seattle-daily", "seattle-hourly")]
    out = []
    tmp = tempfile.mkdtemp(prefix="mpqx-pybench.")
    for s in samples:
        t0 = time.perf_counter()
        m = mpqx.Model(s)
        t_open = time.perf_counter() - t0
        names = [l["name"] for l in m.layers]
        k = [0]

        def cfg_first():
            k[0] += 1
            return {"layers": {names[1]: {"a_bits": 6 + k[0] % 2}}}

        def cfg_last():
            k[0] += 1
            return {"layers": {names[-1]: {"a_bits": 6 + k[0] % 2}}}

        est = med(lambda: m.estimate(cfg_first()), a.repeat, "estimate")
        m.eval()
        ev_first = med(lambda: m.eval(cfg_first()), a.repeat, "eval_first")
        base = {"layers": {}}
        m.eval(base)

        def last():
            c = cfg_last()
            m.eval(c)
            assert m.last_recomputed == 1

        ev_last = med(last, a.repeat, "eval_last")
        path = os.path.join(tmp, "c.json")
        with open(path, "w") as fp:
            json.dump(dict(cfg_first(), format="mpqx-config", version=1), fp)
        nc = max(5, a.repeat // 10)
        cli_est = med(lambda: json.loads(subprocess.run([a.cli, "estimate", s, "-c", path, "--json"],
                                                        capture_output=True, check=True).stdout), nc)
        cli_ev = med(lambda: json.loads(subprocess.run([a.cli, "eval", s, "-c", path, "--json"],
                                                       capture_output=True, check=True).stdout), nc)
        r = {"model": m.name, "windows": m.windows, "layers": len(names), "open_s": t_open,
             "estimate_us": est * 1e6, "eval_first_ms": ev_first * 1e3, "eval_last_ms": ev_last * 1e3,
             "cli_estimate_ms": cli_est * 1e3, "cli_eval_ms": cli_ev * 1e3, "cpu_estimate_us": cpu["estimate"] * 1e6,
             "cpu_eval_first_ms": cpu["eval_first"] * 1e3, "cpu_eval_last_ms": cpu["eval_last"] * 1e3,
             "load_average": os.getloadavg()[0]}
        out.append(r)
        if not a.json:
            print(f"{m.name} ({m.windows} test windows, {len(names)} layers): Model() {t_open:.2f} s; "
                  f"load average {os.getloadavg()[0]:.1f}; wall medians (CPU of the process)")
            print(f"  m.estimate            {r['estimate_us']:9.1f} us ({r['cpu_estimate_us']:.1f})   (CLI process: {r['cli_estimate_ms']:7.1f} ms, "
                  f"{cli_est / est:.0f}x)")
            print(f"  m.eval, first layer   {r['eval_first_ms']:9.2f} ms ({r['cpu_eval_first_ms']:.2f})   (CLI process: {r['cli_eval_ms']:7.1f} ms, "
                  f"{cli_ev / ev_first:.0f}x)")
            print(f"  m.eval, last layer    {r['eval_last_ms']:9.2f} ms ({r['cpu_eval_last_ms']:.2f})   ({ev_first / ev_last:.1f}x faster than a "
                  f"first-layer change)")
    if a.json:
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
