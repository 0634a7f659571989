#!/usr/bin/python3
"""range_search: activation ranges chosen for one configuration by the error of the whole integer model.

The calibration methods of doc/quantization.md choose each layer's range from that layer's own values. This
tool chooses them by the forecast: starting from the ranges mpqx uses for CONFIG (`mpqx eval --params`), it
visits every layer whose range is calibrated (not the output layer: its range and headroom are what keeps a
colder test season from clamping the forecast), tries that range scaled by each factor of --alphas, and
keeps the factor that gives the least mean squared difference between the integer model's forecast
(tools/qref.py, bit for bit the C engine) and the float model's, over the calibration windows (every window
of the train and calib parts, evenly subsampled to at most --windows). --sweeps passes over the layers.
The test windows are never read.

It writes a model directory whose model.json fixes the chosen ranges (`ranges`, doc/model-format.md,
"Fixed ranges"), with the source's data.csv, reference.json (the float weights are unchanged) and the
config under configs/, so that `mpqx eval DIR -c DIR/configs/CONFIG` evaluates, and `mpqx export` writes,
the integer model with these ranges. It then checks that mpqx quantizes every layer of DIR with the scale
and zero point the search used, and prints the test MSE before and after from `mpqx eval --json`.

    /usr/bin/python3 tools/range_search.py MODEL -c CONFIG --out DIR [--alphas 0.5,0.6,...,1]
        [--sweeps N] [--windows N] [--mpqx PATH] [--json]

Exit status 0; 1 on bad input or a failed step; 2 on a usage error.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qref  # noqa: E402  (exits 77 with a message when NumPy is missing)
import mpqx_run  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ALPHAS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class SearchError(Exception):
    pass


def find_mpqx(explicit=None):
    return mpqx_run.find_mpqx(explicit, SearchError)


def run_mpqx(mpqx, args):
    return mpqx_run.run_mpqx(mpqx, args, SearchError)


def params(mpqx, model_path, config):
    return mpqx_run.quant_params(mpqx, model_path, config, SearchError)


def search(model, bits, gran, ranges, searchable, x, ref, alphas, sweeps, log):
    """Coordinate descent over the searchable layers' range factors; returns (ranges, loss before, after)."""
    o = model["index"][model["output"]]

    def loss(R):
        q = qref.build(model, bits, R, gran)
        out, _ = qref.forward(model, q, x)
        p = q[o].s * (out[o].reshape(len(x), -1).astype(np.float64) - q[o].z)
        return float(np.mean((p - ref) ** 2))

    R = dict(ranges)
    start = best = loss(R)
    for sw in range(sweeps):
        for name in searchable:
            lo, hi = ranges[name]
            keep = R[name]
            for a in alphas:
                R[name] = (lo * a, hi * a)
                v = loss(R)
                if v < best:
                    best, keep = v, R[name]
            R[name] = keep
        log("sweep %d: mean squared difference to the float forecast %.6g (from %.6g)" % (sw + 1, best, start))
    return R, start, best


