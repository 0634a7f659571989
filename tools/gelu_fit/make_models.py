#!/usr/bin/python3
"""Writes the proj-gelu models the [gelu] cost kind is fitted and checked on (doc/estimator.md, "layernorm
and gelu"): input [T, 3] -> linear (D channels) -> gelu -> avgpool -> linear (1), on the seattle-hourly
data (samples/seattle-hourly-ln/data.csv, its columns and normalisation), so that the gelu layer has
T * D elements: element addresses of 5 to 13 bits. Random weights, deterministic (seeded by the shape).

    tools/gelu_fit/make_models.py OUT_DIR [T,D ...]      (default: the shapes of tools/gelu_fit/runs.txt)

writes OUT_DIR/proj-gelu-T{T}-D{D}/model.json."""
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SRC = os.path.join(ROOT, "samples", "seattle-hourly-ln")


def shapes_of_runs():
    out = []
    with open(os.path.join(HERE, "runs.txt")) as fp:
        for line in fp:
            w = line.split()
            if len(w) >= 2 and not line.startswith("#") and w[1].startswith("proj-gelu-"):
                t, d = w[1].split("-T")[1].split("-D")
                if (int(t), int(d)) not in out:
                    out.append((int(t), int(d)))
    return out


def write(out_dir, T, D):
    rng = random.Random(T * 1000 + D)
    F = 3

    def t(shape, scale=0.5):
        n = 1
        for s in shape:
            n *= s
        return {"shape": shape, "data": [round(rng.uniform(-scale, scale), 6) for _ in range(n)]}

    with open(os.path.join(SRC, "model.json")) as fp:
        src = json.load(fp)
    d = os.path.join(out_dir, f"proj-gelu-T{T}-D{D}")
    os.makedirs(d, exist_ok=True)
    layers = [
        {"name": "input", "op": "input", "shape": [T, F]},
        {"name": "proj", "op": "linear", "inputs": ["input"], "shape": [T, D], "weight": t([D, F], 1.5),
         "bias": t([D])},
        {"name": "gelu", "op": "gelu", "inputs": ["proj"], "shape": [T, D]},
        {"name": "pool", "op": "avgpool", "inputs": ["gelu"], "shape": [1, D]},
        {"name": "head", "op": "linear", "inputs": ["pool"], "shape": [1, 1], "weight": t([1, D]), "bias": t([1])},
    ]
    doc = {"format": "mpqx-model", "version": 1, "name": f"proj-gelu-T{T}-D{D}", "task": "forecast",
           "input": {"window": T, "features": F}, "output": {"features": 1, "layer": "head"},
           "dataset": dict(src["dataset"], window=T, csv=os.path.relpath(os.path.join(SRC, "data.csv"), d)),
           "normalization": src["normalization"], "layers": layers}
    with open(os.path.join(d, "model.json"), "w") as fp:
        json.dump(doc, fp)
    return d


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    shapes = [tuple(int(v) for v in a.split(",")) for a in sys.argv[2:]] or shapes_of_runs()
    for T, D in shapes:
        print(write(sys.argv[1], T, D))
    return 0


if __name__ == "__main__":
    sys.exit(main())
