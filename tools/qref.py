#!/usr/bin/python3
"""qref: an independent NumPy implementation of mpqx's integer-only quantized model.

It follows doc/quantization.md and doc/model-format.md and nothing else: it reads model.json, the CSV
and an optional config, takes only the calibration ranges (lo, hi per layer) from the C engine, derives
every other number itself (normalised inputs, scales, zero points, quantized weights and biases,
multipliers, accumulator bounds, softmax tables), runs the integer forward on every test window and
compares each layer's integer outputs with the ones `mpqx eval --dump DIR` wrote, value for value.

Run it with Debian's interpreter, which has NumPy (no torch needed)::

    mpqx eval samples/seattle-hourly -c CONFIG --json --dump /tmp/d > /tmp/eval.json
    /usr/bin/python3 tools/qref.py samples/seattle-hourly -c CONFIG --dump /tmp/d [--eval-json /tmp/eval.json]
    /usr/bin/python3 tools/qref.py samples/seattle-hourly [-c CONFIG] --time [--repeat N] [--dump /tmp/d]
    /usr/bin/python3 tools/qref.py --selftest

Check mode prints one line per layer (equal, or the number of differing values and the first difference)
and exits 0 only when every layer matches exactly; 1 on any difference or bad input; 2 on a usage error.
--eval-json also compares the clamp counts, accumulator widths and MSE that `mpqx eval --json` printed.
--time prints one JSON object with the median time of the full integer evaluation of the test set; it reads
the ranges from DIR/dump.json when --dump is given (the layer files are not read), otherwise from its own
float64 forward on the calibration windows (the ranges only change values, not the work).
"""

import argparse
import csv
import json
import math
import os
import statistics
import sys
import time

try:
    import numpy as np
except ImportError:  # the test driver turns this into a skip
    sys.stderr.write("qref: NumPy is missing (Debian: apt-get install python3-numpy)\n")
    sys.exit(77)

BITS_MIN, BITS_MAX = 2, 16
OPS = ("input", "const", "linear", "add", "matmul", "softmax", "affine", "relu", "avgpool", "split",
       "concat", "layernorm", "gelu")
WEIGHTED = ("linear", "affine", "layernorm")  # ops with w_bits (a quantized weight tensor)


class QrefError(Exception):
    """Bad input: the message names the file and the place."""


# ---------------------------------------------------------------------------------------------------
# The pieces of doc/quantization.md, scalar versions on Python ints and floats (exact).


def qmin(b):
    return -(1 << (b - 1))


def qmax(b):
    return (1 << (b - 1)) - 1


def bitlen(v):
    """Number of bits of v >= 0: bitlen(0) = 0, bitlen(1) = 1, bitlen(255) = 8."""
    assert v >= 0
    return int(v).bit_length()


def round_half_away(v):
    """C round(): the exact value rounded half away from zero (not Python's round-half-even).

    v - trunc(v) is exact in binary floating point, so no double rounding can move a value that lies
    just below a half (0.49999999999999994 stays 0)."""
    v = float(v)
    t = math.trunc(v)
    if abs(v - t) >= 0.5:
        t += 1 if v > 0 else -1
    return int(t)


def clamp(v, b):
    return min(max(v, qmin(b)), qmax(b))


def rshift_round(v, n):
    """sign(v) * ((|v| + 2^(n-1)) >> n) for n >= 1, v for n = 0."""
    if n == 0:
        return v
    r = (abs(v) + (1 << (n - 1))) >> n
    return -r if v < 0 else r


def quant_param(lo, hi, b):
    """(s, z) of a b-bit tensor whose real values lie in [lo, hi]; 0 is always representable."""
    lo = min(lo, 0.0)
    hi = max(hi, 0.0)
    s = max(hi - lo, 1e-6) / float((1 << b) - 1)
    z = clamp(qmin(b) - round_half_away(lo / s), b)
    return s, z


def multiplier(M):
    """(m, n) with M ~ m * 2^-n, 2^14 <= m < 2^15 whenever M < 2^15."""
    if not (M > 0 and math.isfinite(M)):
        raise QrefError("rescale factor %r is not a positive finite number" % M)
    _, e = math.frexp(M)
    n = max(15 - e, 0)
    m = round_half_away(math.ldexp(M, n))
    if m == 1 << 15 and n > 0:
        m, n = 1 << 14, n - 1
    return m, n


ADD_MIN_BITS = 12  # ADD_MIN_BITS in src/core/ops/add.c


def factor_ok(M):
    return math.isfinite(M) and 2.0 ** -46 <= M < 2.0 ** 46


def add_multipliers(Ma, Mb, ba, bb):
    """add's [(m_a, n), (m_b, n)] (doc/quantization.md, "add"): n from the larger factor, raised by d when
    the smaller multiplier would keep fewer than ADD_MIN_BITS bits, the larger then its 15 bits times 2^d."""
    M, bits = (Ma, Mb), (ba, bb)
    big = 1 if Mb > Ma else 0
    small = 1 - big
    if not factor_ok(M[big]):
        raise QrefError("rescale factor %r is outside [2^-46, 2^46)" % M[big])
    _, n = multiplier(M[big])
    mbig = round_half_away(math.ldexp(M[big], n))
    d = 0
    if round_half_away(math.ldexp(M[small], n)) < 1 << (ADD_MIN_BITS - 1) and factor_ok(M[small]):
        d = multiplier(M[small])[1] - n
        while d > 0:
            ms = round_half_away(math.ldexp(M[small], n + d))
            if bitlen(mbig) + d + bits[big] <= 61 and bitlen(ms) + bits[small] <= 61:
                break
            d -= 1
        d = max(d, 0)
    rs = [None, None]
    rs[big] = (mbig << d, n + d)
    rs[small] = (round_half_away(math.ldexp(M[small], n + d)), n + d)
    return rs


def softmax_table(s_x, b_x, b_y):
    """(k, t, E) of the softmax lookup table; len(E) is L. exp is the C library's (math.exp)."""
    k = min(b_y + 8, 24)
    t = max(0, b_x - 10)
    top = (1 << k) - 1
    table = []
    for i in range(1 << (b_x - t)):
        e = round_half_away(top * math.exp(-(s_x * float(i << t))))
        table.append(e)
        if e == 0:
            break
    return k, t, table


FC_BITS, FC_MIN, FC_MAX = 3, 8, 10
FC_FORCE = None  # for measurements only (tools/softmax_code.py): exponent bits at every width, 0 linear


def softmax_fc(model, li, b):
    """Exponent bits of softmax layer li's float code at b bits (0: linear): 3 from 8 to 10 bits when every
    consumer is a matmul (doc/quantization.md, "softmax")."""
    users = [L.op for L in model["layers"] if li in L.inputs]
    if not users or any(u != "matmul" for u in users):
        return 0
    if FC_FORCE is not None:
        return FC_FORCE if 0 < FC_FORCE < b else 0
    return FC_BITS if FC_MIN <= b <= FC_MAX else 0


def fc_max(fc, b):
    """The largest value of the float code: (2^(f+1) - 1) << (2^fc - 2), f = b - fc fraction bits."""
    return ((1 << (b - fc + 1)) - 1) << ((1 << fc) - 2)


def fc_value(fc, b, c):
    """Value of code c: F when its exponent E is 0, else (2^f + F) << (E - 1)."""
    f = b - fc
    e, F = c >> f, c & ((1 << f) - 1)
    return np.where(e == 0, F, ((1 << f) + F) << np.maximum(e - 1, 0))


