#!/usr/bin/python3
"""mpqx_torch: train, export and verify the small time-series Transformers that mpqx quantizes.

The contract this module writes is doc/model-format.md (model.json and reference.json, version 1).
Run it with Debian's interpreter, which has torch and numpy: ``/usr/bin/python3 tools/mpqx_torch.py``.

Train a bundled sample
----------------------
Writes OUT/model.json, OUT/data.csv (a copy of --csv), OUT/reference.json and OUT/configs/::

    /usr/bin/python3 tools/mpqx_torch.py train --sample seattle-hourly \
        --csv node_modules/vega-datasets/data/seattle-weather-hourly-normals.csv --out samples/seattle-hourly
    /usr/bin/python3 tools/mpqx_torch.py train --sample seattle-daily \
        --csv node_modules/vega-datasets/data/seattle-weather.csv --out samples/seattle-daily

``--csv`` defaults to ``OUT/data.csv``, so re-training a committed sample needs only ``--sample`` and
``--out``.  Every preset value can be overridden (``--epochs``, ``--lr``, ``--weight-decay``, ``--seed``,
``--batch``, ``--noise-bits``, ...); without ``--sample``, ``--csv --columns a,b,c --target b --name NAME``
trains a model of your own (``--window``, ``--horizon``, ``--d-model``, ``--heads``, ``--ffn``,
``--layers``).  ``--checkpoint FILE.pt`` also saves the trained model.  ``--threads`` sets torch's CPU
threads (default 2; the results are the same with 1, which is much faster on a busy machine).  Seeds are
fixed, so a run is reproducible.

Export a model you trained yourself
-----------------------------------
The model must be this module's :class:`MpqxTransformer` (or have its state_dict keys and forward), trained
on windows normalised with the statistics of the train rows, as the doc requires::

    import sys; sys.path.insert(0, "tools")
    import torch, mpqx_torch as mt
    spec = mt.dataset_spec(["pressure", "temperature", "wind"], "temperature", window=24, horizon=1)
    data = mt.read_csv("my.csv", mt.used_columns(spec["columns"], spec["target"]))
    norm = mt.fit_normalization(data, spec["columns"], spec["target"])   # train rows only
    splits = mt.build_splits(data, spec, norm)     # {"train"|"calib"|"test": (X [N,W,F], y [N], last [N])}
    model = mt.MpqxTransformer(features=3, window=24, d_model=16, heads=1, ffn=64, layers=1)
    ...                                            # your training loop on splits["train"]
    torch.save(model.state_dict(), "my.pt")       # a plain state_dict, or self-describing:
    mt.save_checkpoint("my.pt", model, spec, norm)

then either from the shell::

    /usr/bin/python3 tools/mpqx_torch.py export --checkpoint my.pt --out samples/mine --csv my.csv \
        --columns pressure,temperature,wind --target temperature --heads 1 --name mine

or in Python, for the model.json alone::

    model = mt.model_from_state_dict(torch.load("my.pt"), heads=1)   # or build it and load_state_dict
    model.eval()
    mt.export(model, "samples/mine/model.json", "mine", spec, norm)

For a plain state_dict the architecture (features, window, d_model, ffn, layer count) comes from the tensor
shapes; only the number of heads cannot, so pass ``--heads`` (default 1).  A checkpoint from
``save_checkpoint`` / ``train --checkpoint`` carries everything and needs only ``--checkpoint``, ``--out``
and ``--csv``.  The export command recomputes the normalisation from the train rows of the CSV, writes
model.json, reference.json (the torch float predictions of every test window), copies the CSV to
OUT/data.csv and creates OUT/configs/.  It checks what it wrote: the numpy forward of model.json (this
module's own implementation of the doc's op table) must equal the torch eval forward to 1e-5 max abs on
every calib and test window, or it fails.  Train and export also print the test MSE of mpqx's uniform 8-bit
integer model, computed with tools/qref.py (doc/quantization.md), with activation ranges from the calib
windows (what mpqx does) and from train+calib.

Check a sample directory against its reference.json (numpy forward, no torch model needed)::

    /usr/bin/python3 tools/mpqx_torch.py verify samples/seattle-hourly

The model family (doc/model-format.md, "The Transformer family the exporter writes")
-----------------------------------------------------------------------------------
in_proj linear (features -> d_model per time step); sinusoidal positional encoding
PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d)) added; N encoder layers of
q/k/v linears, scores = Q K^T / sqrt(d_model/heads) per head, row softmax, ctx = P V (heads
concatenated), o linear, res1 = encoder input + o, BatchNorm1d over the d_model channels, ff1 (d -> ffn),
ReLU, ff2 (ffn -> d), res2 = bn1 + ff2, BatchNorm1d; then the mean over time and the head linear
(d_model -> outputs).  No LayerNorm.  Training-only extras that export ignores: dropout after o and ff2
(``--dropout``), and uniform noise of one 8-bit step at every activation (``--noise-bits 8``, NoiseHook),
which makes the float model tolerate mpqx's rounding better.
"""

import argparse
import csv
import json
import math
import os
import re
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpqx_import as mi  # noqa: E402  (beside this file)

FORMAT = "mpqx-model"
REFERENCE_FORMAT = "mpqx-reference"
VERSION = 1
VERIFY_TOL = 1e-5

# ---------------------------------------------------------------------------------------------------
# Sample presets.  Hyper-parameters are the ones the committed samples were trained with.

SAMPLES = {
    "seattle-hourly": {
        "name": "seattle-hourly",
        "source": "seattle-weather-hourly-normals.csv",
        "columns": ["pressure", "temperature", "wind"],
        "target": "temperature",
        "window": 24, "horizon": 1,
        "d_model": 16, "heads": 1, "ffn": 64, "layers": 1,
        "epochs": 150, "patience": 30, "batch": 64, "lr": 2e-3, "weight_decay": 1e-3,
        "dropout": 0.0, "noise_bits": 8, "seed": 1,
    },
    "seattle-daily": {
        "name": "seattle-daily",
        "source": "seattle-weather.csv",
        "columns": ["precipitation", "temp_max", "temp_min", "wind"],
        "target": "temp_max",
        "window": 24, "horizon": 1,
        "d_model": 32, "heads": 2, "ffn": 128, "layers": 1,
        "epochs": 150, "patience": 30, "batch": 32, "lr": 1e-3, "weight_decay": 1e-2,
        "dropout": 0.1, "noise_bits": 0, "seed": 1,
    },
}

SPLIT = {"train": 0.7, "calib": 0.1, "test": 0.2}


# ---------------------------------------------------------------------------------------------------
# The model family


def positional_encoding(window, d_model):
    """PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d)), t = 0 .. window-1."""
    pe = np.zeros((window, d_model), dtype=np.float64)
    t = np.arange(window, dtype=np.float64)[:, None]
    two_i = np.arange(0, d_model, 2, dtype=np.float64)[None, :]
    angle = t / np.power(10000.0, two_i / d_model)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe


class Hook:
    """Training-time callback at every activation point and weight of the forward (identity here).

    Names are the exported layer names (input, in_proj, pe, add_pe, enc0.q, ..., pool, head), so a hook
    can mimic what mpqx does to each layer.  model.hook = None (the default) is the plain float model."""

    def act(self, name, x):
        return x

    def weight(self, name, w):
        return w


