"""Quantization-aware fine-tuning of a model.json for one mpqx configuration (`mpqx_torch.py finetune`).

The forward follows the integer model of doc/quantization.md for that configuration: every layer's output
is quantized to the scale, zero point and width that mpqx itself uses (read from `mpqx eval -c CONFIG
--params`, never derived here), with the same rounding (half away from zero) and clamps; weights are
quantized at the config's `w_bits` from their own min/max as the spec says (per output row when the
config's `w_granularity` is "channel"), biases at the product scale.
Rounding and clamping pass gradients straight through (zero outside the clamp range). The epoch kept is
the one with the lowest error of this forward on the calibration windows (epoch 0: the float weights
unchanged). The result is a model directory whose `ranges` fix every calibrated activation range to the
one trained with, so that `mpqx eval DIR -c CONFIG` evaluates the integer model the training saw.
"""

import copy
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import qref  # noqa: E402  (beside this file)
import mpqx_run  # noqa: E402


class FinetuneError(Exception):
    """Bad input or a failed step: the message names the file and what went wrong."""


def find_mpqx(explicit=None):
    """The mpqx binary: --mpqx, else $MPQX, else the build tree beside tools/, else mpqx on PATH."""
    return mpqx_run.find_mpqx(explicit, FinetuneError)


def run_mpqx(mpqx, args):
    return mpqx_run.run_mpqx(mpqx, args, FinetuneError)


def quant_params(mpqx, model_path, config):
    """{layer name: entry of `mpqx eval --params`} for the config: the integer model's own parameters."""
    return mpqx_run.quant_params(mpqx, model_path, config, FinetuneError)


# ---------------------------------------------------------------------------------------------------
# Fake quantization (doc/quantization.md) with straight-through gradients


def _round(v):
    """round half away from zero, as C's round()."""
    return torch.sign(v) * torch.floor(torch.abs(v) + 0.5)


def fake_quant(x, s, z, b):
    """s * (clamp(round(x / s) + z, b) - z). The rounding passes the gradient straight through, the clamp
    passes none outside its range; a learned scale s (a tensor) gets the gradient of LSQ."""
    lo, hi = -(1 << (b - 1)), (1 << (b - 1)) - 1
    u = x / s
    r = u + (_round(u) - u).detach()
    return s * (torch.clamp(r + z, lo, hi) - z)


def fake_quant_fc(x, s, fc, b):
    """A softmax output in its float code (doc/quantization.md): s * the value of the code nearest to
    round(x / s), limited to the code's largest value; the gradient passes straight through."""
    u = x / s
    with torch.no_grad():
        top = qref.fc_max(fc, b)
        q = np.clip(np.floor(u.detach().numpy() + 0.5), 0, top).astype(np.int64)
        v = torch.tensor(qref.fc_value(fc, b, qref.fc_code(fc, b, q)).astype(np.float64), dtype=u.dtype)
    return s * (u + (v - u).detach())


def weight_qparam(w, b):
    """(s, z) of a weight tensor from its min/max, the spec's rule for weights (quant_param); no gradient."""
    with torch.no_grad():
        lo = min(float(w.min()), 0.0)
        hi = max(float(w.max()), 0.0)
        s = max(hi - lo, 1e-6) / float((1 << b) - 1)
        z = qref.clamp(qref.qmin(b) - qref.round_half_away(lo / s), b)
    return s, z


def weight_qparam_channel(w, b, op):
    """Per-channel (s, z) of a weight tensor, one per output row (a linear's row of W [O, I], an affine's
    single weight per channel): qref.quant_weights, the spec's rule, shaped to broadcast over w; no
    gradient."""
    with torch.no_grad():
        n = w.shape[0] if op == "linear" else w.numel()
        sw, zw, _ = qref.quant_weights(w.detach().numpy().astype(np.float64).reshape(n, -1), n, b)
    shape = (n, 1) if op == "linear" else w.shape
    return (torch.tensor(sw, dtype=torch.float64).reshape(shape),
            torch.tensor(zw, dtype=torch.float64).reshape(shape))


def fake_bias(bias, sp):
    """round(b / sp) * sp: the bias at the product scale, zero point 0, not clamped."""
    r = _round(bias / sp) * sp
    return bias + (r - bias).detach()


# ---------------------------------------------------------------------------------------------------
# The graph of model.json in torch, with each layer's output quantized as mpqx does


def _t(tensor, shape=None):
    a = np.asarray(tensor["data"], dtype=np.float32).astype(np.float64)  # the file's values as mpqx reads them
    return torch.tensor(a.reshape(shape or tensor["shape"]), dtype=torch.float64)