def fc_code(fc, b, u):
    """The code whose value is nearest to u (0 <= u <= fc_max), halves up."""
    f = b - fc
    u = np.asarray(u, dtype=np.int64)
    sh = np.zeros_like(u)
    for k in range(1, (1 << fc) - 1):
        sh = np.where(u >> (f + k) != 0, k, sh)
    r = (u + np.where(sh > 0, np.int64(1) << np.maximum(sh - 1, 0), 0)) >> sh
    carry = r == (1 << (f + 1))
    r = np.where(carry, r >> 1, r)
    sh = sh + carry
    return np.where(u < (1 << (f + 1)), u, ((sh + 1) << f) | (r - (1 << f)))


def softmax_n(p, b, C, top=None):
    """N of a softmax output (its scale is 1 / N): floor(top / p) for the largest calibrated probability
    p, at least top and at most top * C; top is 2^b - 1, or the float code's largest value."""
    top = (1 << b) - 1 if top is None else top
    if not (p > 0) or not math.isfinite(p):
        return top
    n = math.floor(float(top) / p)
    return top if n < top else top * C if n > top * C else n


def vspan(Q):
    """The largest q - z of an output: 2^b - 1, or its float code's largest value."""
    return fc_max(Q.fc, Q.b) if getattr(Q, "fc", 0) else (1 << Q.b) - 1


def gelu(v, approximate="none"):
    """torch's GELU of a double, with the C library's erf / tanh."""
    if approximate == "tanh":
        return 0.5 * v * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v * v * v)))
    return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))


def gelu_table(s_x, z_x, b_x, s_y, z_y, b_y, approximate):
    """(t, T, clamped) of the gelu lookup table (doc/quantization.md, gelu)."""
    t = max(0, b_x - 10)
    h = (1 << (t - 1)) if t > 0 else 0
    table, clamped = [], []
    for i in range(1 << (b_x - t)):
        v = s_x * float((i << t) + h + qmin(b_x) - z_x)
        r = round_half_away(gelu(v, approximate) / s_y) + z_y
        table.append(clamp(r, b_y))
        clamped.append(r != clamp(r, b_y))
    return t, table, clamped


def layernorm_f(C, b_y):
    """F, the fraction bits of the normalised value."""
    return b_y + 2 + (bitlen(C) + 1) // 2


# ---------------------------------------------------------------------------------------------------
# Array versions (int64 / float64), vectorised over windows.


def round_half_away_array(v):
    v = np.asarray(v, dtype=np.float64)
    t = np.trunc(v)
    return t + np.where(np.abs(v - t) >= 0.5, np.sign(v), 0.0)


def quantize_array(x, s, z, b):
    """clamp(round(x / s) + z, b) of float64 values; returns (int64 q, number of clamp events)."""
    r = round_half_away_array(np.asarray(x, dtype=np.float64) / s) + float(z)
    lo, hi = qmin(b), qmax(b)
    clamped = int(np.count_nonzero((r < lo) | (r > hi)))
    return np.clip(r, lo, hi).astype(np.int64), clamped


def rshift_round_array(v, n):
    if n == 0:
        return v
    if n >= 63:  # |v| < 2^62 <= 2^(n-1) (the product bound), so every value rounds to 0
        return np.zeros_like(v)
    r = (np.abs(v) + np.int64(1 << (n - 1))) >> np.int64(n)
    return np.where(v < 0, -r, r)


def finish(acc, m, n, z, b):
    """clamp(rescale(acc, m, n) + z, b): the integer output and its clamp events."""
    r = rshift_round_array(acc * np.int64(m), n) + np.int64(z)
    lo, hi = qmin(b), qmax(b)
    clamped = int(np.count_nonzero((r < lo) | (r > hi)))
    return np.clip(r, lo, hi), clamped


def finish_channel(acc, Q):
    """finish() with one multiplier per output column (the last axis), the layer's shift."""
    r = rshift_round_array(acc * np.array(Q.mc, dtype=np.int64), Q.rs[0][1]) + np.int64(Q.z)
    lo, hi = qmin(Q.b), qmax(Q.b)
    clamped = int(np.count_nonzero((r < lo) | (r > hi)))
    return np.clip(r, lo, hi), clamped


# ---------------------------------------------------------------------------------------------------
# Model, config and data


class Layer:
    pass


def _get(obj, key, where, kind):
    if not isinstance(obj, dict) or key not in obj:
        raise QrefError("%s: missing %s" % (where, key))
    v = obj[key]
    if kind is int and not (isinstance(v, int) and not isinstance(v, bool)):
        if not (isinstance(v, float) and v == math.floor(v)):
            raise QrefError("%s.%s: expected an integer" % (where, key))
        v = int(v)
    if kind is float and not (isinstance(v, (int, float)) and not isinstance(v, bool)):
        raise QrefError("%s.%s: expected a number" % (where, key))
    return v


def _tensor(jl, key, where):
    t = jl.get(key)
    if not isinstance(t, dict) or "data" not in t:
        raise QrefError("%s.%s: expected a tensor {shape, data}" % (where, key))
    # JSON text -> double (correctly rounded, as strtod) -> float32, as the C loader does
    a = np.array(t["data"], dtype=np.float64).astype(np.float32)
    shape = t.get("shape", [a.size])
    if int(np.prod(shape)) != a.size:
        raise QrefError("%s.%s: data has %d values, shape %s needs %d" % (where, key, a.size, shape,
                                                                         int(np.prod(shape))))
    return a


def load_model(path):
    if os.path.isdir(path):
        path = os.path.join(path, "model.json")
    try:
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        raise QrefError("%s: %s" % (path, e))
    if j.get("format") != "mpqx-model" or j.get("version") != 1:
        raise QrefError("%s: format: expected \"mpqx-model\" version 1" % path)
    model = {"path": path, "name": j.get("name", "")}
    ds = j["dataset"]
    model["csv"] = os.path.join(os.path.dirname(os.path.abspath(path)), ds["csv"])
    model["columns"] = list(ds["columns"])
    model["target"] = ds["target"]
    model["window"] = int(ds["window"])
    model["horizon"] = int(ds["horizon"])
    model["split"] = (float(ds["split"]["train"]), float(ds["split"]["calib"]), float(ds["split"]["test"]))
    norm = j["normalization"]
    model["norm_method"] = norm["method"]
    if norm["method"] not in ("standard", "minmax"):
        raise QrefError("%s: normalization.method: expected \"standard\" or \"minmax\"" % path)
    keys = ("mean", "std") if norm["method"] == "standard" else ("min", "max")
    model["norm"] = [(float(norm["columns"][c][keys[0]]), float(norm["columns"][c][keys[1]]))
                     for c in model["columns"] + [model["target"]]]
    layers, index = [], {}
    for i, jl in enumerate(j["layers"]):
        where = "%s: layers[%d]" % (path, i)
        L = Layer()
        L.name = _get(jl, "name", where, str)
        L.op = _get(jl, "op", where, str)
        if L.op not in OPS:
            raise QrefError("%s.op: unknown op %r" % (where, L.op))
        L.inputs = []
        for nm in jl.get("inputs") or []:
            if nm not in index:
                raise QrefError("%s.inputs: %r is not an earlier layer" % (where, nm))
            L.inputs.append(index[nm])
        shape = _get(jl, "shape", where, list)
        L.rows, L.cols = (1, int(shape[0])) if len(shape) == 1 else (int(shape[0]), int(shape[1]))
        if L.op in WEIGHTED:
            L.weight = _tensor(jl, "weight", where)
            L.bias = _tensor(jl, "bias", where)
        if L.op == "layernorm":
            L.eps = float(jl.get("eps", 1e-5))  # an attribute: stays a double
        if L.op == "gelu":
            L.approximate = jl.get("approximate", "none")
        if L.op == "const":
            L.value = _tensor(jl, "value", where)
        if L.op == "matmul":
            L.transpose_b = bool(jl.get("transpose_b", False))
            L.scale = float(jl.get("scale", 1.0))  # an attribute: stays a double
            L.heads = int(jl.get("heads", 1))
        if L.op == "split":
            L.offset = _get(jl, "offset", where, int)
            L.width = _get(jl, "width", where, int)
        index[L.name] = len(layers)
        layers.append(L)
    model["layers"] = layers
    model["index"] = index
    # A fine-tuned model's fixed activation ranges replace the calibrated ones (doc/model-format.md).
    fixed = {}
    for name, r in (j.get("ranges") or {}).items():
        where = "%s: ranges.%s" % (path, name)
        if name not in index:
            raise QrefError("%s: the model has no layer of that name" % where)
        if (not isinstance(r, list) or len(r) != 2 or not all(isinstance(v, (int, float)) and
                                                              not isinstance(v, bool) and math.isfinite(v)
                                                              for v in r) or r[0] > r[1]):
            raise QrefError("%s: expected [lo, hi], two finite numbers with lo <= hi" % where)
        fixed[name] = (float(r[0]), float(r[1]))
    model["fixed_ranges"] = fixed
    model["output"] = (j.get("output") or {}).get("layer", layers[-1].name)
    if model["output"] not in index:
        raise QrefError("%s: output.layer: no layer named %r" % (path, model["output"]))
    return model


