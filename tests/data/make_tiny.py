#!/usr/bin/python3
"""Writes tests/data/tiny: a small model that uses every op of doc/model-format.md (split, concat,
layernorm and gelu included), with a synthetic CSV, for loader, engine and hardware tests. Deterministic."""
import json, math, os, random

random.seed(7)
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny")
os.makedirs(here, exist_ok=True)
T, F, D = 6, 2, 4

def t(shape, scale=0.5):
    n = 1
    for s in shape:
        n *= s
    return {"shape": shape, "data": [round(random.uniform(-scale, scale), 6) for _ in range(n)]}

# the layernorm and gelu layers draw from their own generator, so that the other layers and the CSV keep
# their values
rng2 = random.Random(13)
def t2(shape, scale=0.5, centre=0.0):
    return {"shape": shape, "data": [round(centre + rng2.uniform(-scale, scale), 6) for _ in range(shape[0])]}

pe = [[math.sin(r / 10000 ** (c / D)) if c % 2 == 0 else math.cos(r / 10000 ** ((c - 1) / D)) for c in range(D)] for r in range(T)]
layers = [
    {"name": "input", "op": "input", "shape": [T, F]},
    {"name": "proj", "op": "linear", "inputs": ["input"], "shape": [T, D], "weight": t([D, F]), "bias": t([D])},
    {"name": "pe", "op": "const", "shape": [T, D], "value": {"shape": [T, D], "data": [round(v, 6) for row in pe for v in row]}},
    {"name": "add_pe", "op": "add", "inputs": ["proj", "pe"], "shape": [T, D]},
    {"name": "q", "op": "linear", "inputs": ["add_pe"], "shape": [T, D], "weight": t([D, D]), "bias": t([D])},
    {"name": "k", "op": "linear", "inputs": ["add_pe"], "shape": [T, D], "weight": t([D, D]), "bias": t([D])},
    {"name": "v", "op": "linear", "inputs": ["add_pe"], "shape": [T, D], "weight": t([D, D]), "bias": t([D])},
    {"name": "scores", "op": "matmul", "inputs": ["q", "k"], "shape": [2 * T, T], "transpose_b": True, "scale": 1 / math.sqrt(D / 2), "heads": 2},
    {"name": "softmax", "op": "softmax", "inputs": ["scores"], "shape": [2 * T, T]},
    {"name": "ctx", "op": "matmul", "inputs": ["softmax", "v"], "shape": [T, D], "transpose_b": False, "heads": 2},
    {"name": "lo", "op": "split", "inputs": ["ctx"], "shape": [T, 2], "offset": 0, "width": 2},
    {"name": "hi", "op": "split", "inputs": ["ctx"], "shape": [T, 2], "offset": 2, "width": 2},
    {"name": "cat", "op": "concat", "inputs": ["hi", "lo"], "shape": [T, D]},
    {"name": "res", "op": "add", "inputs": ["add_pe", "cat"], "shape": [T, D]},
    {"name": "bn", "op": "affine", "inputs": ["res"], "shape": [T, D], "weight": t([D], 1.5), "bias": t([D])},
    {"name": "relu", "op": "relu", "inputs": ["bn"], "shape": [T, D]},
    {"name": "ln", "op": "layernorm", "inputs": ["relu"], "shape": [T, D], "weight": t2([D], 0.5, 1.0), "bias": t2([D]), "eps": 1e-5},
    {"name": "gelu", "op": "gelu", "inputs": ["ln"], "shape": [T, D], "approximate": "tanh"},
    {"name": "pool", "op": "avgpool", "inputs": ["gelu"], "shape": [1, D]},
    {"name": "head", "op": "linear", "inputs": ["pool"], "shape": [1, 1], "weight": t([1, D]), "bias": t([1])},
]
rows = 80
csv = ["step,a,b,note"]
vals = []
for i in range(rows):
    a = math.sin(i / 5) * 3 + random.uniform(-0.3, 0.3)
    b = math.cos(i / 7) * 2 + 10 + random.uniform(-0.3, 0.3)
    vals.append((a, b))
    csv.append(f"{i},{a:.4f},{b:.4f},\"row {i}\"")
ntrain = int(0.7 * rows)
def stats(k):
    xs = [float(f"{v[k]:.4f}") for v in vals[:ntrain]]
    m = sum(xs) / len(xs)
    return {"mean": m, "std": math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))}
doc = {
    "format": "mpqx-model", "version": 1, "name": "tiny", "task": "forecast",
    "input": {"window": T, "features": F}, "output": {"features": 1, "layer": "head"},
    "dataset": {"csv": "data.csv", "columns": ["a", "b"], "target": "a", "window": T, "horizon": 1,
                "split": {"train": 0.7, "calib": 0.1, "test": 0.2}},
    "normalization": {"method": "standard", "columns": {"a": stats(0), "b": stats(1)}},
    "layers": layers,
}
# one key or layer per line, so that tests can break a model with a plain text replacement
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
with open(os.path.join(here, "data.csv"), "w") as f:
    f.write("\n".join(csv) + "\n")