class QatGraph(nn.Module):
    """doc["layers"] as a torch module: weights and biases of linear, affine and layernorm are parameters.

    forward(x, quant=True): x [B, window, features] -> the output layer [B, outputs]; with quant, every
    layer's output is fake-quantized with params[name]["out"] and weights at params[name]["w_bits"]."""

    def __init__(self, doc, params, learn_ranges=False):
        super().__init__()
        self.doc, self.params = doc, params
        self.w = nn.ParameterDict()
        self.b = nn.ParameterDict()
        self.lo = nn.ParameterDict()  # learn_ranges: the calibrated layers' ranges, from mpqx's
        self.hi = nn.ParameterDict()
        if learn_ranges:
            for L in doc["layers"]:
                P = params.get(L["name"])
                # a softmax's range (its largest probability) sets the scale 1/N by its own rule: kept
                if P and P["range_source"] != "op" and P["op"] != "softmax":
                    key = L["name"].replace(".", "__")
                    self.lo[key] = nn.Parameter(torch.tensor(float(P["range"][0]), dtype=torch.float64))
                    self.hi[key] = nn.Parameter(torch.tensor(float(P["range"][1]), dtype=torch.float64))
        self.consts = {}
        for L in doc["layers"]:
            key = L["name"].replace(".", "__")
            if L["op"] in ("linear", "affine", "layernorm"):
                self.w[key] = nn.Parameter(_t(L["weight"]))
                self.b[key] = nn.Parameter(_t(L["bias"]).reshape(-1))
            if L["op"] == "const":
                self.consts[L["name"]] = _t(L["value"])
            if L["name"] not in params:
                raise FinetuneError("mpqx --params names no layer %r" % L["name"])
        self.out = doc["output"].get("layer", doc["layers"][-1]["name"])

    def forward(self, x, quant=True):
        vals, qp = {}, {}
        for L in self.doc["layers"]:
            name, op = L["name"], L["op"]
            key = name.replace(".", "__")
            P = self.params[name]
            a = [vals[i] for i in (L.get("inputs") or [])]
            W = B = None
            if op in ("linear", "affine", "layernorm"):
                W, B = self.w[key], self.b[key]
                if quant:
                    if P.get("w_granularity") == "channel":
                        sw, zw = weight_qparam_channel(W, P["w_bits"], op)
                        W = fake_quant(W, sw, zw, P["w_bits"])
                        sw = sw.reshape(-1)  # the bias of row o at s_x * s_w[o]
                    else:
                        sw, zw = weight_qparam(W, P["w_bits"])
                        W = fake_quant(W, sw, zw, P["w_bits"])
                    if op == "layernorm":  # the normalised value's scale s_n (doc/quantization.md)
                        C = L["shape"][1]
                        sx = math.sqrt(float(C)) / float(1 << qref.layernorm_f(C, P["a_bits"]))
                    else:
                        sx = qp[L["inputs"][0]]
                    B = fake_bias(B, sx * sw)
            if op == "input":
                y = x
            elif op == "const":
                y = self.consts[name].unsqueeze(0).expand(x.shape[0], -1, -1)
            elif op == "linear":
                y = torch.matmul(a[0], W.t()) + B
            elif op == "affine":
                y = a[0] * W + B
            elif op == "add":
                y = a[0] + a[1]
            elif op == "matmul":
                h, sc = int(L.get("heads", 1)), float(L.get("scale", 1.0))
                A, Bm = a
                n = A.shape[0]
                if L["transpose_b"]:
                    M, K = A.shape[1], A.shape[2] // h
                    y = torch.matmul(A.reshape(n, M, h, K).transpose(1, 2),
                                     Bm.reshape(n, Bm.shape[1], h, K).permute(0, 2, 3, 1)).reshape(n, h * M, -1)
                else:
                    M, K, Nn = A.shape[1] // h, A.shape[2], Bm.shape[2] // h
                    y = torch.matmul(A.reshape(n, h, M, K), Bm.reshape(n, K, h, Nn).transpose(1, 2))
                    y = y.transpose(1, 2).reshape(n, M, h * Nn)
                y = sc * y
            elif op == "softmax":
                y = torch.softmax(a[0], dim=2)
            elif op == "relu":
                y = torch.relu(a[0])
            elif op == "avgpool":
                y = a[0].mean(dim=1, keepdim=True)
            elif op == "split":
                y = a[0][:, :, L["offset"]:L["offset"] + L["width"]]
            elif op == "concat":
                y = torch.cat(a, dim=2)
            elif op == "layernorm":
                mu = a[0].mean(dim=2, keepdim=True)
                var = ((a[0] - mu) ** 2).mean(dim=2, keepdim=True)
                y = (a[0] - mu) / torch.sqrt(var + float(L.get("eps", 1e-5))) * W + B
            elif op == "gelu":
                v = a[0]
                if L.get("approximate", "none") == "tanh":
                    y = 0.5 * v * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v ** 3)))
                else:
                    y = 0.5 * v * (1.0 + torch.erf(v / math.sqrt(2.0)))
            else:
                raise FinetuneError("layer %s: op %r is not supported by finetune" % (name, op))
            if quant:
                s, z, b = self.out_qparam(name)
                fc = int(self.params[name]["out"].get("fc", 0))
                y = fake_quant_fc(y, s, fc, b) if fc else fake_quant(y, s, z, b)
                qp[name] = s
            vals[name] = y
        return vals[self.out].reshape(x.shape[0], -1)

    def out_qparam(self, name):
        """(s, z, bits) of a layer's output: mpqx's, or with learned ranges the spec's rule on them."""
        o = self.params[name]["out"]
        key = name.replace(".", "__")
        b = int(o["bits"])
        if key not in self.lo:
            return float(o["s"]), int(o["z"]), b
        lo = torch.clamp(self.lo[key], max=0.0)
        hi = torch.clamp(self.hi[key], min=0.0)
        s = torch.clamp(hi - lo, min=1e-6) / float((1 << b) - 1)
        z = qref.clamp(qref.qmin(b) - qref.round_half_away(float(lo) / float(s)), b)
        return s, z, b

    def ranges(self):
        """{layer: [lo, hi]} of the learned ranges (0 inside, as the spec widens them)."""
        return {L["name"]: [min(float(self.lo[k]), 0.0), max(float(self.hi[k]), 0.0)]
                for L in self.doc["layers"] for k in [L["name"].replace(".", "__")] if k in self.lo}

    def write_weights(self, doc):
        """doc with this module's weights and biases (rounded to float32, as mpqx reads them)."""
        doc = copy.deepcopy(doc)
        for L in doc["layers"]:
            key = L["name"].replace(".", "__")
            if key in self.w:
                for part, P in (("weight", self.w[key]), ("bias", self.b[key])):
                    v = P.detach().numpy().astype(np.float32).astype(np.float64).reshape(-1)
                    L[part]["data"] = [float(t) for t in v]
        return doc