def load_config(path, model):
    """Resolved (w_bits, a_bits) per layer. No path: uniform 8 bits."""
    defaults = {"w_bits": 8, "a_bits": 8}
    per = {}
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                j = json.load(f)
        except (OSError, ValueError) as e:
            raise QrefError("%s: %s" % (path, e))
        if j.get("format") != "mpqx-config" or j.get("version") != 1:
            raise QrefError("%s: format: expected \"mpqx-config\" version 1" % path)
        for k in ("w_bits", "a_bits"):
            if k in j.get("defaults", {}):
                defaults[k] = _get(j["defaults"], k, "%s: defaults" % path, int)
        for name, lc in (j.get("layers") or {}).items():
            if name not in model["index"]:
                raise QrefError("%s: layers.%s: the model has no layer of that name" % (path, name))
            per[name] = {k: _get(lc, k, "%s: layers.%s" % (path, name), int)
                         for k in ("w_bits", "a_bits") if k in lc}
    bits = []
    for L in model["layers"]:
        c = dict(defaults)
        c.update(per.get(L.name, {}))
        for k, v in c.items():
            if not BITS_MIN <= v <= BITS_MAX:
                raise QrefError("%s: layer %s: %s = %d outside %d..%d" % (path, L.name, k, v, BITS_MIN, BITS_MAX))
        bits.append((c["w_bits"], c["a_bits"]))
    return bits


def load_calibration(path, model):
    """The calibration method per layer (config key "calibration"; default CALIB_DEFAULT)."""
    d, per = CALIB_DEFAULT, {}
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                j = json.load(f)
        except (OSError, ValueError) as e:
            raise QrefError("%s: %s" % (path, e))
        d = (j.get("defaults") or {}).get("calibration", d)
        per = {n: lc["calibration"] for n, lc in (j.get("layers") or {}).items() if "calibration" in lc}
    out = [per.get(L.name, d) for L in model["layers"]]
    for L, m in zip(model["layers"], out):
        if m not in CALIB_METHODS:
            raise QrefError("%s: layer %s: calibration %r: expected one of %s" % (path, L.name, m,
                                                                                ", ".join(CALIB_METHODS)))
    return out


def load_granularity(path, model):
    """The weight granularity per layer (config key "w_granularity": "tensor", the default, or "channel")."""
    d, per = WGRAN_DEFAULT, {}
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                j = json.load(f)
        except (OSError, ValueError) as e:
            raise QrefError("%s: %s" % (path, e))
        d = (j.get("defaults") or {}).get("w_granularity", d)
        per = {n: lc["w_granularity"] for n, lc in (j.get("layers") or {}).items() if "w_granularity" in lc}
    out = [per.get(L.name, d) for L in model["layers"]]
    for L, g in zip(model["layers"], out):
        if g not in WGRAN_NAMES:
            raise QrefError("%s: layer %s: w_granularity %r: expected tensor or channel" % (path, L.name, g))
    return out


def quant_weights(w, n_ch, b):
    """Per-channel weights (doc/quantization.md, "Per-channel weight scales"): w float64 with n_ch rows of
    equal length; per row its scale and zero point from its own range, the span at least 1/64 of the
    tensor's. Returns (scales, zero points, q_w) with q_w shaped as w."""
    w2 = w.reshape(n_ch, -1)
    floor_span = max(max(float(w.max()), 0.0) - min(float(w.min()), 0.0), 1e-6) / 64
    sw, zw, qw = [], [], []
    for o in range(n_ch):
        rl, rh = min(float(w2[o].min()), 0.0), max(float(w2[o].max()), 0.0)
        s, z = quant_param(rl, rl + max(rh - rl, floor_span), b)
        q, _ = quantize_array(w2[o], s, z, b)
        sw.append(s)
        zw.append(z)
        qw.append(q)
    return sw, zw, np.stack(qw).reshape(w.shape)


def channel_rescale(sx, sw, sy):
    """Per channel: the shift from the largest M_o = (s_x * s_w[o]) / s_y, each m_o = round(M_o * 2^n)."""
    Ms = [(sx * s) / sy for s in sw]
    _, n = multiplier(max(Ms))
    return [round_half_away(math.ldexp(M, n)) for M in Ms], n


def read_csv(model):
    """Raw values [n_rows, features + 1] (the input columns, then the target) as doubles."""
    path = model["csv"]
    want = model["columns"] + [model["target"]]
    try:
        with open(path, encoding="utf-8", newline="") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise QrefError("%s: %s" % (path, e))
    idx, rows = None, []
    for no, line in enumerate(lines, 1):
        if no > 1 and line in ("", "\r"):
            continue
        fields = [s.strip(" \t\r") for s in next(csv.reader([line]))] if line else [""]
        if idx is None:
            idx = []
            for w in want:
                hits = [k for k, f in enumerate(fields) if f == w]
                if not hits:
                    raise QrefError("%s: line 1: no column named '%s' in the header" % (path, w))
                idx.append(hits[-1])
            width = len(fields)
            continue
        if len(fields) != width:
            raise QrefError("%s: line %d: expected %d fields as in the header, got %d" %
                            (path, no, width, len(fields)))
        row = []
        for c, k in enumerate(idx):
            try:
                v = float(fields[k])
            except ValueError:
                v = math.nan
            if not math.isfinite(v) or "_" in fields[k]:
                raise QrefError("%s: line %d, column '%s': expected a finite number, got '%s'" %
                                (path, no, want[c], fields[k][:40]))
            row.append(v)
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(want))