class NoiseHook(Hook):
    """x + U(-s/2, s/2) with s = (batch max - batch min) / (2^bits - 1): tolerance to activation rounding."""

    def __init__(self, bits):
        self.bits = bits

    def act(self, name, x):
        if name == "head":  # the forecast itself: nothing downstream can learn to tolerate it
            return x
        lo, hi = x.detach().min().clamp(max=0), x.detach().max().clamp(min=0)
        return x + (torch.rand_like(x) - 0.5) * ((hi - lo) / (2 ** self.bits - 1))


def _linear(hook, name, lin, x):
    if hook is None:
        return lin(x)
    return hook.act(name, torch.nn.functional.linear(x, hook.weight(name, lin.weight), lin.bias))


def _bn(hook, name, bn, x):  # x [B, T, C]; BatchNorm1d over the C channels
    y = bn(x.transpose(1, 2)).transpose(1, 2)
    return y if hook is None else hook.act(name, y)


class EncoderLayer(nn.Module):
    def __init__(self, d_model, heads, ffn, dropout=0.0):
        super().__init__()
        if d_model % heads:
            raise ValueError("d_model %d is not a multiple of heads %d" % (d_model, heads))
        self.d_model, self.heads, self.dk = d_model, heads, d_model // heads
        self.scale = 1.0 / math.sqrt(self.dk)
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.o = nn.Linear(d_model, d_model)
        self.bn1 = nn.BatchNorm1d(d_model)
        self.ff1 = nn.Linear(d_model, ffn)
        self.ff2 = nn.Linear(ffn, d_model)
        self.bn2 = nn.BatchNorm1d(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, hook=None, prefix="enc0."):  # x [B, T, d]
        b, t, d = x.shape
        h, dk = self.heads, self.dk
        a = (lambda n, y: y) if hook is None else (lambda n, y: hook.act(prefix + n, y))
        q = _linear(hook, prefix + "q", self.q, x).view(b, t, h, dk).transpose(1, 2)  # [B, H, T, dk]
        k = _linear(hook, prefix + "k", self.k, x).view(b, t, h, dk).transpose(1, 2)
        v = _linear(hook, prefix + "v", self.v, x).view(b, t, h, dk).transpose(1, 2)
        scores = a("scores", torch.matmul(q, k.transpose(-1, -2)) * self.scale)  # [B, H, T, T]
        p = a("softmax", torch.softmax(scores, dim=-1))
        ctx = a("ctx", torch.matmul(p, v).transpose(1, 2).reshape(b, t, d))  # heads concatenated
        res1 = a("res1", x + self.drop(_linear(hook, prefix + "o", self.o, ctx)))
        bn1 = _bn(hook, prefix + "bn1", self.bn1, res1)
        relu = a("relu", torch.relu(_linear(hook, prefix + "ff1", self.ff1, bn1)))
        res2 = a("res2", bn1 + self.drop(_linear(hook, prefix + "ff2", self.ff2, relu)))
        return _bn(hook, prefix + "bn2", self.bn2, res2)


class MpqxTransformer(nn.Module):
    """The exportable family: MpqxTransformer(features, window, d_model, heads, ffn, layers, outputs).

    forward(x) takes normalised windows [B, window, features] and returns [B, outputs].  The attribute
    `hook` (a Hook, default None) is a training aid only; export() always writes the plain float model."""

    def __init__(self, features, window, d_model=16, heads=1, ffn=64, layers=1, outputs=1, dropout=0.0):
        super().__init__()
        self.features, self.window, self.d_model = features, window, d_model
        self.heads, self.ffn, self.n_layers, self.outputs = heads, ffn, layers, outputs
        self.in_proj = nn.Linear(features, d_model)
        self.register_buffer("pe", torch.tensor(positional_encoding(window, d_model), dtype=torch.float32))
        self.encoders = nn.ModuleList([EncoderLayer(d_model, heads, ffn, dropout) for _ in range(layers)])
        self.head = nn.Linear(d_model, outputs)
        self.hook = None

    def config(self):
        return {"features": self.features, "window": self.window, "d_model": self.d_model,
                "heads": self.heads, "ffn": self.ffn, "layers": self.n_layers, "outputs": self.outputs}

    def forward(self, x):
        hook = self.hook
        a = (lambda n, y: y) if hook is None else hook.act
        h = a("add_pe", _linear(hook, "in_proj", self.in_proj, a("input", x)) + a("pe", self.pe))
        for i, enc in enumerate(self.encoders):
            h = enc(h, hook, "enc%d." % i)
        return _linear(hook, "head", self.head, a("pool", h.mean(dim=1)))


def model_from_state_dict(state, heads=1):
    """Builds an MpqxTransformer whose shapes match a plain state_dict (heads cannot be inferred).

    Raises ValueError with the keys that do not fit: export takes MpqxTransformer state_dicts only."""
    hint = ("export takes MpqxTransformer state_dicts only; for a model of your own class use "
            "`mpqx_torch.py import --module FILE.py:CLASS` (doc/import.md)")
    for k in ("in_proj.weight", "pe", "head.weight"):
        if k not in state:
            raise ValueError("the state_dict has no %r; %s" % (k, hint))
    state = dict(state)
    if state["pe"].dim() == 3 and state["pe"].shape[0] == 1:  # a [1, W, d] positional buffer
        state["pe"] = state["pe"][0]
    d_model, features = state["in_proj.weight"].shape
    if state["pe"].dim() != 2 or state["pe"].shape[1] != d_model:
        raise ValueError("'pe' has shape %s; expected [window, %d] (or [1, window, %d])" % (
            tuple(state["pe"].shape), d_model, d_model))
    window = state["pe"].shape[0]
    layers = len({k.split(".")[1] for k in state if k.startswith("encoders.")})
    if layers and "encoders.0.ff1.weight" not in state:
        raise ValueError("the state_dict has no 'encoders.0.ff1.weight'; " + hint)
    ffn = state["encoders.0.ff1.weight"].shape[0] if layers else 1
    outputs = state["head.weight"].shape[0]
    if d_model % heads:
        raise ValueError("--heads %d does not divide d_model %d" % (heads, d_model))
    model = MpqxTransformer(features, window, d_model, heads, ffn, layers, outputs)
    try:
        mi.load_weights(model, state, "the state_dict", "an MpqxTransformer of the shapes it implies")
    except mi.ImportError_ as e:
        raise ValueError("%s\n%s" % (e, hint))
    return model


def save_checkpoint(path, model, dataset, normalization, extra=None):
    """Self-describing checkpoint: architecture, state_dict, dataset spec and normalisation."""
    torch.save({"format": "mpqx-torch-checkpoint", "config": model.config(), "state_dict": model.state_dict(),
                "dataset": dataset, "normalization": normalization, "extra": extra or {}}, path)


# ---------------------------------------------------------------------------------------------------
# Data: CSV, split, normalisation, windows (doc/model-format.md "Dataset", "Normalisation")


