#!/usr/bin/python3
"""attrib: where a uniform configuration's error comes from, one layer at a time.

For uniform B bits and a reference width HI, tools/qref.py's integer model (bit for bit the C engine) is
run with: uniform B; uniform HI; and for every layer, (1) its activations raised to HI, (2) its weights
raised to HI, the rest at B; (3) its activations alone at B, (4) its weights alone at B, the rest at HI.
Each cell is the RMS difference between the integer forecast and the float forecast, with its mean in
parentheses (the systematic shift), on the normalised scale. The ranges are calibrated as mpqx does
(default method and headroom) on the train and calib windows, and the test windows are evaluated
(--part test, the default), or calibrated on the train windows alone and the calib windows evaluated
(--part calib, for choices).

The tables of doc/quantization.md use HI = 12 against 6 and 14 against 8: before an `add` raised its shift
for an input of many more bits (doc/quantization.md, "add"), HI = 16 lost the smaller multiplier's precision.

    /usr/bin/python3 tools/attrib.py samples/seattle-hourly 6 12 [--part test|calib]

Exit status 0; 1 on bad input; 2 on a usage error.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qref  # noqa: E402
import numpy as np  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(prog="attrib.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("bits", type=int)
    ap.add_argument("hi", type=int)
    ap.add_argument("--part", choices=("test", "calib"), default="test")
    a = ap.parse_args(argv)
    if not (2 <= a.bits <= 16 and 2 <= a.hi <= 16):
        ap.error("widths must be 2..16")
    try:
        model = qref.load_model(a.model)
        W = qref.Windows(model, a.part)
        parts, xw, t, fl, fmse = W.parts, W.x, W.t, W.fl, W.fmse
        n = len(model["layers"])
        cache = {}

        def run(bits):
            k = tuple(b[1] for b in bits)
            if k not in cache:
                cache[k] = qref.float_ranges(model, bits, None, parts=parts)
            q = qref.build(model, bits, cache[k])
            out, _ = qref.forward(model, q, xw)
            p = W.forecast(q, out)
            return np.sqrt(np.mean((p - fl) ** 2)), np.mean(p - fl), float(np.mean((p - t) ** 2)) / fmse - 1

        def cell(r):
            return "%.4f (%+.4f)" % (r[0], r[1])

        B, HI = a.bits, a.hi
        for w in (B, HI):
            r = run([(w, w)] * n)
            print("uniform %d: %s, MSE over float %+.1f%%" % (w, cell(r), 100 * r[2]))
        print("| layer | op | a at %d | w at %d | only a at %d | only w at %d |" % (HI, HI, B, B))
        print("|---|---|---|---|---|---|")
        for li, L in enumerate(model["layers"]):
            wt = L.op in qref.WEIGHTED
            def at(rest, pair):  # every layer at rest, this one at pair
                b2 = [rest] * n
                b2[li] = pair
                return cell(run(b2))
            c = [at((B, B), (B, HI)), at((B, B), (HI, B)) if wt else "-",
                 at((HI, HI), (HI, B)), at((HI, HI), (B, HI)) if wt else "-"]
            print("| %s | %s | %s |" % (L.name, L.op, " | ".join(c)), flush=True)
    except qref.QrefError as e:
        sys.stderr.write("attrib: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
