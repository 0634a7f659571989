#!/usr/bin/python3
"""Writes small models on tiny's data for place-and-route checks (doc/estimator.md, "iCE40"):
input, linear, relu, average pooling and an output linear, d_model D over a window T (tiny's two
features, its CSV copied). Deterministic per (D, T).

    tests/data/make_mini.py [--d D] [--t T] [--attn] [-o DIR]     default: tests/data/mini (D 2, T 6)

--attn adds a one-head attention block (q, k, v, scores, softmax, ctx, residual add) after the input
linear, for larger designs."""
import argparse, csv, json, math, os, random, shutil

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--d", type=int, default=2)
ap.add_argument("--t", type=int, default=6)
ap.add_argument("--attn", action="store_true")
ap.add_argument("-o", "--out", default=os.path.join(here, "mini"))
a = ap.parse_args()
D, T, F = a.d, a.t, 2
rng = random.Random(1000 * D + T + (7 if a.attn else 0))


def t(shape, scale=0.5):
    n = 1
    for s in shape:
        n *= s
    return {"shape": shape, "data": [round(rng.uniform(-scale, scale), 6) for _ in range(n)]}


tiny = json.load(open(os.path.join(here, "tiny", "model.json")))
layers = [{"name": "input", "op": "input", "shape": [T, F]},
          {"name": "proj", "op": "linear", "inputs": ["input"], "shape": [T, D], "weight": t([D, F]), "bias": t([D])}]
last = "proj"
if a.attn:
    layers += [
        {"name": "q", "op": "linear", "inputs": ["proj"], "shape": [T, D], "weight": t([D, D]), "bias": t([D])},
        {"name": "k", "op": "linear", "inputs": ["proj"], "shape": [T, D], "weight": t([D, D]), "bias": t([D])},
        {"name": "v", "op": "linear", "inputs": ["proj"], "shape": [T, D], "weight": t([D, D]), "bias": t([D])},
        {"name": "scores", "op": "matmul", "inputs": ["q", "k"], "shape": [T, T], "transpose_b": True,
         "scale": 1 / math.sqrt(D)},
        {"name": "softmax", "op": "softmax", "inputs": ["scores"], "shape": [T, T]},
        {"name": "ctx", "op": "matmul", "inputs": ["softmax", "v"], "shape": [T, D], "transpose_b": False},
        {"name": "res", "op": "add", "inputs": ["proj", "ctx"], "shape": [T, D]},
    ]
    last = "res"
layers += [{"name": "relu", "op": "relu", "inputs": [last], "shape": [T, D]},
           {"name": "pool", "op": "avgpool", "inputs": ["relu"], "shape": [1, D]},
           {"name": "head", "op": "linear", "inputs": ["pool"], "shape": [1, 1], "weight": t([1, D]), "bias": t([1])}]
name = os.path.basename(os.path.normpath(a.out))
model = {"format": "mpqx-model", "version": 1, "name": name, "task": "forecast",
         "input": {"window": T, "features": F}, "output": {"features": 1, "layer": "head"},
         "dataset": dict(tiny["dataset"], window=T), "normalization": tiny["normalization"], "layers": layers}
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, "model.json"), "w") as fp:
    json.dump(model, fp, indent=1)
    fp.write("\n")
shutil.copy(os.path.join(here, "tiny", "data.csv"), os.path.join(a.out, "data.csv"))