def mse_of(net, x, y, quant=True, batch=1024):
    net.eval()
    se = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            p = net(x[i:i + batch], quant)[:, 0]
            se += float(((p - y[i:i + batch]) ** 2).sum())
    return se / max(len(x), 1)


def finetune(model_path, config, out, epochs=15, seed=1, lr=None, batch=None, mpqx=None, learn_ranges=False,
             range_lr=None, select="calib", log=print):
    """Fine-tunes model_path for config and writes the model directory out. select "calib" keeps the epoch
    best on the calibration windows, "last" the last one. Returns a summary dict."""
    t0 = time.time()
    if os.path.isdir(model_path):
        model_path = os.path.join(model_path, "model.json")
    mpqx = find_mpqx(mpqx)
    try:
        with open(model_path) as f:
            doc = json.load(f)
        with open(config) as f:
            cfg_doc = json.load(f)
    except (OSError, ValueError) as e:
        raise FinetuneError(str(e))
    params = quant_params(mpqx, model_path, config)
    try:
        m = qref.load_model(model_path)
        data = {part: qref.windows(m, k)[:2] for k, part in enumerate(("train", "calib"))}
    except qref.QrefError as e:
        raise FinetuneError(str(e))
    torch.manual_seed(seed)
    np.random.seed(seed)
    net = QatGraph(doc, params, learn_ranges)
    xtr, ytr = (torch.tensor(v.astype(np.float64)) for v in data["train"])
    xca, yca = (torch.tensor(v.astype(np.float64)) for v in data["calib"])
    n_params = sum(p.numel() for p in list(net.w.values()) + list(net.b.values()))
    if batch is None:
        batch = 64 if len(xtr) > 2000 else 32
    if lr is None:
        lr = 3e-4
    groups = [{"params": list(net.w.values()) + list(net.b.values()), "lr": lr}]
    if learn_ranges:  # ranges are numbers of order 1..10 that may need to move by several units
        groups.append({"params": list(net.lo.values()) + list(net.hi.values()), "lr": range_lr or 100 * lr})
    opt = torch.optim.Adam(groups)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    float_calib = mse_of(net, xca, yca, quant=False)
    best = (mse_of(net, xca, yca), 0)
    best_state = copy.deepcopy(net.state_dict())
    log("%s for %s: %d train, %d calib windows, %d parameters; calib mse float %.6g, quantized %.6g (epoch 0)" % (
        doc["name"], config, len(xtr), len(xca), n_params, float_calib, best[0]))
    gen = torch.Generator().manual_seed(seed)
    for ep in range(1, epochs + 1):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = torch.mean((net(xtr[idx])[:, 0] - ytr[idx]) ** 2)
            loss.backward()
            opt.step()
        sched.step()
        c = mse_of(net, xca, yca)
        mark = ""
        if c < best[0] or (select == "last" and ep == epochs):
            best, best_state, mark = (c, ep), copy.deepcopy(net.state_dict()), " *"
        log("epoch %d: calib mse quantized %.6g%s" % (ep, c, mark))
    net.load_state_dict(best_state)
    res = write_finetuned(net, doc, model_path, params, config, cfg_doc, out,
                          {"seed": seed, "epochs": epochs, "epoch": best[1], "lr": lr, "batch": batch,
                           "ranges": "learned" if learn_ranges else "calibrated"})
    check_written(mpqx, net, res)
    elapsed = time.time() - t0
    log("kept epoch %d (calib mse %.6g); wrote %s in %.1f s" % (best[1], best[0], out, elapsed))
    return {"epoch": best[1], "calib_mse": best[0], "calib_mse_epoch0": mse_of(QatGraph(doc, params), xca, yca),
            "seconds": elapsed, "config": res}