def split_bounds(model, n):
    """[begin, end) of train, calib, test as doc/model-format.md says: floor(fraction * n + 1e-9)."""
    tr, ca, _ = model["split"]
    a = math.floor(tr * n + 1e-9)
    b = math.floor((tr + ca) * n + 1e-9)
    return (0, a), (a, b), (b, n)


def windows(model, part=2):
    """The normalised windows of a part (0 train, 1 calib, 2 test): inputs float32 [windows, window,
    features], targets float32 [windows], and notes on ambiguous split boundaries."""
    raw = read_csv(model)
    n, nf = raw.shape[0], len(model["columns"])
    norm = np.empty((n, nf + 1), dtype=np.float32)
    for c in range(nf + 1):  # the input columns, then the target
        a, b = model["norm"][c]
        d = b if model["norm_method"] == "standard" else b - a
        norm[:, c] = ((raw[:, c] - a) / d).astype(np.float32)  # computed in double, stored as float32
    b, e = split_bounds(model, n)[part]
    W, H = model["window"], model["horizon"]
    count = (e - b) - (W + H) + 1
    if count <= 0:
        raise QrefError("%s: the %s part has %d rows, fewer than window + horizon = %d" %
                        (model["csv"], ("train", "calib", "test")[part], e - b, W + H))
    idx = b + np.arange(count)[:, None] + np.arange(W)[None, :]
    notes = []
    targets = norm[b + np.arange(count) + W - 1 + H, nf]
    return norm[:, :nf][idx], targets, notes


# ---------------------------------------------------------------------------------------------------
# The integer model


class QLayer:
    pass


class Windows:
    """A part's forecast windows and what a comparison with the float model needs: x [N, window,
    features], the targets t [N, 1], the float forecast fl [N, outputs], its MSE fmse, the output layer's
    index o, and the parts the ranges come from ("test": train and calib ranges, test windows; "calib":
    train ranges, calib windows)."""

    def __init__(self, model, part="test"):
        self.parts, ev = ((0, 1), 2) if part == "test" else ((0,), 1)
        self.o = model["index"][model["output"]]
        self.x, tw, _ = windows(model, ev)
        self.t = tw.astype(np.float64)[:, None]
        self.fl = float_forward(model, self.x)[self.o].reshape(self.x.shape[0], -1)
        self.fmse = float(np.mean((self.fl - self.t) ** 2))

    def forecast(self, q, out):
        """The integer forecast, dequantized, from forward()'s outputs of the integer model q."""
        return q[self.o].s * (out[self.o].reshape(self.x.shape[0], -1).astype(np.float64) - q[self.o].z)


def load_ranges(dump_dir):
    path = os.path.join(dump_dir, "dump.json")
    try:
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        raise QrefError("%s: %s" % (path, e))
    if j.get("format") != "mpqx-dump" or j.get("version") != 1:
        raise QrefError("%s: format: expected \"mpqx-dump\" version 1" % path)
    return j


HEADROOM = 0.05
CALIB_BINS = 2048
CALIB_METHODS = ("minmax", "percentile", "mse")
CALIB_DEFAULT = "percentile"
WGRAN_NAMES = ("tensor", "channel")
WGRAN_DEFAULT = "tensor"  # MPQX_WGRAN_DEFAULT in include/mpqx/config.h


def histogram(v, lo, hi):
    """Counts of the values v in CALIB_BINS bins over [lo, hi] (doc/quantization.md)."""
    k = CALIB_BINS / (hi - lo) if hi > lo else 0.0
    b = np.clip(np.floor((v.astype(np.float64) - lo) * k), 0, CALIB_BINS - 1).astype(np.int64)
    return np.bincount(b.reshape(-1), minlength=CALIB_BINS).astype(np.int64)


def calib_percentile(h, lo, hi):
    n = int(h.sum())
    t = n // 1000
    a, out = 0, 0
    while a < CALIB_BINS - 1 and out + int(h[a]) <= t:
        out += int(h[a])
        a += 1
    b, out = CALIB_BINS - 1, 0
    while b > a and out + int(h[b]) <= t:
        out += int(h[b])
        b -= 1
    w = (hi - lo) / CALIB_BINS
    return (lo + a * w if a > 0 else lo), (lo + (b + 1) * w if b < CALIB_BINS - 1 else hi)


def calib_mse(h, bits, lo, hi):
    w = (hi - lo) / CALIB_BINS
    l0, h0 = min(lo, 0.0), max(hi, 0.0)
    idx = np.nonzero(h)[0]
    c = np.array([lo + (float(i) + 0.5) * w for i in idx])
    cnt = h[idx].astype(np.float64)
    best, bl, bh = math.inf, l0, h0
    for a in range(1, 101):
        la, ha = l0 * a / 100.0, h0 * a / 100.0
        s, z = quant_param(la, ha, bits)
        q, _ = quantize_array(c, s, z, bits)
        d = c - s * (q - z).astype(np.float64)
        e = float((cnt * d * d).sum())
        if e < best:
            best, bl, bh = e, la, ha
    return bl, bh


def calib_range(L, lo, hi, h=None, method=CALIB_DEFAULT, bits=8):
    """The range a layer's output is quantized over (doc/quantization.md), from the min/max [lo, hi] of its
    float output over the calibration windows and their histogram h: a softmax's [0, largest probability];
    else the method's range (minmax: [lo, hi]; percentile; mse at `bits`), widened by HEADROOM of its width
    on each side that is not zero. The one place qref decides a range (src/core/quant.c: quant_range)."""
    if L.op == "softmax":
        return 0.0, hi
    if h is not None and hi > lo and method == "percentile":
        lo, hi = calib_percentile(h, lo, hi)
    elif h is not None and hi > lo and method == "mse":
        lo, hi = calib_mse(h, bits, lo, hi)
    w = hi - lo
    return (lo - HEADROOM * w if lo < 0 else lo, hi + HEADROOM * w if hi > 0 else hi)


def float_ranges(model, bits=None, methods=None, parts=(0, 1)):
    """name -> (lo, hi) by calib_range from a float64 forward on the calibration windows (by default the
    train and calib parts), with each layer's method and output bits (default: CALIB_DEFAULT, 8 bits).

    For --time without a dump and for tools/calib_select.py: the cross-check takes the C engine's ranges."""
    vals = [float_forward(model, windows(model, p)[0]) for p in parts]
    r = {}
    for li, L in enumerate(model["layers"]):
        lo = min(float(v[li].min()) for v in vals)
        hi = max(float(v[li].max()) for v in vals)
        h = sum(histogram(v[li], lo, hi) for v in vals)
        r[L.name] = calib_range(L, lo, hi, h, methods[li] if methods else CALIB_DEFAULT,
                                bits[li][1] if bits else 8)
    r.update(model["fixed_ranges"])
    return r