def read_csv(path, columns):
    """Returns {column: float64 array} for the named columns; every cell must be a finite number."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if r]
    out = {}
    for c in columns:
        if c not in header:
            raise ValueError("%s: no column %r (header: %s)" % (path, c, ",".join(header)))
        j = header.index(c)
        vals = np.array([float(r[j]) for r in body], dtype=np.float64)
        if not np.all(np.isfinite(vals)):
            raise ValueError("%s: column %r has a non-finite value" % (path, c))
        out[c] = vals
    return out


def split_bounds(n, split=SPLIT):
    """Row ranges [(lo, hi)] of train, calib, test exactly as the doc computes them."""
    a = int(math.floor(split["train"] * n + 1e-9))
    b = int(math.floor((split["train"] + split["calib"]) * n + 1e-9))
    return {"train": (0, a), "calib": (a, b), "test": (b, n)}


def used_columns(columns, target):
    return list(columns) + ([target] if target not in columns else [])


def fit_normalization(data, columns, target, split=SPLIT):
    """Standard normalisation fitted on the train rows only (population std, ddof=0)."""
    n = len(data[target])
    lo, hi = split_bounds(n, split)["train"]
    cols = {}
    for c in used_columns(columns, target):
        x = data[c][lo:hi]
        std = float(np.std(x))
        if not std > 0:
            raise ValueError("column %r is constant on the train rows" % c)
        cols[c] = {"mean": float(np.mean(x)), "std": std}
    return {"method": "standard", "columns": cols}


def normalize(data, normalization):
    return {c: (data[c] - s["mean"]) / s["std"] for c, s in normalization["columns"].items()}


def make_windows(norm_data, columns, target, window, horizon, lo, hi):
    """Windows inside rows [lo, hi): inputs rows i..i+W-1, target row i+W-1+H, all inside the part.

    Returns X [N, W, F], y [N], last [N] (last observed target value: the persistence forecast)."""
    feats = np.stack([norm_data[c] for c in columns], axis=1)
    tgt = norm_data[target]
    starts = np.arange(lo, hi - (window - 1 + horizon))
    if len(starts) == 0:
        return np.zeros((0, window, len(columns))), np.zeros(0), np.zeros(0)
    x = np.stack([feats[i:i + window] for i in starts])
    y = tgt[starts + window - 1 + horizon]
    last = tgt[starts + window - 1]
    return x, y, last


def build_splits(data, dataset, normalization):
    nd = normalize(data, normalization)
    n = len(nd[dataset["target"]])
    out = {}
    for part, (lo, hi) in split_bounds(n, dataset["split"]).items():
        out[part] = make_windows(nd, dataset["columns"], dataset["target"], dataset["window"],
                                 dataset["horizon"], lo, hi)
    return out


# ---------------------------------------------------------------------------------------------------
# Export


def _tensor(arr, shape):
    arr = np.asarray(arr, dtype=np.float64).reshape(-1)
    if arr.size != int(np.prod(shape)):
        raise ValueError("tensor size %d does not match shape %s" % (arr.size, shape))
    if not np.all(np.isfinite(arr)):
        raise ValueError("non-finite value in exported tensor")
    return {"shape": list(shape), "data": [float(v) for v in arr]}


def _np(t):
    return t.detach().cpu().numpy().astype(np.float64)


def _ex_linear(name, inp, lin, rows):
    w, b = _np(lin.weight), _np(lin.bias)
    return {"name": name, "op": "linear", "inputs": [inp], "shape": [rows, w.shape[0]],
            "weight": _tensor(w, w.shape), "bias": _tensor(b, [w.shape[0]])}


def _ex_affine(name, inp, bn, rows):
    gamma, beta = _np(bn.weight), _np(bn.bias)
    mean, var = _np(bn.running_mean), _np(bn.running_var)
    w = gamma / np.sqrt(var + bn.eps)
    b = beta - mean * w
    return {"name": name, "op": "affine", "inputs": [inp], "shape": [rows, len(w)],
            "weight": _tensor(w, [len(w)]), "bias": _tensor(b, [len(w)])}


def model_layers(model):
    """The layer list of doc/model-format.md for an MpqxTransformer (eval statistics)."""
    t, d, f = model.window, model.d_model, model.features
    L = [{"name": "input", "op": "input", "shape": [t, f]},
         _ex_linear("in_proj", "input", model.in_proj, t),
         {"name": "pe", "op": "const", "shape": [t, d], "value": _tensor(_np(model.pe), [t, d])},
         {"name": "add_pe", "op": "add", "inputs": ["in_proj", "pe"], "shape": [t, d]}]
    prev = "add_pe"
    for i, enc in enumerate(model.encoders):
        p, h = "enc%d." % i, enc.heads
        L += [_ex_linear(p + "q", prev, enc.q, t), _ex_linear(p + "k", prev, enc.k, t),
              _ex_linear(p + "v", prev, enc.v, t),
              {"name": p + "scores", "op": "matmul", "inputs": [p + "q", p + "k"], "shape": [h * t, t],
               "transpose_b": True, "scale": 1.0 / math.sqrt(d // h), "heads": h},
              {"name": p + "softmax", "op": "softmax", "inputs": [p + "scores"], "shape": [h * t, t]},
              {"name": p + "ctx", "op": "matmul", "inputs": [p + "softmax", p + "v"], "shape": [t, d],
               "transpose_b": False, "scale": 1.0, "heads": h},
              _ex_linear(p + "o", p + "ctx", enc.o, t),
              {"name": p + "res1", "op": "add", "inputs": [prev, p + "o"], "shape": [t, d]},
              _ex_affine(p + "bn1", p + "res1", enc.bn1, t),
              _ex_linear(p + "ff1", p + "bn1", enc.ff1, t),
              {"name": p + "relu", "op": "relu", "inputs": [p + "ff1"], "shape": [t, enc.ff1.out_features]},
              _ex_linear(p + "ff2", p + "relu", enc.ff2, t),
              {"name": p + "res2", "op": "add", "inputs": [p + "bn1", p + "ff2"], "shape": [t, d]},
              _ex_affine(p + "bn2", p + "res2", enc.bn2, t)]
        prev = p + "bn2"
    L += [{"name": "pool", "op": "avgpool", "inputs": [prev], "shape": [1, d]},
          _ex_linear("head", "pool", model.head, 1)]
    return L


def model_document(model, name, dataset, normalization):
    return {
        "format": FORMAT, "version": VERSION, "name": name, "task": "forecast",
        "input": {"window": model.window, "features": model.features},
        "output": {"features": model.outputs, "layer": "head"},
        "dataset": dataset,
        "normalization": normalization,
        "layers": model_layers(model),
    }


def _dump(obj, indent=0):
    """JSON with objects indented and number lists on one line; floats as repr (round-trip exact)."""
    pad, pad1 = "  " * indent, "  " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        if all(not isinstance(v, (dict, list)) or (isinstance(v, list) and len(v) <= 4 and
               all(not isinstance(x, (dict, list)) for x in v)) for v in obj.values()) and len(obj) <= 4:
            return "{ " + ", ".join(json.dumps(k) + ": " + _dump(v) for k, v in obj.items()) + " }"
        items = [pad1 + json.dumps(k) + ": " + _dump(v, indent + 1) for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(not isinstance(x, (dict, list)) for x in obj):
            return "[" + ", ".join(_dump(x) for x in obj) + "]"
        return "[\n" + ",\n".join(pad1 + _dump(x, indent + 1) for x in obj) + "\n" + pad + "]"
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError("non-finite number in JSON output")
        return repr(obj)
    return json.dumps(obj)


def write_json(path, doc):
    text = _dump(doc) + "\n"
    json.loads(text)  # sanity: the writer produced valid JSON
    with open(path, "w") as f:
        f.write(text)


def export(model, path, name, dataset, normalization):
    """Writes model.json for an MpqxTransformer in eval mode; returns the document written."""
    model.eval()
    doc = model_document(model, name, dataset, normalization)
    write_json(path, doc)
    return doc


# ---------------------------------------------------------------------------------------------------
# Pure-numpy graph forward and checks (doc/model-format.md "Layers")

NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _arr(t):
    return np.asarray(t["data"], dtype=np.float64).reshape(t["shape"])


def check_model(doc):
    """Validates a model document the way the loader does; returns {name: shape}. Raises ValueError."""
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise ValueError("format/version")
    shapes, n_inputs = {}, 0
    for li, l in enumerate(doc["layers"]):
        where = "layers[%d] (%s)" % (li, l.get("name"))
        name, op, shape = l["name"], l["op"], list(l["shape"])
        if not NAME_RE.match(name) or name in shapes:
            raise ValueError(where + ": bad or duplicate name")
        ins = l.get("inputs") or []
        for i in ins:
            if i not in shapes:
                raise ValueError(where + ": input %r is not an earlier layer" % i)
        s = [shapes[i] for i in ins]
        for key in ("weight", "bias", "value"):
            if key in l:
                t = l[key]
                if len(t["data"]) != int(np.prod(t["shape"])) or not np.all(np.isfinite(t["data"])):
                    raise ValueError(where + ": bad tensor " + key)
        if op == "input":
            n_inputs += 1
            exp = [doc["input"]["window"], doc["input"]["features"]]
        elif op == "const":
            exp = list(l["value"]["shape"])
        elif op == "linear":
            o, i_ = l["weight"]["shape"]
            if s[0][1] != i_ or l["bias"]["shape"] != [o]:
                raise ValueError(where + ": linear shapes")
            exp = [s[0][0], o]
        elif op == "add":
            if len(s) != 2 or s[0] != s[1]:
                raise ValueError(where + ": add shapes")
            exp = s[0]
        elif op == "matmul":
            h = int(l.get("heads", 1))
            (m, ka), (nb, kb) = s
            if l["transpose_b"]:
                if ka != kb or ka % h:
                    raise ValueError(where + ": matmul shapes")
                exp = [h * m, nb]
            else:
                if ka != nb or m % h or kb % h:
                    raise ValueError(where + ": matmul shapes")
                exp = [m // h, kb]
        elif op in ("softmax", "relu", "gelu"):
            exp = s[0]
        elif op == "layernorm":
            c = s[0][1]
            if l["weight"]["shape"] != [c] or l["bias"]["shape"] != [c]:
                raise ValueError(where + ": layernorm shapes")
            exp = s[0]
        elif op == "affine":
            c = s[0][1]
            if l["weight"]["shape"] != [c] or l["bias"]["shape"] != [c]:
                raise ValueError(where + ": affine shapes")
            exp = s[0]
        elif op == "avgpool":
            exp = [1, s[0][1]]
        elif op == "split":
            if l["offset"] < 0 or l["offset"] + l["width"] > s[0][1]:
                raise ValueError(where + ": split range")
            exp = [s[0][0], l["width"]]
        elif op == "concat":
            if len({x[0] for x in s}) != 1:
                raise ValueError(where + ": concat rows")
            exp = [s[0][0], sum(x[1] for x in s)]
        else:
            raise ValueError(where + ": unknown op " + op)
        if shape != exp:
            raise ValueError(where + ": shape %s, expected %s" % (shape, exp))
        shapes[name] = shape
    if n_inputs != 1:
        raise ValueError("exactly one input layer expected")
    out = doc["output"].get("layer", doc["layers"][-1]["name"])
    if shapes[out] != [1, doc["output"]["features"]]:
        raise ValueError("output layer shape")
    return shapes


def numpy_forward(doc, x, return_all=False, hook=None):
    """Runs the graph on a batch of normalised windows x [B, window, features] in float64.

    Semantics per op exactly as the doc's table; hook(layer, value) may replace each layer's output
    (used for calibration ranges).  Returns the output layer's value [B, 1, outputs] (or all values)."""
    x = np.asarray(x, dtype=np.float64)
    vals = {}
    for l in doc["layers"]:
        op = l["op"]
        a = [vals[i] for i in (l.get("inputs") or [])]
        if op == "input":
            y = x
        elif op == "const":
            y = np.broadcast_to(_arr(l["value"]), (x.shape[0],) + tuple(l["value"]["shape"]))
        elif op == "linear":
            y = np.einsum("bri,oi->bro", a[0], _arr(l["weight"])) + _arr(l["bias"])
        elif op == "add":
            y = a[0] + a[1]
        elif op == "matmul":
            h, sc = int(l.get("heads", 1)), float(l.get("scale", 1.0))
            A, B = a
            if l["transpose_b"]:
                k = A.shape[2] // h
                # out[h*M + m, n] = scale * sum_k a[m, h*K + k] * b[n, h*K + k]
                y = np.concatenate([sc * np.einsum("bmk,bnk->bmn", A[:, :, j * k:(j + 1) * k],
                                                   B[:, :, j * k:(j + 1) * k]) for j in range(h)], axis=1)
            else:
                m, nn_ = A.shape[1] // h, B.shape[2] // h
                # out[m, h*N + n] = scale * sum_k a[h*M + m, k] * b[k, h*N + n]
                y = np.concatenate([sc * np.einsum("bmk,bkn->bmn", A[:, j * m:(j + 1) * m, :],
                                                   B[:, :, j * nn_:(j + 1) * nn_]) for j in range(h)], axis=2)
        elif op == "softmax":
            e = np.exp(a[0] - a[0].max(axis=2, keepdims=True))
            y = e / e.sum(axis=2, keepdims=True)
        elif op == "affine":
            y = a[0] * _arr(l["weight"]) + _arr(l["bias"])
        elif op == "relu":
            y = np.maximum(a[0], 0.0)
        elif op == "avgpool":
            y = a[0].mean(axis=1, keepdims=True)
        elif op == "split":
            y = a[0][:, :, l["offset"]:l["offset"] + l["width"]]
        elif op == "concat":
            y = np.concatenate(a, axis=2)
        elif op == "layernorm":
            mu = a[0].mean(axis=2, keepdims=True)
            var = ((a[0] - mu) ** 2).mean(axis=2, keepdims=True)
            y = (a[0] - mu) / np.sqrt(var + float(l.get("eps", 1e-5))) * _arr(l["weight"]) + _arr(l["bias"])
        elif op == "gelu":
            v = a[0]
            if l.get("approximate", "none") == "tanh":
                y = 0.5 * v * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v ** 3)))
            else:
                from math import erf
                y = 0.5 * v * (1.0 + np.vectorize(erf)(v / math.sqrt(2.0)))
        else:
            raise ValueError("unknown op " + op)
        if hook is not None:
            y = hook(l, y)
        vals[l["name"]] = y
    if return_all:
        return vals
    return vals[doc["output"].get("layer", doc["layers"][-1]["name"])]