def check_written(mpqx, net, config):
    """mpqx's parameters of the written model must be the ones the training used, layer by layer."""
    out_dir = os.path.dirname(os.path.dirname(config))
    got = quant_params(mpqx, out_dir, config)
    for L in net.doc["layers"]:
        s, z, b = net.out_qparam(L["name"])
        o = got[L["name"]]["out"]
        if float(o["s"]) != float(s) or int(o["z"]) != z or int(o["bits"]) != b:
            raise FinetuneError("%s: layer %s: mpqx quantizes the output with s=%r z=%d, the training used "
                                "s=%r z=%d" % (out_dir, L["name"], o["s"], o["z"], float(s), z))


def write_finetuned(net, doc, model_path, params, config, cfg_doc, out, record):
    """The model directory: model.json with the tuned weights, the fixed ranges and the finetuned record;
    data.csv; reference.json (the float forecasts of the tuned weights); configs/ with the config."""
    import mpqx_torch as mt
    new = net.write_weights(doc)
    cfg_name = os.path.basename(config)
    ranges = {}
    for L in new["layers"]:
        P = params[L["name"]]
        if P["range_source"] != "op":  # the op's own range (const, softmax) is not a calibration
            ranges[L["name"]] = [float(P["range"][0]), float(P["range"][1])]
    ranges.update(net.ranges())
    new["ranges"] = ranges
    rec = {"config": "configs/" + cfg_name, "from": doc["name"]}
    rec.update(record)
    new["finetuned"] = rec
    new = json.loads(mt._dump(new))
    mt.check_model(new)
    src_dir = os.path.dirname(os.path.abspath(model_path))
    csv_src = os.path.join(src_dir, doc["dataset"]["csv"])
    ds = new["dataset"]
    data = mt.read_csv(csv_src, mt.used_columns(ds["columns"], ds["target"]))
    xte, yte, lte = mt.build_splits(data, ds, new["normalization"])["test"]
    pred = mt.numpy_forward(new, xte)[:, 0, 0]
    refdoc = {"format": mt.REFERENCE_FORMAT, "version": mt.VERSION, "model": "model.json", "split": "test",
              "windows": int(len(yte)), "outputs": 1,
              "targets": [float(v) for v in yte], "predictions": [float(v) for v in pred],
              "mse": float(np.mean((pred - yte) ** 2)), "persistence_mse": float(np.mean((lte - yte) ** 2))}
    new["dataset"] = dict(ds, csv="data.csv")
    mt._write_sample_dir(out, {"model.json": new, "reference.json": refdoc}, csv_src)
    dst = os.path.join(out, "configs", cfg_name)
    if os.path.abspath(config) != os.path.abspath(dst):
        shutil.copyfile(config, dst)
    return dst