def float_forward(model, x):
    """Every layer's float64 output on the windows x [N, window, features] (doc/model-format.md)."""
    x = x.astype(np.float64)
    N = x.shape[0]
    vals = []
    for L in model["layers"]:
        a = [vals[i] for i in L.inputs]
        if L.op == "input":
            y = x
        elif L.op == "const":
            y = np.broadcast_to(L.value.astype(np.float64).reshape(L.rows, L.cols), (N, L.rows, L.cols))
        elif L.op == "linear":
            w = L.weight.astype(np.float64).reshape(L.cols, -1)
            y = np.matmul(a[0], w.T) + L.bias.astype(np.float64)
        elif L.op == "affine":
            y = a[0] * L.weight.astype(np.float64) + L.bias.astype(np.float64)
        elif L.op == "add":
            y = a[0] + a[1]
        elif L.op == "matmul":
            A, B, H = a[0], a[1], L.heads
            if L.transpose_b:
                M, K = A.shape[1], A.shape[2] // H
                y = np.matmul(A.reshape(N, M, H, K).transpose(0, 2, 1, 3),
                              B.reshape(N, B.shape[1], H, K).transpose(0, 2, 3, 1)).reshape(N, H * M, -1)
            else:
                M, K, Nn = A.shape[1] // H, A.shape[2], B.shape[2] // H
                y = np.matmul(A.reshape(N, H, M, K), B.reshape(N, K, H, Nn).transpose(0, 2, 1, 3))
                y = y.transpose(0, 2, 1, 3).reshape(N, M, H * Nn)
            y = L.scale * y
        elif L.op == "softmax":
            e = np.exp(a[0] - a[0].max(axis=2, keepdims=True))
            y = e / e.sum(axis=2, keepdims=True)
        elif L.op == "relu":
            y = np.maximum(a[0], 0.0)
        elif L.op == "avgpool":
            y = a[0].mean(axis=1, keepdims=True)
        elif L.op == "split":
            y = a[0][:, :, L.offset:L.offset + L.width]
        elif L.op == "concat":
            y = np.concatenate(a, axis=2)
        elif L.op == "layernorm":
            mu = a[0].mean(axis=2, keepdims=True)
            var = ((a[0] - mu) ** 2).mean(axis=2, keepdims=True)
            y = (a[0] - mu) / np.sqrt(var + L.eps) * L.weight.astype(np.float64) + L.bias.astype(np.float64)
        elif L.op == "gelu":
            y = np.vectorize(lambda v: gelu(v, L.approximate))(a[0])
        vals.append(y)
    return vals


def build(model, bits, ranges, gran=None):
    """Every layer's quantization parameters (doc/quantization.md). ranges: name -> (lo, hi); gran: the
    weight granularity per layer (default: every layer per tensor)."""
    layers = model["layers"]
    gran = gran or [WGRAN_DEFAULT] * len(layers)
    q = []
    for li, L in enumerate(layers):
        Q = QLayer()
        Q.fc = 0
        Q.w_bits, Q.b = bits[li]
        ins = [q[i] for i in L.inputs]
        Q.rs = []
        Q.B = 0
        if L.op == "softmax":
            if L.name not in ranges:
                raise QrefError("dump.json: no calibration range for layer %s" % L.name)
            Q.fc = softmax_fc(model, li, Q.b)
            Q.N = softmax_n(ranges[L.name][1], Q.b, L.cols, fc_max(Q.fc, Q.b) if Q.fc else None)
            # a float code: the integer model holds the decoded value, zero point 0
            Q.s, Q.z = 1.0 / float(Q.N), 0 if Q.fc else qmin(Q.b)
        elif L.op == "const":
            v = L.value.astype(np.float64)
            Q.s, Q.z = quant_param(float(v.min()), float(v.max()), Q.b)
            Q.qconst, _ = quantize_array(v, Q.s, Q.z, Q.b)
            Q.qconst = Q.qconst.reshape(L.rows, L.cols)
        else:
            if L.name not in ranges:
                raise QrefError("dump.json: no calibration range for layer %s" % L.name)
            Q.s, Q.z = quant_param(ranges[L.name][0], ranges[L.name][1], Q.b)
        x = ins[0] if ins else None
        if L.op in ("linear", "affine"):
            w = L.weight.astype(np.float64)
            Q.sw, Q.zw = quant_param(float(w.min()), float(w.max()), Q.w_bits)
            Q.chan = gran[li] == "channel"
            if Q.chan:
                sws, zws, qw = quant_weights(w, L.cols, Q.w_bits)
                zcol = np.array(zws, dtype=np.int64)
                Q.wd = qw.reshape(L.cols, -1) - zcol[:, None]  # w' = q_w - z_w[o], [O, I] ([C, 1])
                if L.op == "affine":
                    Q.wd = Q.wd.reshape(-1)
                sp = x.s * np.array(sws, dtype=np.float64)
            else:
                qw, _ = quantize_array(w, Q.sw, Q.zw, Q.w_bits)
                Q.wd = qw - Q.zw  # w' = q_w - z_w
                if L.op == "linear":
                    Q.wd = Q.wd.reshape(L.cols, -1)  # [O, I]
                sp = x.s * Q.sw
            Q.qb = round_half_away_array(L.bias.astype(np.float64) / sp).astype(np.int64)
            fan = w.size // L.cols if L.op == "linear" else 1
            Q.B = int(np.abs(Q.qb).max()) + fan * ((1 << x.b) - 1) * ((1 << Q.w_bits) - 1)
            if Q.chan:
                Q.mc, n = channel_rescale(x.s, sws, Q.s)
                Q.rs = [(max(Q.mc), n)]
            else:
                Q.rs = [multiplier(sp / Q.s)]
        elif L.op == "add":
            a, b = ins
            Q.rs = add_multipliers(a.s / Q.s, b.s / Q.s, a.b, b.b)
            Q.B = Q.rs[0][0] * ((1 << a.b) - 1) + Q.rs[1][0] * ((1 << b.b) - 1)
        elif L.op in ("relu", "split"):
            Q.rs = [multiplier(x.s / Q.s)]
            Q.B = (1 << x.b) - 1
        elif L.op == "avgpool":
            R = layers[L.inputs[0]].rows
            Q.rs = [multiplier(x.s / (float(R) * Q.s))]
            Q.B = R * ((1 << x.b) - 1)
        elif L.op == "matmul":
            a, b = ins
            la = layers[L.inputs[0]]
            K = la.cols // L.heads if L.transpose_b else la.cols
            Q.rs = [multiplier(((L.scale * a.s) * b.s) / Q.s)]
            ka = K * vspan(a)
            if a.fc and not L.transpose_b:  # a float-coded softmax's summed rows: at most N + K (1 + 2^(2^fc - 3))
                ka = min(ka, round(1.0 / a.s) + K * (1 + (1 << ((1 << a.fc) - 3))))
            Q.B = ka * vspan(b)
        elif L.op == "concat":
            Q.rs = [multiplier(i.s / Q.s) for i in ins]
            Q.B = max((1 << i.b) - 1 for i in ins)
        elif L.op == "softmax":
            Q.k, Q.t, table = softmax_table(x.s, x.b, Q.b)
            Q.table = np.array(table, dtype=np.int64)
        elif L.op == "layernorm":
            C = L.cols
            Q.F = layernorm_f(C, Q.b)
            dmax = (C - 1) * ((1 << x.b) - 1)
            Q.E = min(round_half_away(float(C) ** 3 * L.eps / (x.s * x.s)), (1 << 62) - 1 - C * dmax * dmax)
            s_n = math.sqrt(float(C)) / float(1 << Q.F)
            g = L.weight.astype(np.float64)
            Q.sw, Q.zw = quant_param(float(g.min()), float(g.max()), Q.w_bits)
            qg, _ = quantize_array(g, Q.sw, Q.zw, Q.w_bits)
            Q.wd = qg - Q.zw
            sp = s_n * Q.sw
            Q.qb = round_half_away_array(L.bias.astype(np.float64) / sp).astype(np.int64)
            Q.B = int(np.abs(Q.qb).max()) + (1 << Q.F) * ((1 << Q.w_bits) - 1)
            Q.rs = [multiplier(sp / Q.s)]
        elif L.op == "gelu":
            Q.t, table, clamped = gelu_table(x.s, x.z, x.b, Q.s, Q.z, Q.b, L.approximate)
            Q.table = np.array(table, dtype=np.int64)
            Q.tclamp = np.array(clamped, dtype=bool)
        # the product |acc| * m plus the rounding constant must fit 63 bits
        for m, n in Q.rs:
            width = bitlen(Q.B) + (0 if L.op == "add" else bitlen(m))
            if width > 62:
                raise QrefError("layer %s: accumulator bound %d times multiplier %d needs %d bits, more than 62"
                                % (L.name, Q.B, m, width))
        q.append(Q)
    return q