def torch_predict(model, x, batch=512):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.tensor(x[i:i + batch], dtype=torch.float32)).numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros((0, model.outputs))


def verify_export(doc, model, x):
    """Asserts numpy graph forward == torch eval forward to VERIFY_TOL on every window of x."""
    check_model(doc)
    ref = torch_predict(model, x)
    got = numpy_forward(doc, x)[:, 0, :]
    err = float(np.max(np.abs(ref - got))) if len(x) else 0.0
    assert err <= VERIFY_TOL, "numpy forward differs from torch by %.3g (> %g)" % (err, VERIFY_TOL)
    return err


CALIB_HEADROOM = 0.05  # doc/quantization.md: widening of the calibration ranges


def calibration_ranges(doc, x, headroom=CALIB_HEADROOM):
    """(lo, hi) of every layer's float output over windows x, widened as doc/quantization.md says: by
    headroom * (hi - lo) on each side that is not zero."""
    ranges = {}
    for k, v in numpy_forward(doc, x, return_all=True).items():
        lo, hi = float(v.min()), float(v.max())
        w = hi - lo
        ranges[k] = (lo - headroom * w if lo < 0 else lo, hi + headroom * w if hi > 0 else hi)
    return ranges


def quant_check(model_path, sp, log=print, bits=8):
    """Test MSE of mpqx's uniform `bits` integer model, through tools/qref.py (doc/quantization.md), with
    activation ranges calibrated as mpqx does (every train and calib window, 5% headroom).  An estimate
    for a quick look (the float64 ranges may differ from mpqx's float32 ones in the last bits); `mpqx eval`
    is the authority.  Returns {"float": mse, "integer": mse}, or {} when qref.py cannot be imported."""
    try:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import qref
    except Exception as e:  # qref.py sits beside this file in the repository
        log("uniform %d-bit check skipped: %s" % (bits, e))
        return {}
    with open(model_path) as f:
        doc = json.load(f)
    m = qref.load_model(model_path)
    xte, yte, _ = qref.windows(m, 2)  # float32 inputs and targets, as mpqx reads them
    yte = yte.astype(np.float64)
    xcal = np.concatenate([qref.windows(m, 0)[0], qref.windows(m, 1)[0]]).astype(np.float64)
    q = qref.build(m, [(bits, bits)] * len(m["layers"]), calibration_ranges(doc, xcal))
    res, clamps = qref.forward(m, q, xte)
    o = m["index"][m["output"]]
    pred = q[o].s * (res[o].reshape(len(xte), -1).astype(np.float64) - q[o].z)
    fm = float(np.mean((numpy_forward(doc, xte.astype(np.float64))[:, 0, 0] - yte) ** 2))
    im = float(np.mean((pred[:, 0] - yte) ** 2))
    log("uniform %d-bit integer model (qref, mpqx's calibration): test mse %.6f, %+.1f%% vs float %.6f; "
        "%d clamped values" % (bits, im, 100 * (im / fm - 1), fm, sum(clamps)))
    return {"float": fm, "integer": im}


