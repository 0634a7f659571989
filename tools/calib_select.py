#!/usr/bin/python3
"""calib_select: which calibration method to make the default, measured without the test set.

For every sample given and uniform 8, 6 and 4 bits, each calibration method of doc/quantization.md
(minmax, percentile, mse) calibrates the activation ranges on the train windows alone; the integer model of
tools/qref.py (bit for bit the C engine's arithmetic) then forecasts the calib windows, which that
calibration has not seen, and the MSE is compared with the float model's on the same windows. The method
with the smallest geometric mean of MSE / float MSE over every sample and width is the one mpqx makes its
default (MPQX_CALIB_DEFAULT in include/mpqx/config.h, CALIB_DEFAULT in tools/qref.py). The test windows
are never read.

With --granularity the same measurement compares the weight granularities instead (w_granularity
"tensor" and "channel", every layer alike, the default calibration method): the one with the smaller
geometric mean is the one mpqx makes its default (MPQX_WGRAN_DEFAULT, WGRAN_DEFAULT).

    /usr/bin/python3 tools/calib_select.py samples/seattle-hourly samples/seattle-daily [--granularity] [--json]

Exit status 0; 1 on bad input; 2 on a usage error.
"""

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qref  # noqa: E402  (exits 77 with a message when NumPy is missing)
import numpy as np  # noqa: E402

BITS = (8, 6, 4)


def measure(path, granularity=False):
    """{(choice, bits): calib MSE / float calib MSE - 1} for one sample; the choices are the calibration
    methods, or with granularity the weight granularities."""
    model = qref.load_model(path)
    xc, tc, _ = qref.windows(model, 1)
    o = model["index"][model["output"]]
    t = tc.astype(np.float64)[:, None]
    fmse = float(np.mean((qref.float_forward(model, xc)[o].reshape(xc.shape[0], -1) - t) ** 2))
    n = len(model["layers"])
    res = {}
    for b in BITS:
        bits = [(b, b)] * n
        for m in (qref.WGRAN_NAMES if granularity else qref.CALIB_METHODS):
            method, gran = (qref.CALIB_DEFAULT, m) if granularity else (m, qref.WGRAN_DEFAULT)
            ranges = qref.float_ranges(model, bits, [method] * n, parts=(0,))
            q = qref.build(model, bits, ranges, [gran] * n)
            out, _ = qref.forward(model, q, xc)
            pred = q[o].s * (out[o].reshape(xc.shape[0], -1).astype(np.float64) - q[o].z)
            res[(m, b)] = float(np.mean((pred - t) ** 2)) / fmse - 1.0
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(prog="calib_select.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("samples", nargs="+", help="sample directories or model.json files")
    ap.add_argument("--granularity", action="store_true",
                    help="compare the weight granularities (tensor, channel) instead of the methods")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args(argv)
    try:
        per = {s: measure(s, args.granularity) for s in args.samples}
    except qref.QrefError as e:
        sys.stderr.write("calib_select: %s\n" % e)
        return 1
    choices = qref.WGRAN_NAMES if args.granularity else qref.CALIB_METHODS
    default = qref.WGRAN_DEFAULT if args.granularity else qref.CALIB_DEFAULT
    score = {}
    for m in choices:
        logs = [math.log1p(r[(m, b)]) for r in per.values() for b in BITS]
        score[m] = math.expm1(sum(logs) / len(logs))
    best = min(choices, key=lambda m: score[m])
    if args.json:
        print(json.dumps({"format": "calib-select", "version": 1, "bits": list(BITS),
                          "choice": "w_granularity" if args.granularity else "calibration",
                          "samples": {s: {"%s/%d" % k: v for k, v in r.items()} for s, r in per.items()},
                          "geomean": score, "best": best, "default": default}))
        return 0
    print("calib windows, ranges from the train windows: MSE over float")
    print("| sample | %s | " % ("weights" if args.granularity else "method") + " | ".join("%d bits" % b for b in BITS) + " |")
    print("|---|---|" + "---|" * len(BITS))
    for s, r in per.items():
        for m in choices:
            print("| %s | %s | %s |" % (os.path.basename(os.path.normpath(s)), m,
                                       " | ".join("%+.1f%%" % (100 * r[(m, b)]) for b in BITS)))
    print("geometric mean of MSE / float over samples and widths: " +
          ", ".join("%s %.3f" % (m, 1 + score[m]) for m in choices))
    print("best: %s (the default now: %s)" % (best, default))
    return 0


if __name__ == "__main__":
    sys.exit(main())