def forward(model, q, xwin):
    """Integer outputs of every layer on all windows: list of int64 [windows, rows, cols]; clamp counts."""
    layers = model["layers"]
    N = xwin.shape[0]
    out, clamps = [], []
    for li, L in enumerate(layers):
        Q = q[li]
        srcs = [out[i] for i in L.inputs]
        zs = [q[i].z for i in L.inputs]
        xd = [s - np.int64(z) for s, z in zip(srcs, zs)]  # x' = q_x - z_x
        c = 0
        if L.op == "input":
            y, c = quantize_array(xwin.astype(np.float64), Q.s, Q.z, Q.b)
        elif L.op == "const":
            y = np.broadcast_to(Q.qconst, (N, L.rows, L.cols))
        elif L.op == "linear":
            x = xd[0]
            acc = np.matmul(x.reshape(-1, x.shape[2]), Q.wd.T).reshape(N, L.rows, L.cols) + Q.qb
            y, c = finish(acc, *Q.rs[0], Q.z, Q.b) if not Q.chan else finish_channel(acc, Q)
        elif L.op == "affine":
            acc = xd[0] * Q.wd + Q.qb
            y, c = finish(acc, *Q.rs[0], Q.z, Q.b) if not Q.chan else finish_channel(acc, Q)
        elif L.op == "add":
            (ma, n), (mb, _) = Q.rs
            acc = np.int64(ma) * xd[0] + np.int64(mb) * xd[1]
            y, c = finish(acc, 1, n, Q.z, Q.b)
        elif L.op == "relu":
            y, c = finish(np.maximum(xd[0], 0), *Q.rs[0], Q.z, Q.b)
        elif L.op == "avgpool":
            y, c = finish(xd[0].sum(axis=1, keepdims=True), *Q.rs[0], Q.z, Q.b)
        elif L.op == "split":
            y, c = finish(xd[0][:, :, L.offset:L.offset + L.width], *Q.rs[0], Q.z, Q.b)
        elif L.op == "concat":
            parts = []
            for x, (m, n) in zip(xd, Q.rs):
                p, ci = finish(x, m, n, Q.z, Q.b)
                parts.append(p)
                c += ci
            y = np.concatenate(parts, axis=2)
        elif L.op == "matmul":
            a, b = xd
            H = L.heads
            if L.transpose_b:  # a [M, H*K], b [Nn, H*K] -> [H*M, Nn]
                M, K = a.shape[1], a.shape[2] // H
                a4 = a.reshape(N, M, H, K).transpose(0, 2, 1, 3)
                b4 = b.reshape(N, b.shape[1], H, K).transpose(0, 2, 3, 1)
                acc = np.matmul(a4, b4).reshape(N, H * M, b.shape[1])
            else:  # a [H*M, K], b [K, H*Nn] -> [M, H*Nn]
                M, K, Nn = a.shape[1] // H, a.shape[2], b.shape[2] // H
                a4 = a.reshape(N, H, M, K)
                b4 = b.reshape(N, K, H, Nn).transpose(0, 2, 1, 3)
                acc = np.matmul(a4, b4).transpose(0, 2, 1, 3).reshape(N, M, H * Nn)
            y, c = finish(acc, *Q.rs[0], Q.z, Q.b)
        elif L.op == "softmax":
            x = srcs[0]
            d = x.max(axis=2, keepdims=True) - x
            e = Q.table[np.minimum(d >> np.int64(Q.t), len(Q.table) - 1)]
            S = e.sum(axis=2, keepdims=True)
            qt = (2 * e * np.int64(Q.N) + S) // (2 * S)
            top = fc_max(Q.fc, Q.b) if Q.fc else (1 << Q.b) - 1
            c = int(np.count_nonzero(qt > top))
            if Q.fc:
                y = fc_value(Q.fc, Q.b, fc_code(Q.fc, Q.b, np.minimum(qt, top)))
            else:
                y = qmin(Q.b) + np.minimum(qt, top)
        elif L.op == "layernorm":
            x = xd[0]
            C = L.cols
            S = x.sum(axis=2, keepdims=True)
            d = np.int64(C) * x - S
            V = (d * d).sum(axis=2, keepdims=True)
            # exact integer square root of V + E (Python ints: every value exact)
            r = np.array([max(1, math.isqrt(int(v) + Q.E)) for v in V.reshape(-1)],
                         dtype=np.int64).reshape(V.shape)
            n = (np.abs(d) * np.int64(1 << (Q.F + 1)) + r) // (2 * r)
            n = np.where(d < 0, -n, n)
            y, c = finish(n * Q.wd + Q.qb, *Q.rs[0], Q.z, Q.b)
        elif L.op == "gelu":
            idx = (srcs[0] - np.int64(qmin(q[L.inputs[0]].b))) >> np.int64(Q.t)
            y = Q.table[idx]
            c = int(np.count_nonzero(Q.tclamp[idx]))
        out.append(y)
        clamps.append(c)
    return out, clamps


# ---------------------------------------------------------------------------------------------------
# Check and timing


def compare(model, dump, dump_dir, bits, out):
    """Per-layer comparison with the C dump. Returns (all equal, report lines)."""
    layers = model["layers"]
    lines, ok = [], True
    N = out[0].shape[0]
    if dump.get("windows") != N:
        return False, ["windows: C dumped %s test windows, qref cut %d from the CSV" % (dump.get("windows"), N)]
    seen = set()
    for e in dump["layers"]:
        name = e["name"]
        if name not in model["index"]:
            lines.append("%-14s not a layer of the model" % name)
            ok = False
            continue
        li = model["index"][name]
        L = layers[li]
        seen.add(name)
        prob = []
        if e.get("op") != L.op:
            prob.append("op %s, model says %s" % (e.get("op"), L.op))
        if (e.get("rows"), e.get("cols")) != (L.rows, L.cols):
            prob.append("shape [%s, %s], model says [%d, %d]" % (e.get("rows"), e.get("cols"), L.rows, L.cols))
        if e.get("a_bits") != bits[li][1]:
            prob.append("a_bits %s, config resolves to %d" % (e.get("a_bits"), bits[li][1]))
        if L.op in WEIGHTED and e.get("w_bits") != bits[li][0]:
            prob.append("w_bits %s, config resolves to %d" % (e.get("w_bits"), bits[li][0]))
        if prob:
            lines.append("%-14s %s" % (name, "; ".join(prob)))
            ok = False
            continue
        path = os.path.join(dump_dir, e["file"])
        try:
            c = np.fromfile(path, dtype="<i2")
        except OSError as err:
            lines.append("%-14s %s" % (name, err))
            ok = False
            continue
        want = N * L.rows * L.cols
        if c.size != want:
            lines.append("%-14s %s holds %d values, expected %d x %d x %d = %d" %
                         (name, e["file"], c.size, N, L.rows, L.cols, want))
            ok = False
            continue
        c = c.astype(np.int64).reshape(N, L.rows * L.cols)
        p = np.ascontiguousarray(out[li]).reshape(N, L.rows * L.cols)
        diff = c != p
        nd = int(np.count_nonzero(diff))
        if nd == 0:
            lines.append("%-14s %-8s %3d bits  %9d values  equal" % (name, L.op, bits[li][1], want))
            continue
        ok = False
        w, i = np.argwhere(diff)[0]
        lines.append("%-14s %-8s %3d bits  %9d values  %d differ; first: window %d, index %d (row %d, col %d): "
                     "C %d, qref %d" % (name, L.op, bits[li][1], want, nd, w, i, i // L.cols, i % L.cols,
                                        c[w, i], p[w, i]))
    for L in layers:
        if L.name not in seen:
            lines.append("%-14s missing from dump.json" % L.name)
            ok = False
    return ok, lines