# ---------------------------------------------------------------------------------------------------
# Training


def set_seed(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


def evaluate_mse(model, x, y):
    """MSE of the plain float model (any training hook is switched off for the evaluation)."""
    if not isinstance(model, MpqxTransformer):  # a user's module (train --module): no hook
        model.eval()
        return float(np.mean((_predict(model, x)[:, 0] - y) ** 2))
    hook, model.hook = model.hook, None
    try:
        p = torch_predict(model, x)[:, 0]
    finally:
        model.hook = hook
    return float(np.mean((p - y) ** 2))


def train_model(cfg, splits, log=print, factory=None):
    """Trains an MpqxTransformer (or the module factory() builds) with AdamW on MSE, early stopping on the
    calib windows."""
    set_seed(cfg["seed"])
    xtr, ytr, _ = splits["train"]
    xca, yca, _ = splits["calib"]
    if factory is not None:
        model = factory()
    else:
        model = MpqxTransformer(xtr.shape[2], cfg["window"], cfg["d_model"], cfg["heads"], cfg["ffn"],
                                cfg["layers"], 1, cfg.get("dropout", 0.0))
        if cfg.get("noise_bits"):
            model.hook = NoiseHook(cfg["noise_bits"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["epochs"], eta_min=cfg["lr"] * 0.02)
    xt = torch.tensor(xtr, dtype=torch.float32)
    yt = torch.tensor(ytr, dtype=torch.float32)[:, None]
    gen = torch.Generator().manual_seed(cfg["seed"])
    best, best_state, best_epoch, stale = float("inf"), None, -1, 0
    for epoch in range(cfg["epochs"]):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), cfg["batch"]):
            idx = perm[i:i + cfg["batch"]]
            if len(idx) < 2:
                continue  # BatchNorm needs more than one sample
            opt.zero_grad()
            loss = torch.mean((model(xt[idx]).reshape(len(idx), -1) - yt[idx]) ** 2)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += float(loss) * len(idx)
        sched.step()
        cal = evaluate_mse(model, xca, yca)
        if cal < best:
            best, best_epoch, stale = cal, epoch, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if epoch % 10 == 0 or epoch == cfg["epochs"] - 1:
            log("epoch %3d  train %.5f  calib %.5f  best %.5f@%d" % (epoch, total / len(xt), cal, best, best_epoch))
        if stale >= cfg["patience"]:
            log("early stop at epoch %d (best calib %.5f at epoch %d)" % (epoch, best, best_epoch))
            break
    model.load_state_dict(best_state)
    if factory is None:
        model.hook = None
    model.eval()
    return model, {"best_calib_mse": best, "best_epoch": best_epoch}


# ---------------------------------------------------------------------------------------------------
# Writing a sample directory


def write_reference(path, y, pred, last):
    doc = {"format": REFERENCE_FORMAT, "version": VERSION, "model": "model.json", "split": "test",
           "windows": int(len(y)), "outputs": 1,
           "targets": [float(v) for v in y], "predictions": [float(v) for v in pred],
           "mse": float(np.mean((pred - y) ** 2)), "persistence_mse": float(np.mean((last - y) ** 2))}
    write_json(path, doc)
    return doc


def write_sample(out, model, name, dataset, normalization, csv_src, splits, log=print):
    """model.json + reference.json + data.csv + configs/ in out; verifies the export. Returns a summary."""
    configs = os.path.join(out, "configs")
    os.makedirs(configs, exist_ok=True)
    if not os.listdir(configs):
        open(os.path.join(configs, ".gitkeep"), "w").close()  # keeps the empty directory in git
    dst = os.path.join(out, "data.csv")
    if os.path.abspath(csv_src) != os.path.abspath(dst):
        shutil.copyfile(csv_src, dst)
    mpath = os.path.join(out, "model.json")
    export(model, mpath, name, dataset, normalization)
    with open(mpath) as f:
        doc = json.load(f)  # verify what is on disk, not what is in memory
    # the windows the C side will cut: re-read data.csv with the stored statistics
    data = read_csv(dst, used_columns(dataset["columns"], dataset["target"]))
    sp = build_splits(data, doc["dataset"], doc["normalization"])
    errs = {part: verify_export(doc, model, sp[part][0]) for part in ("calib", "test")}
    xte, yte, lte = sp["test"]
    pred = torch_predict(model, xte)[:, 0]
    ref = write_reference(os.path.join(out, "reference.json"), yte, pred, lte)
    qmse = quant_check(mpath, sp, log)
    summary = {"test_windows": ref["windows"], "mse": ref["mse"], "persistence_mse": ref["persistence_mse"],
               "max_abs_numpy_vs_torch": max(errs.values()), "uniform8": qmse,
               "model_json_bytes": os.path.getsize(mpath),
               "unit_rmse": math.sqrt(ref["mse"]) * normalization["columns"][dataset["target"]]["std"]}
    log("test windows %d  mse %.6f  persistence %.6f  numpy-vs-torch %.2g  model.json %d bytes" % (
        ref["windows"], ref["mse"], ref["persistence_mse"], summary["max_abs_numpy_vs_torch"],
        summary["model_json_bytes"]))
    return summary


