"""mpqx_import: bring a user's own PyTorch forecaster into mpqx by tracing it with torch.fx.

Used by ``tools/mpqx_torch.py import`` (doc/import.md).  The user's module is built and loaded as it is
(no edits to their code), traced symbolically with torch.fx (torch.nn layers such as Linear, BatchNorm1d,
AdaptiveAvgPool1d, Dropout are leaf modules), run once on real windows so that every node has a concrete
value, and then mapped node by node onto the op table of doc/model-format.md.

How the mapping works.  mpqx keeps every layer's output of one window as a 2-D row-major buffer [R, C].
Each traced tensor is described by the mpqx layer that holds its values and by *atoms*: the layer's rows
and columns are sequences of atoms (an axis with a size: the window's time steps, the channels, a head,
...), and each torch axis of the tensor is a group of atoms, the batch axis being one special atom.  A
view or reshape regroups atoms (splitting one when a dimension is split, e.g. d_model -> heads x head
width); permute and transpose reorder the groups; nothing is copied.  An op is mapped when the atoms of
its operands line up with what the mpqx op computes: a linear needs its last torch axis to be the layer's
columns and the rest its rows; a matmul or einsum is classified into batch/head/free/contracted axes and
must be one of mpqx's two matmul forms (attention scores, Q K^T per head; or attention times values,
heads concatenated); a mean over the rows is an avgpool; BatchNorm1d over the channel axis folds to an
affine; a multiplication by a number is folded into the matmul it scales (or becomes an affine).
Constants, buffers and parameters used as tensors are evaluated once and become `const` layers.
Nodes whose result never reaches the output are dropped and reported.  Anything else stops the import
with a message that names the op, the module path and the line of the user's source.
"""

import dis
import importlib
import inspect
import importlib.util
import linecache
import math
import operator
import os
import sys
import traceback

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

SUPPORTED = (
    "nn.Linear / F.linear (with or without bias)",
    "nn.BatchNorm1d in eval mode on [B, C] or [B, C, T] (folded to an affine)",
    "nn.ReLU / F.relu / torch.relu / .relu()",
    "nn.GELU / F.gelu (exact or tanh)",
    "nn.LayerNorm / F.layer_norm over the last axis",
    "nn.TransformerEncoderLayer / nn.TransformerEncoder without masks (batch_first true or false, norm_first "
    "true or false, relu or gelu, the packed in_proj split into q, k, v; the encoder's final norm)",
    "softmax over the last axis (nn.Softmax, F.softmax, torch.softmax, .softmax())",
    "torch.matmul / @ / torch.bmm / torch.einsum in the two attention forms (Q K^T per head; P V, heads "
    "concatenated)",
    "mean over time (.mean / torch.mean) and nn.AdaptiveAvgPool1d(1) / F.adaptive_avg_pool1d(x, 1)",
    "residual add of two activations; add or subtract a constant, buffer or parameter (positional table)",
    "multiply or divide by a number (folded into the matmul it scales, else an affine); multiply by a "
    "per-channel constant (affine)",
    "view / reshape / permute / transpose / flatten / squeeze / unsqueeze / contiguous / clone",
    "dropout (removed: eval mode), nn.Identity",
    "any computation on constants only (evaluated once), shape queries (.shape, .size(), .dim())",
)


class ImportError_(Exception):
    """A model that cannot be imported; the message is for the user as it is."""


# ---------------------------------------------------------------------------------------------------
# Loading the user's code


def load_class(spec):
    """'FILE.py:CLASS' -> the class, importing FILE as the user would (package-relative imports work)."""
    if ":" not in spec:
        raise ImportError_("--module %s: expected FILE.py:CLASS" % spec)
    path, cls = spec.rsplit(":", 1)
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise ImportError_("--module %s: no such file" % path)
    d = os.path.dirname(path)
    mod_name = os.path.splitext(os.path.basename(path))[0]
    pkg_parts = []
    while os.path.isfile(os.path.join(d, "__init__.py")):
        pkg_parts.insert(0, os.path.basename(d))
        d = os.path.dirname(d)
    for p in (d, os.path.dirname(path)):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        if pkg_parts:
            module = importlib.import_module(".".join(pkg_parts + [mod_name]))
        else:
            s = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(s)
            sys.modules[mod_name] = module
            s.loader.exec_module(module)
    except Exception as e:
        raise ImportError_("--module %s: importing it failed: %s: %s" % (path, type(e).__name__, e))
    if not hasattr(module, cls):
        raise ImportError_("--module %s: no class %r in it" % (path, cls))
    return getattr(module, cls)


def state_dict_of(ck, path):
    """The state_dict inside a checkpoint: a plain one, or under 'state_dict' / 'model_state_dict'."""
    if isinstance(ck, nn.Module):
        return ck.state_dict()
    if isinstance(ck, dict):
        for k in ("state_dict", "model_state_dict"):
            if isinstance(ck.get(k), dict):
                return ck[k]
        if ck and all(isinstance(v, torch.Tensor) for v in ck.values()):
            return ck
    raise ImportError_("%s: not a state_dict, nor a dict holding one under 'state_dict' or "
                       "'model_state_dict'" % path)


