#!/usr/bin/python3
"""Writes tests/data/ln16: input -> linear (16 channels) -> layernorm over C = 16 -> avgpool -> linear, on
tests/data/tiny's CSV, for the hardware test of layernorm widths that the tiny model (C = 4) cannot reach:
with 16 values per row and a wide input, V = sum d^2 needs more bits than the layer's shared multiplier
has (doc/hardware.md, layernorm). Deterministic."""
import json, os, random

rng = random.Random(16)
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ln16")
os.makedirs(here, exist_ok=True)
T, F, D = 6, 2, 16


def t(shape, scale=0.5, centre=0.0):
    n = 1
    for s in shape:
        n *= s
    return {"shape": shape, "data": [round(centre + rng.uniform(-scale, scale), 6) for _ in range(n)]}


layers = [
    {"name": "input", "op": "input", "shape": [T, F]},
    {"name": "proj", "op": "linear", "inputs": ["input"], "shape": [T, D], "weight": t([D, F], 1.0), "bias": t([D])},
    {"name": "ln", "op": "layernorm", "inputs": ["proj"], "shape": [T, D], "weight": t([D], 0.5, 1.0),
     "bias": t([D], 0.3), "eps": 1e-5},
    {"name": "pool", "op": "avgpool", "inputs": ["ln"], "shape": [1, D]},
    {"name": "head", "op": "linear", "inputs": ["pool"], "shape": [1, 1], "weight": t([1, D]), "bias": t([1])},
]
with open(os.path.join(here, "..", "tiny", "model.json")) as f:
    tiny = json.load(f)
doc = {
    "format": "mpqx-model", "version": 1, "name": "ln16", "task": "forecast",
    "input": {"window": T, "features": F}, "output": {"features": 1, "layer": "head"},
    "dataset": dict(tiny["dataset"], csv="../tiny/data.csv"),
    "normalization": tiny["normalization"],
    "layers": layers,
}
with open(os.path.join(here, "model.json"), "w") as f:
    f.write("{\n")
    keys = list(doc)
    for i, k in enumerate(keys):
        sep = "," if i + 1 < len(keys) else ""
        if k == "layers":
            f.write(' "layers": [\n')
            for j, l in enumerate(doc[k]):
                f.write("  " + json.dumps(l) + ("," if j + 1 < len(doc[k]) else "") + "\n")
            f.write(" ]" + sep + "\n")
        else:
            f.write(" " + json.dumps(k) + ": " + json.dumps(doc[k]) + sep + "\n")
    f.write("}\n")