def dataset_spec(columns, target, window, horizon):
    return {"csv": "data.csv", "columns": list(columns), "target": target, "window": int(window),
            "horizon": int(horizon), "split": dict(SPLIT)}


# ---------------------------------------------------------------------------------------------------
# CLI

ARCH_KEYS = ("d_model", "heads", "ffn", "layers")
TRAIN_KEYS = ("epochs", "patience", "batch", "lr", "weight_decay", "dropout", "noise_bits", "seed")


def cmd_train(args):
    cfg = dict(SAMPLES[args.sample]) if args.sample else {
        "name": None, "source": None, "columns": None, "target": None, "window": 24, "horizon": 1,
        "d_model": 16, "heads": 1, "ffn": 64, "layers": 1, "epochs": 150, "patience": 30, "batch": 64,
        "lr": 2e-3, "weight_decay": 1e-3, "dropout": 0.0, "noise_bits": 0, "seed": 1}
    for k in ("name", "target", "window", "horizon") + ARCH_KEYS + TRAIN_KEYS:
        v = getattr(args, k, None)
        if v is not None:
            cfg[k] = v
    if args.columns:
        cfg["columns"] = args.columns.split(",")
    if not cfg["name"] or not cfg["columns"] or not cfg["target"]:
        sys.exit("train: give --sample, or --name, --columns and --target")
    out = args.out
    os.makedirs(out, exist_ok=True)
    src = args.csv or os.path.join(out, "data.csv")
    if not os.path.exists(src):
        sys.exit("train: no CSV %s; pass --csv (the sample's source is %s from the npm package "
                 "vega-datasets 3.2.1, data/%s)" % (src, cfg["source"], cfg["source"]))
    dataset = dataset_spec(cfg["columns"], cfg["target"], cfg["window"], cfg["horizon"])
    data = read_csv(src, used_columns(dataset["columns"], dataset["target"]))
    norm = fit_normalization(data, dataset["columns"], dataset["target"], dataset["split"])
    splits = build_splits(data, dataset, norm)
    print("%s: %s -> %s, windows train %d calib %d test %d" % (
        cfg["name"], ",".join(dataset["columns"]), dataset["target"], len(splits["train"][1]),
        len(splits["calib"][1]), len(splits["test"][1])))
    factory = None
    if args.module:  # a user's own module, trained by the same loop and brought in by the importer
        try:
            cls = mi.load_class(args.module)
            kwargs = json.loads(args.kwargs) if args.kwargs else {}
            factory = lambda: cls(**kwargs)  # noqa: E731
            factory()
        except (mi.ImportError_, ValueError, TypeError) as e:
            print("train: %s" % e, file=sys.stderr)
            sys.exit(1)
    t0 = time.time()
    model, info = train_model(cfg, splits, factory=factory)
    dt = time.time() - t0
    if factory is not None:
        try:
            summary = import_model(model, cfg["name"], dataset, src, out, module_desc=args.module)
        except mi.ImportError_ as e:
            print("train: %s" % e, file=sys.stderr)
            sys.exit(1)
        if args.checkpoint:
            torch.save({"model_state_dict": model.state_dict(), "dataset": dataset, "normalization": norm},
                       args.checkpoint)
        summary.update(info)
        summary["train_seconds"] = round(dt, 1)
        print(json.dumps(summary, indent=1))
        return
    summary = write_sample(out, model, cfg["name"], dataset, norm, src, splits)
    summary.update(info)
    summary["train_seconds"] = round(dt, 1)
    summary["config"] = {k: cfg[k] for k in ("window", "horizon") + ARCH_KEYS + TRAIN_KEYS}
    if args.checkpoint:
        save_checkpoint(args.checkpoint, model, dataset, norm, summary)
    print(json.dumps(summary, indent=1))
    if summary["mse"] >= summary["persistence_mse"]:
        print("warning: test mse %.6f does not beat persistence %.6f" % (summary["mse"], summary["persistence_mse"]))


def cmd_export(args):
    set_seed(0)
    ck = torch.load(args.checkpoint, map_location="cpu")
    dataset, norm = None, None
    if isinstance(ck, dict) and ck.get("format") == "mpqx-torch-checkpoint":
        c = ck["config"]
        model = MpqxTransformer(c["features"], c["window"], c["d_model"], c["heads"], c["ffn"], c["layers"],
                                c["outputs"])
        model.load_state_dict(ck["state_dict"])
        dataset = ck.get("dataset")
    else:
        if not args.heads:
            sys.exit("export: a plain state_dict does not say how many heads the model has: pass --heads "
                     "(a wrong count exports a different model that still runs), or use `import --module` "
                     "with your own class, which checks against it (doc/import.md)")
        try:
            model = model_from_state_dict(mi.state_dict_of(ck, args.checkpoint), heads=args.heads)
        except (ValueError, mi.ImportError_) as e:
            print("export: %s: %s" % (args.checkpoint, e), file=sys.stderr)
            sys.exit(1)
    model.eval()
    if args.columns or dataset is None:
        if not (args.columns and args.target):
            sys.exit("export: give --columns and --target (the checkpoint does not name them)")
        dataset = dataset_spec(args.columns.split(","), args.target, args.window or model.window,
                               args.horizon or 1)
    if dataset["window"] != model.window or len(dataset["columns"]) != model.features:
        sys.exit("export: dataset window/columns (%d, %d) do not match the model (%d, %d)" % (
            dataset["window"], len(dataset["columns"]), model.window, model.features))
    src = args.csv or os.path.join(args.out, "data.csv")
    if not os.path.exists(src):
        sys.exit("export: no CSV %s; pass --csv" % src)
    os.makedirs(args.out, exist_ok=True)
    data = read_csv(src, used_columns(dataset["columns"], dataset["target"]))
    norm = fit_normalization(data, dataset["columns"], dataset["target"], dataset["split"])
    if isinstance(ck, dict) and ck.get("normalization"):
        for c, s in ck["normalization"]["columns"].items():
            mine = norm["columns"].get(c)
            if mine and (abs(mine["mean"] - s["mean"]) > 1e-9 * max(1, abs(s["mean"])) or
                         abs(mine["std"] - s["std"]) > 1e-9 * max(1, s["std"])):
                print("warning: column %r: checkpoint normalisation differs from the train rows of %s" % (c, src))
    splits = build_splits(data, dataset, norm)
    name = args.name or os.path.basename(os.path.normpath(args.out))
    summary = write_sample(args.out, model, name, dataset, norm, src, splits)
    print(json.dumps(summary, indent=1))
    if summary["mse"] >= summary["persistence_mse"]:
        print("warning: the exported model's test mse %.6f does not beat persistence %.6f: if it was trained "
              "as another class or with another --heads, export rebuilt a different model; import it with "
              "`import --module` instead" % (summary["mse"], summary["persistence_mse"]), file=sys.stderr)