def write_dir(src_dir, doc, config, out, chosen):
    """The model directory: model.json with `ranges`, the source's data.csv, reference.json (and DATA.md),
    configs/CONFIG. Written beside out and renamed over it."""
    out = os.path.abspath(out)
    if os.path.exists(out) and (not os.path.isdir(out) or
                                (os.listdir(out) and not os.path.exists(os.path.join(out, "model.json")))):
        raise SearchError("--out %s exists and is not a model directory; refusing to write into it" % out)
    doc = dict(doc)
    rng = dict(doc.get("ranges") or {})
    rng.update({k: [float(v[0]), float(v[1])] for k, v in chosen.items()})
    doc["ranges"] = rng
    csv_name = doc["dataset"]["csv"]
    doc["dataset"] = dict(doc["dataset"], csv="data.csv")
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".", dir=parent)
    try:
        with open(os.path.join(tmp, "model.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        shutil.copyfile(os.path.join(src_dir, csv_name), os.path.join(tmp, "data.csv"))
        for extra in ("reference.json", "DATA.md"):
            if os.path.exists(os.path.join(src_dir, extra)):
                shutil.copyfile(os.path.join(src_dir, extra), os.path.join(tmp, extra))
        os.makedirs(os.path.join(tmp, "configs"))
        shutil.copyfile(config, os.path.join(tmp, "configs", os.path.basename(config)))
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return os.path.join(out, "configs", os.path.basename(config))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="range_search.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="sample directory or model.json")
    ap.add_argument("-c", "--config", required=True)
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--alphas", default=",".join("%g" % a for a in ALPHAS),
                    help="factors tried on each range (default %(default)s)")
    ap.add_argument("--sweeps", type=int, default=1, help="passes over the layers (default 1)")
    ap.add_argument("--windows", type=int, default=1500,
                    help="at most this many calibration windows, evenly spaced (default 1500)")
    ap.add_argument("--mpqx", help="the mpqx binary (default: $MPQX, build/src/cli/mpqx, PATH)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args(argv)
    log = (lambda s: sys.stderr.write(s + "\n")) if args.json else print
    try:
        alphas = tuple(float(a) for a in args.alphas.split(","))
    except ValueError:
        ap.error("--alphas: expected numbers separated by commas, got %r" % args.alphas)
    if not alphas or any(not (0 < a <= 4) for a in alphas):
        ap.error("--alphas: every factor must be in (0, 4]")
    if args.sweeps < 1 or args.windows < 1:
        ap.error("--sweeps and --windows must be at least 1")
    t0 = time.time()
    try:
        mpqx = find_mpqx(args.mpqx)
        path = os.path.join(args.model, "model.json") if os.path.isdir(args.model) else args.model
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise SearchError("%s: %s" % (path, e))
        P = params(mpqx, path, args.config)
        model = qref.load_model(path)
        bits = qref.load_config(args.config, model)
        gran = qref.load_granularity(args.config, model)
        layers = model["layers"]
        out_name = layers[model["index"][model["output"]]].name
        ranges = {L.name: tuple(P[L.name]["range"]) for L in layers}
        searchable = [L.name for L in layers if P[L.name]["range_source"] != "op" and L.name != out_name]
        x = np.concatenate([qref.windows(model, p)[0] for p in (0, 1)])
        step = max(1, -(-len(x) // args.windows))
        x = x[::step]
        o = model["index"][model["output"]]
        ref = qref.float_forward(model, x)[o].reshape(len(x), -1)
        log("%s for %s: %d calibration windows, %d layers searched" % (
            model["name"] if "name" in model else path, args.config, len(x), len(searchable)))
        R, before, after = search(model, bits, gran, ranges, searchable, x, ref, alphas, args.sweeps, log)
        chosen = {k: R[k] for k in searchable}
        cfg = write_dir(os.path.dirname(os.path.abspath(path)), doc, args.config, args.out, chosen)
        # mpqx must quantize the written model as the search did
        q = qref.build(model, bits, R, gran)
        got = params(mpqx, args.out, cfg)
        for li, L in enumerate(layers):
            o_ = got[L.name]["out"]
            if abs(float(o_["s"]) - q[li].s) > 1e-12 * q[li].s or int(o_["z"]) != q[li].z:
                raise SearchError("%s: layer %s: mpqx quantizes with s=%r z=%d, the search used s=%r z=%d" % (
                    args.out, L.name, o_["s"], o_["z"], q[li].s, q[li].z))
        e0 = run_mpqx(mpqx, ["eval", path, "-c", args.config, "--json"])
        e1 = run_mpqx(mpqx, ["eval", args.out, "-c", cfg, "--json"])
    except (SearchError, qref.QrefError) as e:
        sys.stderr.write("range_search: %s\n" % e)
        return 1
    factors = {k: R[k][1] / ranges[k][1] if ranges[k][1] else R[k][0] / ranges[k][0] for k in searchable}
    res = {"format": "range-search", "version": 1, "model": path, "config": args.config, "out": args.out,
           "calib_before": before, "calib_after": after, "factors": factors,
           "test_mse_before": e0["mse"], "test_mse_after": e1["mse"], "mse_float": e1["mse_float"],
           "seconds": time.time() - t0}
    if args.json:
        print(json.dumps(res))
    else:
        print("factors: " + ", ".join("%s %g" % (k, round(v, 3)) for k, v in factors.items() if v != 1.0))
        print("test MSE %.6g (%+.1f%%) -> %.6g (%+.1f%%), float %.6g; %.0f s" % (
            e0["mse"], 100 * (e0["mse"] / e0["mse_float"] - 1), e1["mse"], 100 * (e1["mse"] / e1["mse_float"] - 1),
            e1["mse_float"], res["seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
