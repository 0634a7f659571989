#!/usr/bin/python3
"""calib_spread: how much of a configuration's MSE is its bit widths and how much is the calibration's luck.

mpqx calibrates each activation range to the min/max of the float outputs, widened by 5% of the range on
each side (doc/quantization.md). Any widening of a few percent is as valid a choice, and it moves every
rounding point; on a model whose float error is near one step of its activations, the MSE ratio to float
then varies with it. This tool repeats the integer evaluation of the test set (the arithmetic of
tools/qref.py, which equals the C engine bit for bit) with every range widened by a further random 0..F of
its width on each side that is not zero, and prints the spread of the MSE ratio to the float model.

It also prints the floor that rounding the forecast alone sets: step^2 / 12 of the output layer's step
(`mpqx eval` prints the same line).

    mpqx eval samples/seattle-hourly [-c CONFIG] --dump /tmp/d >/dev/null
    /usr/bin/python3 tools/calib_spread.py samples/seattle-hourly [-c CONFIG] --dump /tmp/d [--runs N]
        [--widen F] [--seed S] [--json]

Exit status 0; 1 on bad input; 2 on a usage error.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qref  # noqa: E402  (exits 77 with a message when NumPy is missing)
import numpy as np  # noqa: E402


def test_mse(model, q, out, targets):
    o = model["index"][model["output"]]
    pred = q[o].s * (out[o].reshape(out[o].shape[0], -1).astype(np.float64) - q[o].z)
    return float(np.mean((pred - targets.astype(np.float64)[:, None]) ** 2)), q[o].s


def widened(ranges, rng, f):
    r = {}
    for name, (lo, hi) in ranges.items():
        w = hi - lo
        r[name] = (lo - rng.uniform(0.0, f) * w if lo < 0 else lo, hi + rng.uniform(0.0, f) * w if hi > 0 else hi)
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(prog="calib_spread.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="model.json or a sample directory")
    ap.add_argument("-c", "--config", help="mpqx-config v1 file (default: uniform 8 bits)")
    ap.add_argument("--dump", metavar="DIR", required=True, help="directory of `mpqx eval --dump DIR`")
    ap.add_argument("--runs", type=int, default=50, help="calibrations to try (default 50)")
    ap.add_argument("--widen", type=float, default=0.05, help="largest further widening F (default 0.05)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args(argv)
    if args.runs < 1 or not 0.0 <= args.widen <= 1.0:
        sys.stderr.write("calib_spread.py: --runs must be at least 1 and --widen within 0..1\n")
        return 2
    try:
        model = qref.load_model(args.model)
        bits = qref.load_config(args.config, model)
        ranges = qref.dump_ranges(qref.load_ranges(args.dump))
        xwin, targets, _ = qref.windows(model)
        o = model["index"][model["output"]]
        fpred = qref.float_forward(model, xwin)[o].reshape(xwin.shape[0], -1)
        mse_float = float(np.mean((fpred - targets.astype(np.float64)[:, None]) ** 2))
        q = qref.build(model, bits, ranges)
        mse0, step = test_mse(model, q, qref.forward(model, q, xwin)[0], targets)
        rng = np.random.default_rng(args.seed)
        ratios = []
        for _ in range(args.runs):
            q = qref.build(model, bits, widened(ranges, rng, args.widen))
            ratios.append(test_mse(model, q, qref.forward(model, q, xwin)[0], targets)[0] / mse_float - 1.0)
    except qref.QrefError as e:
        sys.stderr.write("calib_spread: %s\n" % e)
        return 1
    except (KeyError, TypeError, ValueError) as e:
        sys.stderr.write("calib_spread: malformed input: %r\n" % (e,))
        return 1
    r = np.array(ratios) * 100.0
    res = {
        "format": "calib-spread", "version": 1, "model": model["path"], "config": args.config or "uniform 8 bits",
        "windows": int(xwin.shape[0]), "mse_float": mse_float, "mse": mse0, "ratio_pct": 100.0 * (mse0 / mse_float - 1),
        "output_step": step, "output_rounding_pct": 100.0 * step * step / 12.0 / mse_float,
        "runs": args.runs, "widen": args.widen, "seed": args.seed,
        "spread_pct": {"min": float(r.min()), "p10": float(np.percentile(r, 10)), "median": float(np.median(r)),
                       "mean": float(r.mean()), "p90": float(np.percentile(r, 90)), "max": float(r.max())},
        "within_5pct": int(np.count_nonzero(r <= 5.0)),
    }
    if args.json:
        print(json.dumps(res))
        return 0
    s = res["spread_pct"]
    print("calib_spread: %s, %s, %d test windows" % (res["model"], res["config"], res["windows"]))
    print("  float MSE %.6g; mpqx's calibration: MSE %.6g (%+.1f%%)" % (mse_float, mse0, res["ratio_pct"]))
    print("  output step %.4g: rounding the forecast alone adds %+.1f%% on average" %
          (step, res["output_rounding_pct"]))
    print("  %d calibrations widened by a further 0..%g: ratio median %+.1f%%, mean %+.1f%%, p10 %+.1f%%, "
          "p90 %+.1f%%, min %+.1f%%, max %+.1f%%; within +5%%: %d" %
          (args.runs, args.widen, s["median"], s["mean"], s["p10"], s["p90"], s["min"], s["max"],
           res["within_5pct"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