def load_weights(model, state, path, against="the model built from --module/--kwargs"):
    """load_state_dict(strict) with the differences listed instead of a traceback."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = ["%s: checkpoint %s, model %s" % (k, tuple(state[k].shape), tuple(own[k].shape))
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        msg = ["%s does not match %s:" % (path, against)]
        if missing:
            msg.append("  missing keys: " + ", ".join(missing[:12]) + (" ..." if len(missing) > 12 else ""))
        if unexpected:
            msg.append("  unexpected keys: " + ", ".join(unexpected[:12]) +
                       (" ..." if len(unexpected) > 12 else ""))
        if shapes:
            msg.append("  different shapes: " + "; ".join(shapes[:8]))
        raise ImportError_("\n".join(msg))
    model.load_state_dict(state, strict=True)


# ---------------------------------------------------------------------------------------------------
# Tracing


_THIS = os.path.abspath(__file__)
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))


class _Tracer(fx.Tracer):
    """torch.fx tracer that records, per node, the module path it was created in and the user's line."""

    def __init__(self):
        super().__init__()
        self.scope = [""]
        self.proxy_buffer_attributes = True  # buffers keep their names (const layers named after them)

    def is_leaf_module(self, m, qualname):
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        return m.__module__.startswith("torch.nn")

    def call_module(self, m, forward, args, kwargs):
        self.scope.append(self.path_of_module(m))
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self.scope.pop()

    def iter(self, obj):
        """`b, t, d = x.shape` on a proxy: torch.fx finds the unpacking by the caller's bytecode, which its
        own lookup misses on Python 3.11 (instruction offsets count inline caches); look it up by offset."""
        frame = inspect.currentframe().f_back.f_back
        for inst in dis.get_instructions(frame.f_code):
            if inst.offset == frame.f_lasti and inst.opname == "UNPACK_SEQUENCE":
                return (obj[i] for i in range(inst.argval))
        return super().iter(obj)

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        node.meta["mpqx_scope"] = self.scope[-1]
        node.meta["mpqx_src"] = _user_frame()
        return node


def _user_frame():
    for fs in reversed(traceback.extract_stack()):
        f = os.path.abspath(fs.filename)
        if f == _THIS or f.startswith(_TORCH_DIR) or fs.filename.startswith("<"):
            continue
        return (fs.filename, fs.lineno)
    return None


def trace(model):
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as e:
        raise ImportError_("torch.fx could not trace %s: %s: %s (data-dependent control flow is not "
                           "traceable; see doc/import.md)" % (type(model).__name__, type(e).__name__, e))
    return fx.GraphModule(tracer.root, graph)


class _Recorder(fx.Interpreter):
    def __init__(self, gm):
        super().__init__(gm, garbage_collect_values=False)


def run_concrete(gm, x):
    """Runs the traced graph on x; returns {node: value}."""
    r = _Recorder(gm)
    with torch.no_grad():
        r.run(x)
    return r.env


# ---------------------------------------------------------------------------------------------------
# Atoms and abstract values

class Atom:
    """An axis of an mpqx buffer; split into parts when a view splits it (a refinement, never a copy)."""
    _n = 0

    def __init__(self, size, tag):
        self.size, self.tag, self.parts = int(size), tag, None
        Atom._n += 1
        self.id = Atom._n

    def leaves(self):
        if self.parts is None:
            return [self]
        return [a for p in self.parts for a in p.leaves()]

    def __repr__(self):
        return "%s%d:%d" % (self.tag, self.id, self.size)


BATCH = Atom(0, "batch")


def leaves(atoms):
    return [a for x in atoms for a in (x.leaves() if x is not BATCH else [x])]


def _prod(atoms):
    p = 1
    for a in atoms:
        p *= a.size
    return p


def new_atoms(size, tag):
    return [] if size == 1 else [Atom(size, tag)]


class Act:
    """A traced tensor that depends on the input window: values held by mpqx layer `layer` (whose memory
    is rows x cols atoms), torch axes `axes` (tuples of atoms; (BATCH,) for the batch axis), and a
    pending multiplication by `scale` not yet applied to the layer's values."""

    def __init__(self, layer, axes, scale=1.0):
        self.layer, self.axes, self.scale = layer, [tuple(a) for a in axes], scale

    def with_axes(self, axes):
        return Act(self.layer, axes, self.scale)

    def torch_leaves(self):
        return [a for a in leaves([x for ax in self.axes for x in ax]) if a is not BATCH]

    def canonical(self):
        """True when torch's element order (batch aside) is the buffer's memory order."""
        return self.torch_leaves() == leaves(self.layer.rows + self.layer.cols)


class Const:
    """A traced value that does not depend on the input (a tensor or a Python value) and where it came
    from (the parameter or buffer name, for const layer names)."""

    def __init__(self, value, origin=None):
        self.value, self.origin = value, origin


class Layer:
    def __init__(self, name, op, inputs, rows, cols, **fields):
        self.name, self.op, self.inputs = name, op, inputs
        self.rows, self.cols = list(rows), list(cols)
        self.fields = fields

    @property
    def shape(self):
        return [_prod(leaves(self.rows)), _prod(leaves(self.cols))]


# ---------------------------------------------------------------------------------------------------
# The mapper


def _np(t):
    return t.detach().cpu().numpy().astype(np.float64)


def _tensor(arr):
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ImportError_("a non-finite value in a tensor")
    return {"shape": list(arr.shape), "data": [float(v) for v in arr.reshape(-1)]}


def _sanitize(name):
    s = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in name).strip(".") or "layer"
    if len(s) > 63:  # mpqx names are at most 63 characters: keep the end, abbreviate the start
        parts = s.split(".")
        while len(".".join(parts)) > 63 and len(parts) > 1:
            parts[0] = parts[0][:1]
            if len(".".join(parts)) > 63:
                parts = parts[1:]
        s = ".".join(parts)[-63:]
    return s


def _base(node):
    """'einsum_1' -> 'einsum'."""
    n = node.name
    head, _, tail = n.rpartition("_")
    return head if head and tail.isdigit() else n


def _target_name(node):
    t = node.target
    if node.op == "call_method":
        return "Tensor.%s" % t
    if node.op == "call_module":
        return t
    mod = getattr(t, "__module__", None) or ""
    name = getattr(t, "__name__", str(t))
    if mod in ("_operator", "operator"):
        return "operator.%s" % name
    if mod.startswith("torch"):
        return "%s.%s" % (mod.replace("torch._C._nn", "torch.nn.functional")
                          .replace("torch._C._VariableFunctions", "torch"), name)
    return "%s.%s" % (mod, name) if mod else name


_IDENTITY_MODULES = tuple(getattr(nn, n) for n in ("Dropout", "Dropout1d", "Dropout2d", "AlphaDropout",
                                                   "FeatureAlphaDropout", "Identity") if hasattr(nn, n))


def _as_const(v):
    return v if isinstance(v, (Act, Const)) else Const(v)