def cmd_verify(args):
    d = args.dir
    mpath = d if d.endswith(".json") else os.path.join(d, "model.json")
    d = os.path.dirname(mpath)
    with open(mpath) as f:
        doc = json.load(f)
    check_model(doc)
    ds = doc["dataset"]
    data = read_csv(os.path.join(d, ds["csv"]), used_columns(ds["columns"], ds["target"]))
    sp = build_splits(data, ds, doc["normalization"])
    xte, yte, lte = sp["test"]
    got = numpy_forward(doc, xte)[:, 0, 0]
    rpath = os.path.join(d, "reference.json")
    with open(rpath) as f:
        ref = json.load(f)
    assert ref["windows"] == len(yte), "reference has %d windows, data gives %d" % (ref["windows"], len(yte))
    terr = float(np.max(np.abs(np.array(ref["targets"]) - yte)))
    perr = float(np.max(np.abs(np.array(ref["predictions"]) - got)))
    mse = float(np.mean((got - yte) ** 2))
    print("%s: %d test windows; targets max diff %.2g; numpy forward vs reference predictions max diff %.2g; "
          "mse %.6f (reference %.6f) persistence %.6f" % (
              mpath, len(yte), terr, perr, mse, ref["mse"], ref["persistence_mse"]))
    quant_check(mpath, sp)
    if terr > 1e-9 or perr > VERIFY_TOL:
        sys.exit("verify: mismatch")


