#!/usr/bin/python3
"""The softmax output's float code against its linear code, per sample and uniform width.

    tools/softmax_code.py MODEL... [--bits 4,5,6,7,8,9,10] [--part calib|test]

For each model and uniform width b (every layer's weights and activations at b), tools/qref.py's integer
model (bit for bit the C engine) forecasts with the softmax outputs in the linear code and in the float
code of 2, 3 and 4 exponent bits (doc/quantization.md, "softmax"), the ranges from the train windows and
the forecasts of the calib windows (--part calib, how the rule was chosen) or from the train and calib
windows and the forecasts of the test windows (--part test). Prints the MSE over float of each, and the
geometric mean over the models of the MSE ratio to float per width and code.
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qref  # noqa: E402

CODES = (0, 2, 3, 4)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--bits", default="4,5,6,7,8,9,10")
    ap.add_argument("--part", choices=("calib", "test"), default="calib")
    a = ap.parse_args(argv)
    widths = [int(b) for b in a.bits.split(",")]
    geo = {(b, e): [] for b in widths for e in CODES}
    print("| model | bits | linear | float e=2 | float e=3 | float e=4 |")
    print("|---|---|---|---|---|---|")
    try:
        for path in a.models:
            model = qref.load_model(path)
            W = qref.Windows(model, a.part)
            n = len(model["layers"])
            for b in widths:
                bits = [(b, b)] * n
                ranges = qref.float_ranges(model, bits, None, parts=W.parts)
                row = []
                for e in CODES:
                    if e and b - e < 1:
                        row.append("-")
                        continue
                    qref.FC_FORCE = e
                    q = qref.build(model, bits, ranges)
                    out, _ = qref.forward(model, q, W.x)
                    r = float(np.mean((W.forecast(q, out) - W.t) ** 2)) / W.fmse
                    geo[(b, e)].append(r)
                    row.append("%+.1f%%" % (100 * (r - 1)))
                qref.FC_FORCE = None
                print("| %s | %d | %s |" % (os.path.basename(os.path.normpath(path)), b, " | ".join(row)), flush=True)
    except qref.QrefError as e:
        sys.exit("softmax_code.py: %s" % e)
    print()
    print("geometric mean of MSE / float MSE over the models (%s windows):" % a.part)
    for b in widths:
        cells = []
        for e in CODES:
            v = geo[(b, e)]
            cells.append("%s %.4f" % ("linear" if e == 0 else "e=%d" % e,
                                      math.exp(sum(math.log(x) for x in v) / len(v))) if v else "-")
        print("  %2d bits: %s" % (b, ", ".join(cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