def dump_ranges(dump, model=None):
    """name -> (lo, hi) from dump.json; null (a range the C side did not compute) is left out. The model's
    fixed ranges (a fine-tuned model) replace the dump's: they are read from model.json here, not taken
    from the C engine."""
    r = {}
    for e in dump["layers"]:
        if e.get("lo") is not None and e.get("hi") is not None:
            r[e["name"]] = (float(e["lo"]), float(e["hi"]))
    if model is not None:
        r.update(model["fixed_ranges"])
    return r


def compare_eval(model, q, out, clamps, targets, path):
    """Clamp counts, accumulator widths and MSE against `mpqx eval --json` output."""
    try:
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        raise QrefError("%s: %s" % (path, e))
    ok, lines = True, []
    by_name = {e.get("name"): e for e in j.get("layers", [])}
    bound_ops = ("linear", "affine", "add", "relu", "avgpool", "matmul", "split", "concat", "layernorm")
    bad = []
    for li, L in enumerate(model["layers"]):
        e = by_name.get(L.name)
        if e is None:
            bad.append("%s missing" % L.name)
            continue
        if e.get("clipped") != clamps[li]:
            bad.append("%s clamped: C %s, qref %d" % (L.name, e.get("clipped"), clamps[li]))
        if L.op in bound_ops and "acc_bits" in e and e["acc_bits"] != bitlen(q[li].B) + 1:
            bad.append("%s acc_bits: C %s, qref %d (B = %d)" % (L.name, e["acc_bits"], bitlen(q[li].B) + 1,
                                                             q[li].B))
    o = model["index"][model["output"]]
    pred = q[o].s * (out[o].reshape(out[o].shape[0], -1).astype(np.float64) - q[o].z)
    mse = float(np.mean((pred - targets.astype(np.float64)[:, None]) ** 2))
    cm = j.get("mse")
    if not isinstance(cm, (int, float)) or abs(cm - mse) > 1e-9 * max(abs(mse), 1e-300):
        bad.append("mse: C %r, qref %r" % (cm, mse))
    if bad:
        ok = False
        lines += ["eval --json: " + b for b in bad]
    else:
        lines.append("eval --json: clamp counts and accumulator widths of every layer equal, mse %.17g "
                     "equal to 1e-9" % mse)
    return ok, lines


def cmd_check(args):
    model = load_model(args.model)
    bits = load_config(args.config, model)
    if args.time:
        ranges = dump_ranges(load_ranges(args.dump), model) if args.dump else float_ranges(
            model, bits, load_calibration(args.config, model))
        return cmd_time(args, model, bits, ranges, windows(model)[0])
    dump = load_ranges(args.dump)
    ranges = dump_ranges(dump, model)
    xwin, targets, notes = windows(model)
    q = build(model, bits, ranges, load_granularity(args.config, model))
    out, clamps = forward(model, q, xwin)
    ok, lines = compare(model, dump, args.dump, bits, out)
    if args.eval_json:
        ok2, more = compare_eval(model, q, out, clamps, targets, args.eval_json)
        ok, lines = ok and ok2, lines + more
    print("qref: %s, %s, %d test windows" % (model["path"], args.config or "uniform 8 bits", xwin.shape[0]))
    for n in notes:
        print("qref: note: " + n)
    for ln in lines:
        print("  " + ln)
    print("qref: %s" % ("every layer equal" if ok else "MISMATCH"))
    return 0 if ok else 1