def _predict(model, x, batch=512):
    """Float predictions of any module on normalised windows x [N, W, F] -> [N, outputs]."""
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            y = model(torch.tensor(x[i:i + batch], dtype=torch.float32))
            out.append(y.reshape(y.shape[0], -1).numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros((0, 1))


def _write_sample_dir(out, files, csv_src):
    """Writes the sample files into out through a temporary directory beside it; an existing out is
    replaced file by file only when it is empty or already a sample (has model.json); configs/ is kept."""
    out = os.path.abspath(out)
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise mi.ImportError_("--out %s exists and is not a directory" % out)
        if os.listdir(out) and not os.path.exists(os.path.join(out, "model.json")):
            raise mi.ImportError_("--out %s is not empty and holds no model.json; refusing to write into it" % out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    import tempfile
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".", dir=parent)
    try:
        for name, doc in files.items():
            write_json(os.path.join(tmp, name), doc)
        shutil.copyfile(csv_src, os.path.join(tmp, "data.csv"))
        if not os.path.exists(out):
            os.makedirs(os.path.join(tmp, "configs"))
            open(os.path.join(tmp, "configs", ".gitkeep"), "w").close()
            os.rename(tmp, out)
            return
        os.makedirs(os.path.join(out, "configs"), exist_ok=True)
        for name in list(files) + ["data.csv"]:
            src, dst = os.path.join(tmp, name), os.path.join(out, name)
            if os.path.abspath(csv_src) == dst and name == "data.csv":
                continue
            os.replace(src, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def import_model(model, name, dataset, csv_src, out, log=print, module_desc="the module"):
    """Traces model (eval mode), maps it to model.json, checks the float forward of what it would write
    against the module itself on every calib and test window, then writes the sample directory out.
    Raises mpqx_import.ImportError_ (nothing written) on any failure.  Returns a summary dict."""
    model.eval()
    data = read_csv(csv_src, used_columns(dataset["columns"], dataset["target"]))
    norm = fit_normalization(data, dataset["columns"], dataset["target"], dataset["split"])
    sp = build_splits(data, dataset, norm)
    xca, xte = sp["calib"][0], sp["test"][0]
    if len(xca) < 2 or len(xte) < 1:
        raise mi.ImportError_("%s: too few rows for windows of %d in the calib and test parts" % (
            csv_src, dataset["window"]))
    try:
        pcal = _predict(model, xca[:2])
    except Exception as e:
        raise mi.ImportError_("%s does not run on windows [batch, %d, %d]: %s: %s" % (
            module_desc, dataset["window"], len(dataset["columns"]), type(e).__name__, e))
    if pcal.shape[1] != 1:
        raise mi.ImportError_("%s forecasts %d values per window; mpqx forecasts one target column" % (
            module_desc, pcal.shape[1]))
    gm, layers, out_layer, dropped, n_out = mi.trace_model(model, dataset["window"], len(dataset["columns"]),
                                                           xca[:2])
    doc = {"format": FORMAT, "version": VERSION, "name": name, "task": "forecast",
           "input": {"window": dataset["window"], "features": len(dataset["columns"])},
           "output": {"features": n_out, "layer": out_layer},
           "dataset": dataset, "normalization": norm, "layers": mi.layers_json(layers)}
    doc = json.loads(_dump(doc))  # exactly what will be on disk
    try:
        check_model(doc)
    except (ValueError, KeyError) as e:
        raise mi.ImportError_("internal: the mapped graph does not validate: %s" % e)
    errs = {}
    for part in ("calib", "test"):
        x = sp[part][0]
        ref = _predict(model, x)
        got = numpy_forward(doc, x)[:, 0, :]
        errs[part] = float(np.max(np.abs(ref - got)))
        if not errs[part] <= VERIFY_TOL:
            raise mi.ImportError_("the mapped graph's float forward differs from %s by %.3g on the %s windows "
                                  "(more than %g); nothing written" % (module_desc, errs[part], part, VERIFY_TOL))
    yte, lte = sp["test"][1], sp["test"][2]
    pred = _predict(model, xte)[:, 0]
    refdoc = {"format": REFERENCE_FORMAT, "version": VERSION, "model": "model.json", "split": "test",
              "windows": int(len(yte)), "outputs": 1,
              "targets": [float(v) for v in yte], "predictions": [float(v) for v in pred],
              "mse": float(np.mean((pred - yte) ** 2)), "persistence_mse": float(np.mean((lte - yte) ** 2))}
    _write_sample_dir(out, {"model.json": doc, "reference.json": refdoc}, csv_src)
    ops = {}
    for L in doc["layers"]:
        ops[L["op"]] = ops.get(L["op"], 0) + 1
    log("%s: %d layers (%s) -> %s" % (name, len(doc["layers"]),
                                      ", ".join("%d %s" % (v, k) for k, v in sorted(ops.items())), out))
    if dropped:
        log("dropped as unused (their results never reach the output): " + ", ".join(dropped))
    log("float forward of model.json vs the module: max |diff| %.2g (calib), %.2g (test); test mse %.6f, "
        "persistence %.6f, %d test windows" % (errs["calib"], errs["test"], refdoc["mse"],
                                                refdoc["persistence_mse"], refdoc["windows"]))
    q = quant_check(os.path.join(out, "model.json"), sp, log)
    return {"layers": len(doc["layers"]), "ops": ops, "dropped": dropped, "max_abs_calib": errs["calib"],
            "max_abs_test": errs["test"], "mse": refdoc["mse"], "persistence_mse": refdoc["persistence_mse"],
            "test_windows": refdoc["windows"], "uniform8": q, "output_layer": out_layer}


def cmd_import(args):
    try:
        cls = mi.load_class(args.module)
        try:
            kwargs = json.loads(args.kwargs) if args.kwargs else {}
        except ValueError as e:
            raise mi.ImportError_("--kwargs: not JSON: %s" % e)
        if not isinstance(kwargs, dict):
            raise mi.ImportError_("--kwargs: expected a JSON object")
        try:
            model = cls(**kwargs)
        except Exception as e:
            raise mi.ImportError_("%s(**%s) failed: %s: %s" % (cls.__name__, json.dumps(kwargs), type(e).__name__, e))
        if not isinstance(model, nn.Module):
            raise mi.ImportError_("%s is not a torch.nn.Module" % cls.__name__)
        try:
            ck = torch.load(args.checkpoint, map_location="cpu")
        except Exception as e:
            raise mi.ImportError_("%s: cannot load: %s: %s" % (args.checkpoint, type(e).__name__, e))
        mi.load_weights(model, mi.state_dict_of(ck, args.checkpoint), args.checkpoint)
        columns = [c for c in args.columns.split(",") if c]
        if not columns or args.target is None:
            raise mi.ImportError_("--columns and --target are required")
        if len(columns) > 16:
            raise mi.ImportError_("--columns: at most 16 input columns")
        if args.window < 1 or (args.horizon or 1) < 1:
            raise mi.ImportError_("--window and --horizon must be positive")
        if not os.path.isfile(args.csv):
            raise mi.ImportError_("--csv %s: no such file" % args.csv)
        dataset = dataset_spec(columns, args.target, args.window, args.horizon or 1)
        name = args.name or os.path.basename(os.path.normpath(args.out))
        if not NAME_RE.match(name) or len(name) > 63:
            raise mi.ImportError_("--name %r: letters, digits, '_', '.', '-' only, at most 63" % name)
        try:
            import_model(model, name, dataset, args.csv, args.out,
                         module_desc="%s (%s)" % (cls.__name__, args.module))
        except ValueError as e:  # CSV problems from read_csv / fit_normalization
            raise mi.ImportError_(str(e))
    except mi.ImportError_ as e:
        print("import: %s" % e, file=sys.stderr)
        sys.exit(1)


def cmd_finetune(args):
    import mpqx_finetune as mf
    try:
        if args.epochs < 0:
            raise mf.FinetuneError("--epochs must be 0 or more")
        r = mf.finetune(args.model, args.config, args.out, epochs=args.epochs, seed=args.seed, lr=args.lr,
                        batch=args.batch, mpqx=args.mpqx, learn_ranges=args.learn_ranges,
                        range_lr=args.range_lr, select=args.select)
        mpqx = mf.find_mpqx(args.mpqx)
        src = mf.run_mpqx(mpqx, ["eval", args.model, "-c", args.config, "--json"])
        got = mf.run_mpqx(mpqx, ["eval", args.out, "-c", r["config"], "--json"])
    except mf.FinetuneError as e:
        print("finetune: %s" % e, file=sys.stderr)
        sys.exit(1)
    f0 = src["mse_float"]
    print("test mse (mpqx eval): float %.6g; %s before %.6g (%+.1f%%), fine-tuned %.6g (%+.1f%%); "
          "fine-tuned float %.6g" % (f0, os.path.basename(args.config), src["mse"], 100 * (src["mse"] / f0 - 1),
                                     got["mse"], 100 * (got["mse"] / f0 - 1), got["mse_float"]))
    if args.json:
        print(json.dumps({"float": f0, "before": src["mse"], "finetuned": got["mse"],
                          "finetuned_float": got["mse_float"], "epoch": r["epoch"], "calib_mse": r["calib_mse"],
                          "calib_mse_epoch0": r["calib_mse_epoch0"], "seconds": r["seconds"],
                          "config": r["config"]}))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="mpqx_torch.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a sample (or your own CSV) and write a sample directory")
    t.add_argument("--sample", choices=sorted(SAMPLES))
    t.add_argument("--out", required=True)
    t.add_argument("--csv")
    t.add_argument("--name")
    t.add_argument("--columns", help="comma-separated input columns")
    t.add_argument("--target")
    t.add_argument("--checkpoint", help="also save the trained model here (.pt)")
    t.add_argument("--module", metavar="FILE.py:CLASS",
                   help="train your own module class instead (then imported as `import` does)")
    t.add_argument("--kwargs", metavar="JSON", help="with --module: the constructor's keyword arguments")
    for k, ty in (("window", int), ("horizon", int), ("d_model", int), ("heads", int), ("ffn", int),
                  ("layers", int), ("epochs", int), ("patience", int), ("batch", int), ("lr", float),
                  ("weight_decay", float), ("dropout", float), ("noise_bits", int), ("seed", int)):
        t.add_argument("--" + k.replace("_", "-"), dest=k, type=ty)
    e = sub.add_parser("export", help="export a trained checkpoint or state_dict to a sample directory")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--csv")
    e.add_argument("--name")
    e.add_argument("--columns")
    e.add_argument("--target")
    e.add_argument("--window", type=int)
    e.add_argument("--horizon", type=int)
    e.add_argument("--heads", type=int)
    im = sub.add_parser("import", help="trace your own PyTorch module (torch.fx) into a sample directory",
                        description="Builds CLASS(**KWARGS) from FILE.py, loads the checkpoint, traces it "
                        "with torch.fx, maps it to mpqx's ops and writes DIR/model.json, DIR/reference.json "
                        "and DIR/data.csv (doc/import.md).")
    im.add_argument("--module", required=True, metavar="FILE.py:CLASS")
    im.add_argument("--kwargs", metavar="JSON", help="keyword arguments of the constructor, a JSON object")
    im.add_argument("--checkpoint", required=True, metavar="PT")
    im.add_argument("--csv", required=True)
    im.add_argument("--columns", required=True, help="comma-separated input columns, in the model's order")
    im.add_argument("--target", required=True)
    im.add_argument("--window", type=int, required=True)
    im.add_argument("--horizon", type=int, default=1)
    im.add_argument("--name")
    im.add_argument("--out", required=True, metavar="DIR")
    v = sub.add_parser("verify", help="check model.json + data.csv against reference.json with numpy")
    v.add_argument("dir")
    ft = sub.add_parser("finetune", help="quantization-aware fine-tuning of a model for one configuration",
                        description="Trains MODEL's weights with the integer model of CONFIG in the forward "
                        "(mpqx's own scales, rounding and clamps; straight-through gradients), keeps the epoch "
                        "best on the calibration windows and writes DIR: model.json with fixed activation "
                        "ranges and a finetuned record, data.csv, reference.json, configs/CONFIG.")
    ft.add_argument("model", metavar="MODEL")
    ft.add_argument("-c", "--config", required=True)
    ft.add_argument("--out", required=True, metavar="DIR")
    ft.add_argument("--epochs", type=int, default=15)
    ft.add_argument("--seed", type=int, default=1)
    ft.add_argument("--lr", type=float, help="Adam's learning rate of the weights (default 3e-4; learned ranges: 100 times it)")
    ft.add_argument("--batch", type=int, help="batch size (default 64, 32 under 2000 train windows)")
    ft.add_argument("--mpqx", help="the mpqx binary (default $MPQX, else build/src/cli/mpqx, else PATH)")
    ft.add_argument("--learn-ranges", action="store_true",
                    help="also train the calibrated activation ranges (from mpqx's), written as the fixed ranges")
    ft.add_argument("--range-lr", type=float, help="with --learn-ranges: their learning rate (default 100 * lr)")
    ft.add_argument("--select", choices=("calib", "last"), default="calib",
                    help="the epoch kept: best on the calibration windows (default; epoch 0 is the float "
                    "weights), or the last")
    ft.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    for p in (t, e, v, im, ft):
        p.add_argument("--threads", type=int, default=2,
                       help="torch CPU threads (default 2; results do not depend on it, use 1 on a busy machine)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    {"train": cmd_train, "export": cmd_export, "verify": cmd_verify, "import": cmd_import,
     "finetune": cmd_finetune}[args.cmd](args)


if __name__ == "__main__":
    main()