class Mapper:
    def __init__(self, gm, env, window, features):
        self.gm, self.env = gm, env
        self.modules = dict(gm.named_modules())
        self.window, self.features = window, features
        self.layers = []
        self.names = set()
        self.counters = {}
        self.vals = {}
        self.notes = []

    # --- helpers

    def fail(self, node, what):
        scope = node.meta.get("mpqx_scope", "")
        if node.op == "call_module":
            scope = node.target
            m = self.modules.get(node.target)
            what_op = "module %s (%s)" % (node.target, type(m).__name__ if m is not None else "?")
        else:
            what_op = "op %s" % _target_name(node)
        src = node.meta.get("mpqx_src")
        where = ""
        if src:
            line = linecache.getline(src[0], src[1]).strip()
            where = " at %s:%d%s" % (src[0], src[1], (": " + line) if line else "")
        raise ImportError_("unsupported %s in %s%s: %s\nsupported ops and patterns:\n  - %s" % (
            what_op, scope or "the top-level forward", where, what, "\n  - ".join(SUPPORTED)))

    def unique(self, name):
        name = _sanitize(name)
        if name not in self.names:
            self.names.add(name)
            return name
        i = 1
        while _sanitize("%s_%d" % (name, i)) in self.names:
            i += 1
        name = _sanitize("%s_%d" % (name, i))
        self.names.add(name)
        return name

    def fn_name(self, node, base=None):
        scope = node.meta.get("mpqx_scope", "")
        b = base or _base(node)
        return (scope + "." + b) if scope else b

    def add_layer(self, name, op, inputs, rows, cols, **fields):
        L = Layer(self.unique(name), op, [i.name for i in inputs], rows, cols, **fields)
        self.layers.append(L)
        return L

    def shape_of(self, node):
        v = self.env[node]
        return tuple(v.shape)

    def check_axes(self, node, act):
        """Asserts that the atoms of act describe the concrete shape of node's value."""
        want = self.shape_of(node)
        got = tuple(self.batch_n if ax == (BATCH,) else _prod(leaves(ax)) for ax in act.axes)
        if got != want:
            raise AssertionError("internal: %s: atoms %s for shape %s" % (node.name, got, want))
        return act

    def materialize(self, node, act):
        """Applies a pending scale as an affine layer (weight = scale, bias 0)."""
        if act.scale == 1.0:
            return act
        if not act.canonical():
            self.fail(node, "a scaled tensor in a permuted layout")
        c = act.layer.shape[1]
        L = self.add_layer(act.layer.name + ".scale", "affine", [act.layer], act.layer.rows,
                           act.layer.cols, weight=_tensor(np.full(c, act.scale)), bias=_tensor(np.zeros(c)))
        return Act(L, act.axes)

    def const_layer(self, node, act, const, name_hint):
        """Materialises a constant broadcast to act's layout as a const layer."""
        c = const.value
        if not isinstance(c, torch.Tensor):
            c = torch.tensor(float(c))
        shape = list(self.shape_of(node))
        bi = [i for i, ax in enumerate(act.axes) if ax == (BATCH,)][0]
        if c.dim() >= len(shape) - bi and c.dim() > 0:
            k = c.dim() - (len(shape) - bi)  # torch aligns trailing axes
            if k >= 0 and c.shape[k] != 1:
                self.fail(node, "a constant with a batch dimension of its own")
        shape[bi] = 1
        try:
            full = torch.broadcast_to(c.detach().to(torch.float64), shape)
        except RuntimeError as e:
            self.fail(node, "constant of shape %s does not broadcast to %s (%s)" % (tuple(c.shape), shape, e))
        if not act.canonical():
            self.fail(node, "a constant combined with an activation in a permuted layout")
        R, C = act.layer.shape
        arr = full.detach().reshape(R, C).numpy()
        name = const.origin or self.fn_name(node, "const")
        return self.add_layer(name, "const", [], act.layer.rows, act.layer.cols, value=_tensor(arr))

    def get(self, a):
        if isinstance(a, fx.Node):
            return self.vals[a]
        return Const(a)

    # --- the pass

    def run(self, out_node):
        live = set()
        stack = [out_node]
        while stack:
            n = stack.pop()
            if n in live:
                continue
            live.add(n)
            stack.extend(n.all_input_nodes)
        self.dead = [n for n in self.gm.graph.nodes if n not in live]
        for node in self.gm.graph.nodes:
            if node not in live:
                continue
            self.vals[node] = self.map_node(node)
        return self.vals[out_node]

    def map_node(self, node):
        if node.op == "placeholder":
            if self.layers:
                self.fail(node, "a forward with more than one tensor argument")
            x = self.env[node]
            if not isinstance(x, torch.Tensor) or tuple(x.shape[1:]) != (self.window, self.features):
                self.fail(node, "the input is expected as [batch, window, features]")
            self.batch_n = x.shape[0]
            t, f = new_atoms(self.window, "t"), new_atoms(self.features, "f")
            L = self.add_layer(node.name, "input", [], t, f)
            return Act(L, [(BATCH,), tuple(t), tuple(f)])
        if node.op == "get_attr":
            return Const(self.env[node], node.target)
        if node.op == "output":
            a = node.args[0]
            v = self.get(a)
            if not isinstance(v, Act):
                self.fail(node, "the output does not depend on the input")
            return v
        args = [self.get(a) if isinstance(a, fx.Node) else a for a in node.args]
        flat = []
        fx.node.map_aggregate(node.args, lambda a: flat.append(a) if isinstance(a, fx.Node) else None)
        fx.node.map_aggregate(node.kwargs, lambda a: flat.append(a) if isinstance(a, fx.Node) else None)
        acts = [self.vals[a] for a in flat if isinstance(self.vals[a], Act)]
        if not acts:  # constant folding: the concrete value is what torch computed
            origins = [self.vals[a].origin for a in flat if self.vals[a].origin]
            return Const(self.env[node], origins[0] if origins else None)
        kw = {k: (self.get(v) if isinstance(v, fx.Node) else v) for k, v in node.kwargs.items()}
        if node.op == "call_module":
            return self.map_module(node, args, kw)
        name = node.target if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
        return self.map_function(node, name, args, kw)

    # --- modules

    def map_module(self, node, args, kw):
        m = self.modules[node.target]
        x = args[0] if args else None
        if not isinstance(x, Act) or len([a for a in args if isinstance(a, Act)]) != 1:
            self.fail(node, "expected one activation argument")
        if isinstance(m, _IDENTITY_MODULES):
            return x
        if isinstance(m, nn.Linear):
            b = m.bias if m.bias is not None else torch.zeros(m.out_features)
            return self.linear(node, x, m.weight, b, node.target)
        if isinstance(m, nn.ReLU):
            return self.unary(node, x, "relu", node.target)
        if isinstance(m, nn.GELU):
            return self.unary(node, x, "gelu", node.target, approximate=m.approximate)
        if isinstance(m, nn.LayerNorm):
            return self.layernorm(node, x, m.normalized_shape, m.weight, m.bias, m.eps, node.target)
        if isinstance(m, (nn.TransformerEncoderLayer, nn.TransformerEncoder)):
            if len(args) > 1 or any(v is not None for v in kw.values()):
                self.fail(node, "a mask or padding mask (mpqx attends over the whole window)")
            layers = [m] if isinstance(m, nn.TransformerEncoderLayer) else list(m.layers)
            names = [node.target] if isinstance(m, nn.TransformerEncoderLayer) else \
                ["%s.layers.%d" % (node.target, i) for i in range(len(layers))]
            bf = layers[0].self_attn.batch_first
            x = self.materialize(node, x)
            self.seq_layout(node, x, bf)
            for lay, nm in zip(layers, names):
                x = self.encoder_layer(node, x, lay, nm)
            if isinstance(m, nn.TransformerEncoder) and m.norm is not None:
                x = self.norm_2d(node, x, m.norm, node.target + ".norm")
            return self.check_axes(node, x)
        if isinstance(m, nn.Softmax):
            return self.softmax(node, x, m.dim, node.target)
        if isinstance(m, nn.BatchNorm1d):
            return self.batchnorm(node, x, m)
        if isinstance(m, nn.AdaptiveAvgPool1d):
            size = m.output_size if isinstance(m.output_size, int) else m.output_size[0]
            if size != 1:
                self.fail(node, "AdaptiveAvgPool1d(%s): only output size 1 (a mean over time)" % size)
            return self.mean(node, x, [len(x.axes) - 1], True, node.target)
        self.fail(node, "no mapping for %s" % type(m).__name__)

    # --- functions and methods

    def map_function(self, node, name, args, kw):
        a0 = args[0] if args else kw.get("input")
        if name in ("contiguous", "clone", "float", "detach"):
            return a0
        if name in ("dropout", "dropout1d", "dropout2d", "feature_alpha_dropout", "alpha_dropout"):
            return a0
        if name in ("size", "dim") or (name == "getattr" and len(args) > 1 and args[1] in ("shape", "ndim")):
            return Const(self.env[node])
        if name == "getitem":
            if isinstance(a0, Act):
                idx = args[1]
                idx = idx if isinstance(idx, tuple) else (idx,)
                if all(isinstance(i, slice) and i == slice(None) for i in idx):
                    return a0
                self.fail(node, "indexing an activation (only full slices)")
            return Const(self.env[node])
        if name in ("view", "reshape", "flatten", "squeeze", "unsqueeze", "expand_as"):
            if name == "expand_as":
                self.fail(node, "expand_as of an activation")
            return self.reshape(node, a0)
        if name in ("permute", "transpose"):
            return self.permute(node, a0, name, args[1:], kw)
        if name == "t" and len(a0.axes) == 2:
            return self.permute(node, a0, "permute", [(1, 0)], {})
        if name in ("relu", "relu_"):
            return self.unary(node, self.materialize(node, a0), "relu", self.fn_name(node, "relu"))
        if name == "gelu":
            approx = kw.get("approximate", args[1] if len(args) > 1 else "none")
            return self.unary(node, a0, "gelu", self.fn_name(node, "gelu"), approximate=approx)
        if name == "layer_norm":
            shape = args[1] if len(args) > 1 else kw.get("normalized_shape")
            w = args[2] if len(args) > 2 else kw.get("weight")
            b = args[3] if len(args) > 3 else kw.get("bias")
            eps = args[4] if len(args) > 4 else kw.get("eps", 1e-5)
            for t in (w, b):
                if t is not None and not isinstance(t, Const):
                    self.fail(node, "layer_norm with a weight that depends on the input")
            return self.layernorm(node, a0, shape, w.value if w is not None else None,
                                  b.value if b is not None else None, eps, self.fn_name(node, "layer_norm"))
        if name == "softmax":
            dim = args[1] if len(args) > 1 else kw.get("dim")
            return self.softmax(node, a0, dim, self.fn_name(node, "softmax"))
        if name in ("matmul", "bmm"):
            return self.matmul(node, args[0], args[1])
        if name == "einsum":
            eq = args[0]
            ops = list(args[1:])
            if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
                ops = list(ops[0])
            ops = [self.get(o) if isinstance(o, fx.Node) else o for o in ops]
            return self.einsum(node, eq, ops)
        if name == "mean":
            dim = args[1] if len(args) > 1 else kw.get("dim")
            keep = (args[2] if len(args) > 2 else kw.get("keepdim", False))
            if dim is None:
                self.fail(node, "a mean over every axis")
            dims = list(dim) if isinstance(dim, (list, tuple)) else [dim]
            return self.mean(node, a0, dims, keep, self.fn_name(node, "mean"))
        if name == "adaptive_avg_pool1d":
            size = args[1] if len(args) > 1 else kw.get("output_size")
            size = size if isinstance(size, int) else size[0]
            if size != 1:
                self.fail(node, "adaptive_avg_pool1d to %s: only 1 (a mean over time)" % size)
            return self.mean(node, a0, [len(a0.axes) - 1], True, self.fn_name(node, "pool"))
        if name == "linear":
            w = args[1] if len(args) > 1 else kw.get("weight")
            b = args[2] if len(args) > 2 else kw.get("bias")
            if not isinstance(w, Const) or (b is not None and not isinstance(b, (Const,))):
                self.fail(node, "F.linear with a weight that depends on the input")
            wv = w.value
            bv = b.value if isinstance(b, Const) and b.value is not None else torch.zeros(wv.shape[0])
            return self.linear(node, a0, wv, bv, w.origin.rsplit(".", 1)[0] if w.origin else
                               self.fn_name(node, "linear"))
        if name in ("add", "sub", "iadd", "isub", "radd"):
            alpha = kw.get("alpha", 1)
            if alpha != 1:
                self.fail(node, "add with alpha")
            return self.add(node, args[0], args[1], name in ("sub", "isub"))
        if name in ("mul", "imul", "truediv", "div", "itruediv"):
            return self.mul(node, args[0], args[1], name in ("truediv", "div", "itruediv"))
        self.fail(node, "no mapping for %s" % _target_name(node))

    # --- op mappings

    def reshape(self, node, x):
        shape = self.shape_of(node)
        seq = [a for ax in x.axes for a in (ax if ax == (BATCH,) else leaves(ax))]
        batch_n = self.batch_n
        groups, i = [], 0
        for s in shape:
            g, p = [], 1
            while p < s or (i < len(seq) and seq[i] is not BATCH and seq[i].size == 1):
                if i >= len(seq):
                    break
                a = seq[i]
                if a is BATCH:
                    if g or s != batch_n:
                        self.fail(node, "a reshape that merges or splits the batch axis")
                    g, p, i = [BATCH], s, i + 1
                    break
                if p * a.size <= s:
                    g.append(a)
                    p *= a.size
                    i += 1
                elif s % p == 0 and a.size % (s // p) == 0:
                    outer = s // p
                    a.parts = [Atom(outer, a.tag), Atom(a.size // outer, a.tag)]
                    seq[i:i + 1] = a.parts
                else:
                    self.fail(node, "a reshape that does not split axes evenly")
            if p != s:
                self.fail(node, "a reshape the mapper cannot follow")
            groups.append(tuple(g))
        if i != len(seq):
            self.fail(node, "a reshape the mapper cannot follow")
        return self.check_axes(node, x.with_axes(groups))

    def permute(self, node, x, name, rest, kw):
        n = len(x.axes)
        if name == "transpose":
            d0, d1 = (rest + [kw.get("dim0"), kw.get("dim1")])[:2]
            d0, d1 = d0 % n, d1 % n
            perm = list(range(n))
            perm[d0], perm[d1] = perm[d1], perm[d0]
        else:
            perm = list(rest[0]) if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else list(rest)
            perm = [p % n for p in perm]
        return self.check_axes(node, x.with_axes([x.axes[p] for p in perm]))

    def two_d(self, node, x, what):
        """x canonical with its last torch axis the layer's columns: the layout of a row-wise op."""
        x = x if isinstance(x, Act) else None
        if x is None or not x.canonical() or leaves(x.axes[-1]) != leaves(x.layer.cols):
            self.fail(node, "%s on a tensor whose last axis is not a whole buffer row (a permuted layout)" % what)

    def linear(self, node, x, w, b, name):
        x = self.materialize(node, x)
        self.two_d(node, x, "a linear layer")
        w, b = _np(w), _np(b)
        o = w.shape[0]
        cols = new_atoms(o, "c")
        L = self.add_layer(name, "linear", [x.layer], x.layer.rows, cols,
                           weight=_tensor(w), bias=_tensor(b.reshape(o)))
        return self.check_axes(node, Act(L, x.axes[:-1] + [tuple(cols)]))

    def unary(self, node, x, op, name, **fields):
        x = self.materialize(node, x)
        if op == "gelu" and fields.get("approximate", "none") not in ("none", "tanh"):
            self.fail(node, "gelu with approximate=%r" % fields.get("approximate"))
        L = self.add_layer(name, op, [x.layer], x.layer.rows, x.layer.cols, **fields)
        return self.check_axes(node, Act(L, x.axes))

    def layernorm(self, node, x, shape, w, b, eps, name):
        x = self.materialize(node, x)
        self.two_d(node, x, "a layer norm")
        shape = tuple(shape) if isinstance(shape, (list, tuple, torch.Size)) else (shape,)
        if shape != (_prod(leaves(x.layer.cols)),):
            self.fail(node, "a layer norm over %s, not over the last axis alone" % (shape,))
        return self.check_axes(node, self._ln(x, w, b, eps, name))

    def _ln(self, x, w, b, eps, name):
        c = x.layer.shape[1]
        w = _np(w) if w is not None else np.ones(c)
        b = _np(b) if b is not None else np.zeros(c)
        L = self.add_layer(name, "layernorm", [x.layer], x.layer.rows, x.layer.cols,
                           weight=_tensor(w.reshape(c)), bias=_tensor(b.reshape(c)), eps=float(eps))
        return Act(L, x.axes)

    # --- nn.TransformerEncoderLayer / nn.TransformerEncoder: mapped as a whole, from their parameters

    def seq_layout(self, node, x, batch_first):
        """x must be [batch, time, d] (batch_first) or [time, batch, d], in the buffer's order."""
        ax = x.axes
        want_b = 0 if batch_first else 1
        if len(ax) != 3 or ax[want_b] != (BATCH,) or leaves(ax[1 - want_b]) != leaves(x.layer.rows) or \
                leaves(ax[2]) != leaves(x.layer.cols):
            self.fail(node, "the encoder's input is not [%s] in the order of the window's buffer" %
                      ("batch, time, d" if batch_first else "time, batch, d"))

    def _lin(self, x, w, b, name):
        w, b = _np(w), _np(b) if b is not None else np.zeros(w.shape[0])
        cols = new_atoms(w.shape[0], "c")
        L = self.add_layer(name, "linear", [x.layer], x.layer.rows, cols, weight=_tensor(w),
                           bias=_tensor(b.reshape(-1)))
        return Act(L, x.axes[:-1] + [tuple(cols)])

    def _add(self, a, b, name):
        L = self.add_layer(name, "add", [a.layer, b.layer], a.layer.rows, a.layer.cols)
        return Act(L, a.axes)

    def norm_2d(self, node, x, ln, name):
        if not isinstance(ln, nn.LayerNorm):
            self.fail(node, "an encoder norm that is not nn.LayerNorm (%s)" % type(ln).__name__)
        if tuple(ln.normalized_shape) != (x.layer.shape[1],):
            self.fail(node, "a layer norm over %s" % (tuple(ln.normalized_shape),))
        return self._ln(x, ln.weight, ln.bias, ln.eps, name)

    def encoder_layer(self, node, x, lay, p):
        sa = lay.self_attn
        if not sa._qkv_same_embed_dim or sa.bias_k is not None or sa.add_zero_attn:
            self.fail(node, "self-attention with separate q/k/v sizes, bias_k/bias_v or add_zero_attn")
        d, h = sa.embed_dim, sa.num_heads
        act = lay.activation
        if act is F.relu or isinstance(act, nn.ReLU):
            act_op, fields = "relu", {}
        elif act is F.gelu or isinstance(act, nn.GELU):
            act_op, fields = "gelu", {"approximate": getattr(act, "approximate", "none")}
        else:
            self.fail(node, "an encoder activation other than relu or gelu (%r)" % (act,))
        W, B = sa.in_proj_weight, sa.in_proj_bias
        Bs = [None] * 3 if B is None else [B[i * d:(i + 1) * d] for i in range(3)]
        T = x.layer.rows

        def attention(y):
            q = self._lin(y, W[:d], Bs[0], p + ".self_attn.q")
            k = self._lin(y, W[d:2 * d], Bs[1], p + ".self_attn.k")
            v = self._lin(y, W[2 * d:], Bs[2], p + ".self_attn.v")
            sc = self.add_layer(p + ".self_attn.scores", "matmul", [q.layer, k.layer], new_atoms(h, "h") + T, T,
                                transpose_b=True, scale=1.0 / math.sqrt(d // h), heads=h)
            sm = self.add_layer(p + ".self_attn.softmax", "softmax", [sc], sc.rows, sc.cols)
            ctx = self.add_layer(p + ".self_attn.ctx", "matmul", [sm, v.layer], T, new_atoms(d, "c"),
                                 transpose_b=False, scale=1.0, heads=h)
            c = Act(ctx, y.axes[:-1] + [tuple(ctx.cols)])
            return self._lin(c, sa.out_proj.weight, sa.out_proj.bias, p + ".self_attn.out_proj")

        def ffn(y):
            f1 = self._lin(y, lay.linear1.weight, lay.linear1.bias, p + ".linear1")
            a = self.add_layer(p + "." + act_op, act_op, [f1.layer], f1.layer.rows, f1.layer.cols, **fields)
            return self._lin(Act(a, f1.axes), lay.linear2.weight, lay.linear2.bias, p + ".linear2")

        n1 = lambda y: self.norm_2d(node, y, lay.norm1, p + ".norm1")  # noqa: E731
        n2 = lambda y: self.norm_2d(node, y, lay.norm2, p + ".norm2")  # noqa: E731
        if lay.norm_first:
            x = self._add(x, attention(n1(x)), p + ".add1")
            return self._add(x, ffn(n2(x)), p + ".add2")
        x = n1(self._add(x, attention(x), p + ".add1"))
        return n2(self._add(x, ffn(x), p + ".add2"))

    def softmax(self, node, x, dim, name):
        if dim is None or dim % len(x.axes) != len(x.axes) - 1:
            self.fail(node, "softmax over an axis other than the last")
        x = self.materialize(node, x)
        self.two_d(node, x, "softmax")
        L = self.add_layer(name, "softmax", [x.layer], x.layer.rows, x.layer.cols)
        return self.check_axes(node, Act(L, x.axes))

    def batchnorm(self, node, x, bn):
        if bn.training or not bn.track_running_stats or bn.running_mean is None:
            self.fail(node, "BatchNorm1d without running statistics")
        x = self.materialize(node, x)
        ax = x.axes
        if len(ax) not in (2, 3) or leaves(ax[1]) != leaves(x.layer.cols) or \
                (len(ax) == 3 and leaves(ax[2]) != leaves(x.layer.rows)) or \
                (len(ax) == 2 and leaves(x.layer.rows)):
            self.fail(node, "BatchNorm1d whose channel axis is not the buffer's columns")
        gamma = _np(bn.weight) if bn.weight is not None else np.ones(bn.num_features)
        beta = _np(bn.bias) if bn.bias is not None else np.zeros(bn.num_features)
        w = gamma / np.sqrt(_np(bn.running_var) + bn.eps)
        b = beta - _np(bn.running_mean) * w
        L = self.add_layer(node.target, "affine", [x.layer], x.layer.rows, x.layer.cols,
                           weight=_tensor(w), bias=_tensor(b))
        return self.check_axes(node, Act(L, ax))

    def mean(self, node, x, dims, keep, name):
        x = self.materialize(node, x)
        n = len(x.axes)
        dims = sorted(d % n for d in dims)
        red = [a for d in dims for a in leaves(x.axes[d])]
        if BATCH in red or red != leaves(x.layer.rows) or not red:
            self.fail(node, "a mean over an axis other than the window's time steps")
        L = self.add_layer(name, "avgpool", [x.layer], [], x.layer.cols)
        axes = [(() if i in dims else ax) for i, ax in enumerate(x.axes) if keep or i not in dims]
        return self.check_axes(node, Act(L, axes))

    def add(self, node, a, b, sub):
        a, b = _as_const(a), _as_const(b)
        if isinstance(a, Act) and isinstance(b, Act):
            if sub:
                self.fail(node, "the difference of two activations (mpqx has no subtract)")
            a, b = self.materialize(node, a), self.materialize(node, b)
            if not a.canonical() or not b.canonical():
                self.fail(node, "a residual add in a permuted layout")
            if self.shape_of(node.args[0]) != self.shape_of(node.args[1]) or a.layer.shape != b.layer.shape:
                self.fail(node, "an add that broadcasts one activation over another")
            L = self.add_layer(self.fn_name(node, "add"), "add", [a.layer, b.layer], a.layer.rows, a.layer.cols)
            return self.check_axes(node, Act(L, a.axes))
        act, c = (a, b) if isinstance(a, Act) else (b, a)
        if sub and act is b:
            self.fail(node, "a constant minus an activation")
        act = self.materialize(node, act)
        cv = c.value if isinstance(c.value, torch.Tensor) else torch.tensor(float(c.value))
        if sub:
            c = Const(-cv, c.origin)
        CL = self.const_layer(node, act, c, None)
        L = self.add_layer(self.fn_name(node, "add"), "add", [act.layer, CL], act.layer.rows, act.layer.cols)
        return self.check_axes(node, Act(L, act.axes))

    def mul(self, node, a, b, div):
        a, b = _as_const(a), _as_const(b)
        if isinstance(a, Act) and isinstance(b, Act):
            self.fail(node, "the product of two activations (only through matmul / einsum)")
        if div and not isinstance(a, Act):
            self.fail(node, "a constant divided by an activation")
        act, c = (a, b) if isinstance(a, Act) else (b, a)
        v = c.value
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = float(v)
        if isinstance(v, (int, float)):
            s = 1.0 / v if div else float(v)
            src = node.args[0] if isinstance(a, Act) else node.args[1]
            if act.layer.op == "matmul" and act.scale == 1.0 and len(src.users) == 1 and \
                    self.layers[-1] is act.layer:
                act.layer.fields["scale"] *= s  # folded into the matmul that produced it
                return self.check_axes(node, Act(act.layer, act.axes))
            return self.check_axes(node, Act(act.layer, act.axes, act.scale * s))
        # a per-channel constant: an affine
        act = self.materialize(node, act)
        cv = v.detach().to(torch.float64)
        if div:
            cv = 1.0 / cv
        shape = list(self.shape_of(node))
        bi = [i for i, ax in enumerate(act.axes) if ax == (BATCH,)][0]
        shape[bi] = 1
        full = torch.broadcast_to(cv, shape)
        if not act.canonical() or not self.two_d_ok(act):
            self.fail(node, "a multiplication by a tensor in a permuted layout")
        R, C = act.layer.shape
        arr = full.detach().reshape(R, C).numpy()
        if not np.all(arr == arr[:1, :]):
            self.fail(node, "a multiplication by a tensor that varies along time (only per channel)")
        L = self.add_layer(self.fn_name(node, "mul"), "affine", [act.layer], act.layer.rows, act.layer.cols,
                           weight=_tensor(arr[0]), bias=_tensor(np.zeros(C)))
        return self.check_axes(node, Act(L, act.axes))

    def two_d_ok(self, x):
        return x.canonical() and leaves(x.axes[-1]) == leaves(x.layer.cols)

    def matmul(self, node, a, b):
        if not isinstance(a, Act) or not isinstance(b, Act):
            self.fail(node, "a matmul with a constant operand (use nn.Linear)")
        na, nb = len(a.axes), len(b.axes)
        if na < 3 or nb < 3:
            self.fail(node, "a matmul of tensors without a batch axis")
        lead = max(na, nb) - 2
        letters = "abcdefghijklmnopqrstuvwxyz"
        L = letters[:lead]
        la = L[lead - (na - 2):] + "MK"
        lb = L[lead - (nb - 2):] + "KN"
        return self.contract(node, a, la, b, lb, L + "MN")

    def einsum(self, node, eq, ops):
        eq = eq.replace(" ", "")
        if "..." in eq or "->" not in eq or len(ops) != 2:
            self.fail(node, "einsum %r: two operands and an explicit output, no ellipsis" % eq)
        ins, out = eq.split("->")
        la, lb = ins.split(",")
        a, b = ops
        if not isinstance(a, Act) or not isinstance(b, Act):
            self.fail(node, "einsum with a constant operand")
        return self.contract(node, a, la, b, lb, out)

    def contract(self, node, a, la, b, lb, lo):
        """Maps a two-operand contraction onto one of mpqx's matmul forms (doc/model-format.md)."""
        if len(la) != len(a.axes) or len(lb) != len(b.axes):
            self.fail(node, "operand ranks do not match the contraction")
        amap = {l: leaves(ax) if ax != (BATCH,) else [BATCH] for l, ax in zip(la, a.axes)}
        bmap = {l: leaves(ax) if ax != (BATCH,) else [BATCH] for l, ax in zip(lb, b.axes)}
        bl = [l for l in la if amap[l] == [BATCH]]
        if len(bl) != 1 or bmap.get(bl[0]) != [BATCH] or bl[0] not in lo:
            self.fail(node, "a product across windows of the batch")
        bl = bl[0]
        H = [l for l in la if l in lb and l in lo and l != bl]
        M = [l for l in la if l not in lb and l in lo]
        N = [l for l in lb if l not in la and l in lo]
        K = [l for l in la if l in lb and l not in lo]
        if any(l not in lo and l not in lb for l in la) or any(l not in lo and l not in la for l in lb):
            self.fail(node, "a contraction that sums an axis of one operand only")
        for l in H + K:
            if [x.size for x in amap[l]] != [x.size for x in bmap[l]]:
                # the same letter may be split differently in the two operands: refine both alike
                if _prod(amap[l]) != _prod(bmap[l]):
                    self.fail(node, "axis %s differs in size between the operands" % l)
        # drop size-1 letters (no atoms)
        H, M, N, K = ([l for l in s if (amap.get(l) or bmap.get(l))] for s in (H, M, N, K))

        def seq(mp, letters):
            return [x for l in letters for x in mp[l]]

        def letters_of(mp, atoms_, pool):
            """The order in which the letters of pool cover atoms_, or None when they do not."""
            out, i = [], 0
            while i < len(atoms_):
                hit = [l for l in pool if mp[l] and atoms_[i:i + len(mp[l])] == mp[l] and l not in out]
                if not hit:
                    return None
                out.append(hit[0])
                i += len(mp[hit[0]])
            return out

        ar, ac = leaves(a.layer.rows), leaves(a.layer.cols)
        br, bc = leaves(b.layer.rows), leaves(b.layer.cols)
        form = None
        # form A (transpose_b): a [M, H*K], b [N, H*K]
        ma, ca = letters_of(amap, ar, M), letters_of(amap, ac, H + K)
        nb_, cb = letters_of(bmap, br, N), letters_of(bmap, bc, H + K)
        if None not in (ma, ca, nb_, cb) and set(ma) == set(M) and set(nb_) == set(N):
            hs = [l for l in ca if l in H]
            if ca == hs + [l for l in ca if l in K] and cb == ca and set(ca) == set(H + K) and \
                    [x.size for x in seq(amap, ca)] == [x.size for x in seq(bmap, cb)]:
                form = ("A", hs, ma, nb_)
        if form is None:
            # form B: a [H*M, K], b [K, H*N]
            ra, ka = letters_of(amap, ar, H + M), letters_of(amap, ac, K)
            rb, cb2 = letters_of(bmap, br, K), letters_of(bmap, bc, H + N)
            if None not in (ra, ka, rb, cb2) and set(ka) == set(K) and rb == ka and \
                    set(ra) == set(H + M) and set(cb2) == set(H + N):
                hs = [l for l in ra if l in H]
                hs2 = [l for l in cb2 if l in H]
                if ra == hs + [l for l in ra if l in M] and cb2 == hs2 + [l for l in cb2 if l in N] and \
                        hs == hs2 and set(hs) == set(H) and \
                        [x.size for x in seq(amap, hs)] == [x.size for x in seq(bmap, hs)] and \
                        [x.size for x in seq(amap, ka)] == [x.size for x in seq(bmap, rb)]:
                    form = ("B", hs, [l for l in ra if l in M], [l for l in cb2 if l in N])
        if form is None:
            self.fail(node, "a matmul that is neither attention scores (Q K^T per head) nor attention "
                            "times values (heads concatenated) in the operands' buffer layouts")
        kind, hs, ms, ns = form
        heads = _prod(seq(amap, hs))
        scale = a.scale * b.scale
        hat, mat, nat = seq(amap, hs), seq(amap, ms), seq(bmap, ns)
        if kind == "A":
            rows, cols = hat + mat, nat
        else:
            rows, cols = mat, hat + nat
        atom_of = {l: (amap[l] if l in amap else bmap[l]) for l in lo}
        axes = [(BATCH,) if l == bl else tuple(atom_of[l]) for l in lo]
        L = self.add_layer(self.fn_name(node), "matmul", [a.layer, b.layer], rows, cols,
                           transpose_b=(kind == "A"), scale=scale, heads=heads)
        return self.check_axes(node, Act(L, axes))


# ---------------------------------------------------------------------------------------------------
# Document


def layers_json(layers):
    out = []
    for L in layers:
        d = {"name": L.name, "op": L.op}
        if L.inputs:
            d["inputs"] = list(L.inputs)
        d["shape"] = L.shape
        f = L.fields
        if L.op == "linear":
            d["weight"], d["bias"] = f["weight"], f["bias"]
        elif L.op == "affine":
            d["weight"], d["bias"] = f["weight"], f["bias"]
        elif L.op == "const":
            d["value"] = f["value"]
            d["value"]["shape"] = L.shape
        elif L.op == "layernorm":
            d["weight"], d["bias"], d["eps"] = f["weight"], f["bias"], f["eps"]
        elif L.op == "gelu":
            d["approximate"] = f.get("approximate", "none")
        elif L.op == "matmul":
            d["transpose_b"] = bool(f["transpose_b"])
            d["scale"] = float(f["scale"])
            d["heads"] = int(f["heads"])
        out.append(d)
    return out


def dead_scopes(gm, dead, env):
    """The shallowest module paths all of whose nodes were dropped, and dropped top-level nodes (shape
    queries and other non-tensor values aside)."""
    by_scope = {}
    for n in gm.graph.nodes:
        if n.op in ("placeholder", "output", "get_attr") or not isinstance(env.get(n), torch.Tensor):
            continue
        s = n.target if n.op == "call_module" else n.meta.get("mpqx_scope", "")
        by_scope.setdefault(s, []).append(n)
    dead = set(dead)

    def all_dead(prefix):
        return all(n in dead for s, ns in by_scope.items()
                   if s == prefix or s.startswith(prefix + ".") for n in ns)
    out = []
    for s in sorted(by_scope, key=lambda s: (s.count("."), s)):
        if not s:
            out += [n.name for n in by_scope[s] if n in dead]
            continue
        if any(s == o or s.startswith(o + ".") for o in out):
            continue
        parts = s.split(".")
        for k in range(1, len(parts) + 1):
            p = ".".join(parts[:k])
            if all_dead(p):
                if p not in out:
                    out.append(p)
                break
    return out


def trace_model(model, window, features, sample_x):
    """Traces model and maps it; returns (layers, output layer, dropped scopes, out_features)."""
    model.eval()
    gm = trace(model)
    x = torch.tensor(sample_x, dtype=torch.float32)
    try:
        env = run_concrete(gm, x)
    except Exception as e:
        raise ImportError_("running the traced model on windows [%d, %d, %d] failed: %s: %s" % (
            x.shape[0], window, features, type(e).__name__, e))
    out = [n for n in gm.graph.nodes if n.op == "output"][0]
    mapper = Mapper(gm, env, window, features)
    res = mapper.run(out)
    # the output: one vector per window
    ov = env[out.args[0]] if isinstance(out.args[0], fx.Node) else None
    if not isinstance(res, Act) or res.layer.shape[0] != 1 or \
            [a for ax in res.axes for a in leaves(ax) if a is not BATCH] != leaves(res.layer.cols):
        raise ImportError_("the model's output %s is not one forecast vector per window ([batch, outputs])"
                           % (tuple(ov.shape) if ov is not None else "?"))
    res = mapper.materialize(out, res)
    # layers not on the way to the output (a scale materialised late is): keep only the live ones
    keep, need = [], {res.layer.name}
    for L in reversed(mapper.layers):
        if L.name in need:
            keep.append(L)
            need.update(L.inputs)
    keep.reverse()
    return gm, keep, res.layer.name, dead_scopes(gm, mapper.dead, env), res.layer.shape[1]