def cmd_time(args, model, bits, ranges, xwin):
    t_total, t_eval, t_build = [], [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        qq = build(model, bits, ranges, load_granularity(args.config, model))
        t1 = time.perf_counter()
        forward(model, qq, xwin)
        t2 = time.perf_counter()
        t_build.append(t1 - t0)
        t_eval.append(t2 - t1)
        t_total.append(t2 - t0)
    macs = 0
    for L in model["layers"]:
        ins = [model["layers"][i] for i in L.inputs]
        if L.op == "linear":
            macs += L.rows * L.cols * ins[0].cols
        elif L.op == "matmul":
            macs += L.rows * L.cols * (ins[0].cols // L.heads if L.transpose_b else ins[0].cols)
    print(json.dumps({
        "format": "qref-time", "version": 1, "model": model["path"], "windows": int(xwin.shape[0]),
        "ranges": "dump" if args.dump else "qref float forward",
        "runs": args.runs, "median_s": statistics.median(t_total), "min_s": min(t_total),
        "forward_median_s": statistics.median(t_eval), "build_median_s": statistics.median(t_build),
        "macs": macs * int(xwin.shape[0]),
        "what": "quantization build plus the integer forward of every layer on every test window "
                "(CSV reading and windowing not timed)",
    }))
    return 0


# ---------------------------------------------------------------------------------------------------
# Self-test of the helpers on hand-computed values


def selftest():
    fails = []

    def eq(what, got, want):
        if got != want:
            fails.append("%s: got %r, want %r" % (what, got, want))

    eq("round(2.5)", round_half_away(2.5), 3)
    eq("round(-2.5)", round_half_away(-2.5), -3)
    eq("round(0.49999999999999994)", round_half_away(0.49999999999999994), 0)
    eq("round(-0.5)", round_half_away(-0.5), -1)
    eq("round(2^52+1)", round_half_away(2.0 ** 52 + 1), 2 ** 52 + 1)
    eq("round array", list(round_half_away_array([2.5, -2.5, 1.4999, -0.5, 0.49999999999999994])),
       [3.0, -3.0, 1.0, -1.0, 0.0])
    eq("bitlen", [bitlen(0), bitlen(1), bitlen(255), bitlen(256)], [0, 1, 8, 9])
    eq("qmin/qmax 8", (qmin(8), qmax(8)), (-128, 127))
    eq("qmin/qmax 2", (qmin(2), qmax(2)), (-2, 1))
    # add: Ma = 1 -> (2^14, 14); Mb = 2^-10 would keep round(2^4) = 16 < 2^11, so n rises to Mb's own
    # shift 24 (d = 10): m_a = 2^14 * 2^10, m_b = 2^14. Ma = 1, Mb = 0.75 keeps one shift: 12288 = 0.75 * 2^14
    eq("add 1 : 2^-10", add_multipliers(1.0, 2.0 ** -10, 8, 16), [(2 ** 24, 24), (2 ** 14, 24)])
    eq("add 2^-10 : 1", add_multipliers(2.0 ** -10, 1.0, 16, 8), [(2 ** 14, 24), (2 ** 24, 24)])
    eq("add 1 : 0.75", add_multipliers(1.0, 0.75, 8, 8), [(2 ** 14, 14), (12288, 14)])
    # rshift_round: half away from zero on the magnitude
    eq("rshift 5,1", rshift_round(5, 1), 3)      # 2.5 -> 3
    eq("rshift -5,1", rshift_round(-5, 1), -3)   # -2.5 -> -3
    eq("rshift 6,2", rshift_round(6, 2), 2)      # 1.5 -> 2
    eq("rshift -6,2", rshift_round(-6, 2), -2)
    eq("rshift 5,2", rshift_round(5, 2), 1)      # 1.25 -> 1
    eq("rshift 7,0", rshift_round(7, 0), 7)
    v = np.array([5, -5, 6, -6, 5, -7], dtype=np.int64)
    eq("rshift array", list(rshift_round_array(v, 1)), [3, -3, 3, -3, 3, -4])
    eq("rshift array n>=63", list(rshift_round_array(v, 70)), [0] * 6)
    # quant_param: [-1, 1] at 8 bits: s = 2/255, lo/s = -127.5 -> round -128 -> z = -128 + 128 = 0
    s, z = quant_param(-1.0, 1.0, 8)
    eq("param [-1,1]/8 s", s, 2.0 / 255.0)
    eq("param [-1,1]/8 z", z, 0)
    # [0.5, 2] widens to [0, 2]: s = 2/255, z = qmin = -128
    eq("param [0.5,2]/8", quant_param(0.5, 2.0, 8), (2.0 / 255.0, -128))
    # [-3, -1] widens to [-3, 0] at 4 bits: s = 3/15 = 0.2, lo/s = -15 -> z = -8 + 15 = 7
    eq("param [-3,-1]/4", quant_param(-3.0, -1.0, 4), (3.0 / 15.0, 7))
    # an empty range: s = 1e-6 / 255
    eq("param [0,0]/8", quant_param(0.0, 0.0, 8), (1e-6 / 255.0, -128))
    # multiplier: 0.75 = 0.75 * 2^0 -> E = 0, n = 15, m = 0.75 * 32768 = 24576
    eq("mult 0.75", multiplier(0.75), (24576, 15))
    # 1.0 = 0.5 * 2^1 -> n = 14, m = 16384
    eq("mult 1", multiplier(1.0), (16384, 14))
    # just below 1: 0.99999999 * 32768 rounds to 32768 -> (16384, 14)
    eq("mult 1-eps", multiplier(1.0 - 1e-9), (16384, 14))
    # 0.1: frexp = 0.8 * 2^-3 -> n = 18, m = round(26214.4) = 26214
    eq("mult 0.1", multiplier(0.1), (26214, 18))
    # 3e4: frexp exponent 15 -> n = 0, m = 30000
    eq("mult 3e4", multiplier(30000.0), (30000, 0))
    eq("mult 1e5", multiplier(1e5), (100000, 0))
    # quantize with clamps: s = 0.5, z = 0, 4 bits: 3.3 -> 7 (clamped from 7? 6.6 -> 7 = qmax), 5 -> 10 -> 7
    q, c = quantize_array([3.3, 5.0, -0.25, -9.0], 0.5, 0, 4)
    eq("quantize", list(q), [7, 7, -1, -8])
    eq("quantize clamps", c, 2)
    # finish: acc 100 * m 24576 >> 15 = 75, + z 3 = 78 -> clamp at 8 bits stays; at 6 bits -> 31
    eq("finish 8", int(finish(np.array([100], dtype=np.int64), 24576, 15, 3, 8)[0][0]), 78)
    r, c = finish(np.array([100, -100], dtype=np.int64), 24576, 15, 3, 6)
    eq("finish 6", (list(r), c), ([31, -32], 2))
    # softmax table: s_x = 0.5, b_y = 4 -> k = 12, E[i] = round(4095 exp(-i/2)): 4095, 2483.76, 1506.46,
    # 913.70, ...; 4095 exp(-9) = 0.505 -> 1, 4095 exp(-9.5) = 0.306 -> 0, so L = 20
    k, t, E = softmax_table(0.5, 8, 4)
    eq("softmax k,t", (k, t), (12, 0))
    eq("softmax E[0..3]", E[:4], [4095, 2484, 1506, 914])
    eq("softmax E end", (E[-2], E[-1], len(E)), (1, 0, 20))
    # float code, 3 exponent and 5 fraction bits: 65 is half way from 64 to 66 (up), 127 carries to 128
    eq("fc max", fc_max(3, 8), 4032)
    eq("fc codes", list(fc_code(3, 8, np.array([0, 63, 65, 127, 4031, 4032]))), [0, 63, 65, 96, 255, 255])
    eq("fc values", list(fc_value(3, 8, np.array([31, 63, 64, 65, 96, 255]))), [31, 63, 64, 66, 128, 4032])
    k, t, E = softmax_table(1e-3, 12, 4)
    eq("softmax t for 12-bit input", (k, t, len(E)), (12, 2, 1024))
    # softmax on two equal values at 8 bits: each gets round(255 / 2) = 128 (half up) -> -128 + 128 = 0
    Qs = QLayer()
    Qs.b, Qs.t, Qs.table = 8, 0, np.array([65535, 32768, 0], dtype=np.int64)
    x = np.array([[[5, 5]]], dtype=np.int64)
    d = x.max(axis=2, keepdims=True) - x
    e = Qs.table[np.minimum(d >> 0, 2)]
    S = e.sum(axis=2, keepdims=True)
    eq("softmax halves up", list((qmin(8) + (2 * e * 255 + S) // (2 * S)).ravel()), [0, 0])
    for f in fails:
        print("FAIL " + f)
    print("qref selftest: %d checks failed" % len(fails) if fails else "qref selftest: all checks passed")
    return 1 if fails else 0


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="qref.py", description="Cross-check mpqx's integer model against an independent NumPy one.")
    ap.add_argument("model", nargs="?", help="model.json or a sample directory")
    ap.add_argument("-c", "--config", help="mpqx-config v1 file (default: uniform 8 bits)")
    ap.add_argument("--dump", metavar="DIR", help="directory written by `mpqx eval --dump DIR`")
    ap.add_argument("--eval-json", metavar="FILE",
                    help="also compare clamp counts, accumulator widths and MSE with `mpqx eval --json`")
    ap.add_argument("--time", action="store_true", help="time the full test-set evaluation, print JSON")
    ap.add_argument("--runs", "--repeat", dest="runs", type=int, default=5,
                    help="timed runs for --time (median; default 5)")
    ap.add_argument("--selftest", action="store_true", help="check the helpers on hand-computed values")
    args = ap.parse_args(argv)
    if args.selftest:
        return selftest()
    if not args.model or not (args.dump or args.time):
        ap.print_usage(sys.stderr)
        sys.stderr.write("qref.py: MODEL and --dump DIR are required (--time alone: ranges from a float "
                         "forward)\n")
        return 2
    if args.runs < 1:
        sys.stderr.write("qref.py: --runs must be at least 1\n")
        return 2
    try:
        return cmd_check(args)
    except QrefError as e:
        sys.stderr.write("qref: %s\n" % e)
        return 1
    except (KeyError, TypeError, ValueError) as e:
        sys.stderr.write("qref: malformed input: %r\n" % (e,))
        return 1


if __name__ == "__main__":
    sys.exit(main())
