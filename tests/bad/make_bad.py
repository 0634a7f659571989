#!/usr/bin/python3
"""Writes the bad-input corpus of tests/bad and its MANIFEST.

Every case is one file (or one command line) that mpqx must reject cleanly: exit status 1 (2 for a usage
error), a message that names the file and the place, no crash and no sanitizer report. The replay is
tests/bad/replay.sh; it also creates the cases that cannot live in git (a directory in place of a file, a
FIFO, a 300 MB sparse file, a symlink loop, a file without read permission).

Run from anywhere: /usr/bin/python3 tests/bad/make_bad.py. The files are derived from tests/data/tiny, so
regenerate after changing the tiny model. The table below is the single source: edit it, not MANIFEST.
"""
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "data", "tiny")

with open(os.path.join(TINY, "model.json")) as f:
    MODEL = f.read()
with open(os.path.join(TINY, "data.csv")) as f:
    CSV = f.read()

# Bad models never get as far as the CSV; point at the tiny one so that a model the loader wrongly
# accepts evaluates and exits 0, which the replay reports as a failure.
MODEL_FOR_MODEL_DIR = MODEL.replace('"csv": "data.csv"', '"csv": "../../data/tiny/data.csv"')


def sub(text, old, new, count=1):
    assert old in text, old
    return text.replace(old, new, count)


def m(old, new, count=1):
    return sub(MODEL_FOR_MODEL_DIR, old, new, count)


def rand_bytes(seed, n):
    r = random.Random(seed)
    return bytes(r.randrange(256) for _ in range(n))


def many_layers(n):
    o = json.loads(MODEL_FOR_MODEL_DIR)
    extra = [{"name": "r%d" % i, "op": "relu", "inputs": ["relu" if i == 0 else "r%d" % (i - 1)],
              "shape": [6, 4]} for i in range(n)]
    o["layers"] = o["layers"][:16] + extra
    return json.dumps(o, separators=(",", ":"))


# (file under tests/bad, content (str or bytes), status, args after the file, expected substring)
# In args and expected text, FILE is replaced by the file's path relative to tests/bad.
cases = []


def model(name, content, expect, status=1, prefix="FILE: ", argv="eval @/FILE --float"):
    cases.append(("model/" + name, content, status, argv, prefix + expect))


def config(name, content, expect, status=1):
    cases.append(("config/" + name, content, status, "eval @tiny -c @/FILE", "FILE: " + expect))


def csv(name, content, expect, float_only=True):
    # a model beside the CSV pointing at it (the dataset is read before any evaluation)
    mj = sub(MODEL, '"csv": "data.csv"', '"csv": "%s.csv"' % name)
    cases.append(("csv/%s.json" % name, mj, None, None, None))
    cases.append(("csv/%s.csv" % name, content, 1, "eval @/csv/%s.json --float" % name, "FILE: " + expect))


# ---- model JSON: syntax ---------------------------------------------------------------------------
model("empty.json", "", "line 1, column 1: invalid JSON")
model("whitespace.json", "\n\n   \n", "line 4, column 1: invalid JSON")
model("trunc-header.json", MODEL_FOR_MODEL_DIR[:60], "line 5, column 2: invalid JSON")
model("trunc-layers.json", MODEL_FOR_MODEL_DIR[:MODEL_FOR_MODEL_DIR.index('"name": "scores"') + 10],
      "line 18, column 13: invalid JSON")
model("trunc-number.json", MODEL_FOR_MODEL_DIR[:MODEL_FOR_MODEL_DIR.index("-0.176167") + 4],
      "line 12, column 115: invalid JSON")
model("garbage.bin", rand_bytes(1, 4096), "line 1, column 96: invalid JSON")
model("garbage-after.json", MODEL_FOR_MODEL_DIR + "\n}\n", "line 34, column 1: invalid JSON")
model("nul-inside.json", m('"name": "tiny"', '"name": "ti\0ny"'), "line 4, column 13: invalid JSON")
model("bom-utf16.json", b"\xff\xfe" + MODEL_FOR_MODEL_DIR.encode("utf-16-le"), "line 1, column 4: invalid JSON")
model("nan-literal.json", m("-0.176167", "NaN"), "line 12, column 111: invalid JSON")
model("infinity-literal.json", m("-0.176167", "Infinity"), "line 12, column 111: invalid JSON")
model("deep-array.json", '{"format": ' + "[" * 100000 + "]" * 100000 + "}", "line 1, column")
model("deep-object.json", '{"a":' * 5000 + "1" + "}" * 5000, "line 1, column")
model("single-quotes.json", m('"version": 1', "'version': 1"), "line 3, column 3: invalid JSON")
# ---- model JSON: structure, types, ranges -----------------------------------------------------------
model("top-array.json", "[" + MODEL_FOR_MODEL_DIR + "]", "(top level): expected an object")
model("top-string.json", '"mpqx-model"', "(top level): expected an object")
model("format-wrong.json", m('"mpqx-model"', '"mpqx-config"'), 'format: expected "mpqx-model"')
model("format-missing.json", m('"format": "mpqx-model",', ""), "format: missing")
model("version-string.json", m('"version": 1', '"version": "1"'), "version: expected an integer")
model("version-fraction.json", m('"version": 1', '"version": 1.5'), "version: expected an integer")
model("version-future.json", m('"version": 1', '"version": 7'), "version: unsupported version")
model("name-missing.json", m('"name": "tiny",', ""), "name: missing")
model("name-number.json", m('"name": "tiny"', '"name": 42'), "name: expected a string")
model("name-long.json", m('"name": "tiny"', '"name": "%s"' % ("x" * 5000)), "name: expected a non-empty string")
model("task-wrong.json", m('"task": "forecast"', '"task": "classify"'), 'task: expected "forecast"')
model("input-not-object.json", m('"input": {"window": 6, "features": 2}', '"input": [6, 2]'),
      "input: expected an object")
model("window-zero.json", m('"window": 6, "features"', '"window": 0, "features"'),
      "input.window: expected an integer from 1 to 4096, got 0")
model("window-huge.json", m('"window": 6, "features"', '"window": 1e12, "features"'),
      "input.window: expected an integer from 1 to 4096, got 1000000000000")
model("window-nonfinite.json", m('"window": 6, "features"', '"window": -1e999, "features"'),
      "input.window: expected an integer")
model("features-17.json", m('"features": 2}', '"features": 17}'),
      "input.features: expected an integer from 1 to 16, got 17")
model("output-features-2.json", m('"output": {"features": 1', '"output": {"features": 2'),
      "output.features: expected an integer from 1 to 1, got 2")
model("output-layer-unknown.json", m('"layer": "head"', '"layer": "nope"'), "output.layer: names no layer")
model("output-layer-shape.json", m('"layer": "head"', '"layer": "relu"'),
      "output: output layer 'relu' has shape [6, 4], expected [1, 1]")
model("dataset-missing.json", m('"dataset": {', '"datasets": {'), "dataset: missing")
model("csv-empty-name.json", m('"csv": "../../data/tiny/data.csv"', '"csv": ""'), "dataset.csv: expected a file name")
model("csv-number.json", m('"csv": "../../data/tiny/data.csv"', '"csv": 3'), "dataset.csv: expected a file name")
model("columns-17.json", m('"columns": ["a", "b"]', '"columns": [%s]' % ", ".join('"c%d"' % i for i in range(17))),
      "dataset.columns: expected an array of 1 to 16 column names")
model("columns-mismatch.json", m('"columns": ["a", "b"]', '"columns": ["a"]'),
      "dataset.columns: expected as many columns as input.features")
model("column-not-string.json", m('"columns": ["a", "b"]', '"columns": ["a", null]'),
      "dataset.columns[1]: expected a column name")
model("window-mismatch.json", m('"window": 6, "horizon"', '"window": 7, "horizon"'),
      "dataset.window: expected the same window as input.window")
model("horizon-negative.json", m('"horizon": 1', '"horizon": -1'),
      "dataset.horizon: expected an integer from 1 to 4096, got -1")
model("split-sum.json", m('"test": 0.2', '"test": 0.3'), "dataset.split: fractions must be positive and add up to 1")
model("split-negative.json", m('"train": 0.7, "calib": 0.1, "test": 0.2', '"train": 1.1, "calib": -0.1, "test": 0.0'),
      "dataset.split: fractions must be positive")
model("split-overflow.json", m('"train": 0.7', '"train": 1e999'), "dataset.split.train: expected a finite number")
model("norm-std-zero.json", m('"std": 2.152683095912025', '"std": 0'),
      "normalization.columns.a.std: std must be positive")
model("norm-minmax-inverted.json",
      m('"method": "standard", "columns": {"a": {"mean": 0.22957678571428558, "std": 2.152683095912025}, '
        '"b": {"mean": 10.241883928571426, "std": 1.4349077835945696}}',
        '"method": "minmax", "columns": {"a": {"min": 1, "max": 0}, "b": {"min": 0, "max": 1}}'),
      "normalization.columns.a.max: max must exceed min")
model("norm-column-missing.json", m('"b": {"mean"', '"c": {"mean"'),
      "normalization.columns.b: missing")
model("norm-mean-string.json", m('"mean": 0.22957678571428558', '"mean": "0.23"'),
      "normalization.columns.a.mean: expected a finite number")
model("layers-object.json", m('"layers": [', '"layers": {"x": ['), "line")  # invalid JSON
model("layers-one.json", m('"layers": [', '"layers": [{"name": "input", "op": "input", "shape": [6, 2]}], "old": ['),
      "layers: expected an array of at least two layers")
model("layers-5000.json", many_layers(5000), "layers: too many layers (at most 4096)")
model("layer-not-object.json", m('{"name": "pe"', '7, {"name": "pe"'), "layers[2]: expected an object")
model("op-unknown.json", m('"op": "relu"', '"op": "swish"'), "layers[15].op: unknown op 'swish'")
model("layernorm-eps.json", m('"eps": 1e-05', '"eps": -1'), "layers[16].eps: expected a number from 0 to 1")
model("layernorm-eps-string.json", m('"eps": 1e-05', '"eps": "small"'), "layers[16].eps: expected a finite number")
model("layernorm-weight.json", m('"data": [0.759008, 1.185258, 1.184082, 1.349336]', '"data": [0.759008, 1.185258, 1.184082]'),
      "layers[16].weight")
model("gelu-approximate.json", m('"approximate": "tanh"', '"approximate": "fast"'),
      "layers[17].approximate: expected \"none\" or \"tanh\"")
model("gelu-approximate-number.json", m('"approximate": "tanh"', '"approximate": 1'),
      "layers[17].approximate: expected a short string")
model("op-missing.json", m('"op": "softmax", ', ""), "layers[8].op: missing")
model("name-bad-chars.json", m('"name": "relu"', '"name": "re lu/\u00e9"'), "layers[15].name: expected letters")
model("name-duplicate.json", m('"name": "hi"', '"name": "lo"'), "layers[11].name: duplicate layer name")
model("input-forward-ref.json", m('"inputs": ["proj", "pe"]', '"inputs": ["proj", "q"]'),
      "layers[3].inputs[1]: 'q' is not an earlier layer")
model("input-self.json", m('"inputs": ["bn"]', '"inputs": ["relu"]'), "layers[15].inputs[0]: 'relu' is not an earlier layer")
model("inputs-string.json", m('"inputs": ["bn"]', '"inputs": "bn"'), "layers[15].inputs: expected an array")
model("inputs-number.json", m('"inputs": ["bn"]', '"inputs": [3]'), "layers[15].inputs[0]: expected a layer name")
model("concat-9-inputs.json", m('"inputs": ["hi", "lo"]', '"inputs": ["hi", "lo", "hi", "lo", "hi", "lo", "hi", "lo", "hi"]'),
      "layers[12].inputs: op concat takes 1 to 8 inputs, got 9")
model("two-inputs.json", m('{"name": "pe", "op": "const"', '{"name": "in2", "op": "input", "shape": [6, 2]}, {"name": "pe", "op": "const"'),
      "layers: expected exactly one layer with op \"input\"")
model("first-not-input.json",
      m('{"name": "input", "op": "input", "shape": [6, 2]},\n  {"name": "proj"',
        '{"name": "pe0", "op": "const", "shape": [1, 1], "value": {"shape": [1], "data": [0]}},\n  '
        '{"name": "input", "op": "input", "shape": [6, 2]},\n  {"name": "proj"'),
      "layers[0]: the first layer must be the input")
model("input-shape.json", m('"shape": [6, 2]}', '"shape": [6, 3]}'), "layers[0] (input, input): shape must be [window, features] = [6, 2]")
model("shape-zero.json", m('"shape": [6, 4], "value"', '"shape": [0, 4], "value"'), "layers[2].shape[0]: expected a dimension from 1 to 65536")
model("shape-3d.json", m('"shape": [6, 4], "value"', '"shape": [6, 4, 1], "value"'), "layers[2].shape: expected a shape of one or two dimensions")
model("shape-string.json", m('"shape": [6, 4], "value"', '"shape": "6x4", "value"'), "layers[2].shape: expected a shape array")
model("shape-huge-dim.json", m('"shape": [6, 4], "value"', '"shape": [6, 4000000000], "value"'),
      "layers[2].shape[1]: expected a dimension from 1 to 65536")
model("shape-huge-elems.json", m('"shape": [6, 4], "value": {"shape": [6, 4]', '"shape": [65536, 65536], "value": {"shape": [65536, 65536]'),
      "layers[2].shape: tensor too large")
model("shape-fraction.json", m('"shape": [6, 4], "value"', '"shape": [6, 4.5], "value"'), "layers[2].shape[1]: expected a dimension")
model("declared-shape.json", m('"shape": [1, 4]}', '"shape": [1, 5]}'), "layers[18] (pool, avgpool): declared shape [1, 5] but the inputs make [1, 4]")
model("weight-missing.json", m('"weight": {"shape": [4, 2]', '"weights": {"shape": [4, 2]'), "layers[1].weight: missing")
model("weight-not-object.json", m('"weight": {"shape": [4], "data": [0.441387, 1.479288, 0.965774, -0.646213]}', '"weight": [0.44, 1.47, 0.96, -0.64]'),
      "layers[14].weight: expected a tensor")
model("weight-short.json", m("-0.176167, ", ""), "layers[1].weight.data: expected 8 numbers (shape 4 x 2), got 7")
model("weight-string.json", m("-0.349151", '"-0.349151"'), "layers[1].weight.data[1]: expected a finite number")
model("weight-overflow.json", m("-0.349151", "-1e999"), "layers[1].weight.data[1]: expected a finite number")
model("weight-1e31.json", m("-0.349151", "1e31"), "layers[1].weight.data[1]: expected a finite number")
model("weight-shape-mismatch.json", m('"weight": {"shape": [4, 4], "data": [-0.075481', '"weight": {"shape": [4, 3], "data": [-0.075481'),
      "layers[4].weight.data: expected 12 numbers")
model("bias-wrong-len.json", m('"bias": {"shape": [1], "data": [-0.37066]}', '"bias": {"shape": [2], "data": [-0.37066, 0]}'),
      "layers[19].bias.shape: expected 1 x 1 elements, got shape 1 x 2")
model("bias-null.json", m('"bias": {"shape": [1], "data": [-0.37066]}', '"bias": null'), "layers[19].bias: expected a tensor")
model("const-nested-data.json", m('"data": [0.0, 1.0,', '"data": [[0.0], 1.0,'), "layers[2].value.data[0]: expected a finite number")
model("heads-65.json", m('"heads": 2}', '"heads": 65}'), "layers[7].heads: expected an integer from 1 to 64, got 65")
model("heads-mismatch.json", m('"heads": 2}', '"heads": 3}'), "layers[7] (scores, matmul): a [6, 4] and b [6, 4] need equal columns divisible by heads 3")
model("scale-zero.json", m('"scale": 0.7071067811865475', '"scale": 0'), "layers[7].scale: expected a positive number up to 1e6")
model("scale-huge.json", m('"scale": 0.7071067811865475', '"scale": 1e300'), "layers[7].scale: expected a positive number up to 1e6")
model("transpose-string.json", m('"transpose_b": true', '"transpose_b": "yes"'), "layers[7].transpose_b: expected true or false")
model("split-outside.json", m('"offset": 2, "width": 2', '"offset": 3, "width": 2'), "layers[11] (hi, split): columns 3..4 are outside input 'ctx'")
model("split-width-zero.json", m('"offset": 2, "width": 2', '"offset": 2, "width": 0'), "layers[11].width: expected an integer from 1 to 65536, got 0")
model("split-offset-negative.json", m('"offset": 2, "width": 2', '"offset": -2, "width": 2'), "layers[11].offset: expected an integer from 0 to 65536, got -2")
model("add-shape.json", m('"inputs": ["add_pe", "cat"]', '"inputs": ["add_pe", "hi"]'),
      "layers[13] (res, add): inputs 'add_pe' [6, 4] and 'hi' [6, 2] differ in shape")
model("linear-input-cols.json", m('"inputs": ["pool"]', '"inputs": ["hi"]'), "layers[19] (head, linear): weight has 4 inputs but input 'hi' has 2 columns")
model("csv-missing.json", m('"csv": "../../data/tiny/data.csv"', '"csv": "no-such-data.csv"'),
      "model/no-such-data.csv: cannot open", prefix="")
# valid JSON the loader accepts, whose float values overflow (found by fuzzing): the integer model refuses it
model("overflow-float.json", m('"data": [0.0, 1.0,', '"data": [0.0, 1.6e29,'),
      "layer 'scores': the float model gives no finite range on the calibration windows", argv="eval @/FILE")

# ---- config JSON (for the tiny model) ---------------------------------------------------------------
GOOD_CFG = ('{"format": "mpqx-config", "version": 1, "device": "xc7s15",\n'
            ' "defaults": {"w_bits": 8, "a_bits": 8, "buffer": "auto", "rom": "auto"},\n'
            ' "layers": {"q": {"w_bits": 6, "buffer": "block"}}}\n')


def c(old, new):
    return sub(GOOD_CFG, old, new)


config("empty.json", "", "line 1, column 1: invalid JSON")
config("truncated.json", GOOD_CFG[:100], "line 2, column 41: invalid JSON")
config("garbage.bin", rand_bytes(2, 2048), "line 2, column 6: invalid JSON")
config("deep.json", '{"format": "mpqx-config", "version": 1, "layers": ' + '{"q": ' * 3000 + "1" + "}" * 3001,
       "line 1, column")
config("top-array.json", "[1, 2]", "(top level): expected an object")
config("format-missing.json", c('"format": "mpqx-config", ', ""), 'format: expected "mpqx-config"')
config("format-model.json", c('"mpqx-config"', '"mpqx-model"'), 'format: expected "mpqx-config"')
config("version-2.json", c('"version": 1', '"version": 2'), "version: unsupported version 2")
config("version-string.json", c('"version": 1', '"version": "1"'), "version: expected a number")
config("unknown-top-key.json", c('"device"', '"devices": 1, "device"'), "devices: unknown key")
config("device-number.json", c('"device": "xc7s15"', '"device": 15'), "device: expected a device name")
config("device-long.json", c('"device": "xc7s15"', '"device": "%s"' % ("x" * 300)), "device: expected a device name")
config("defaults-array.json", c('"defaults": {"w_bits": 8, "a_bits": 8, "buffer": "auto", "rom": "auto"}', '"defaults": [8, 8]'),
       "defaults: expected an object")
config("bits-1.json", c('"w_bits": 8', '"w_bits": 1'), "defaults.w_bits: expected an integer from 2 to 16")
config("bits-17.json", c('"a_bits": 8', '"a_bits": 17'), "defaults.a_bits: expected an integer from 2 to 16")
config("bits-fraction.json", c('"w_bits": 6', '"w_bits": 6.5'), "layers.q.w_bits: expected an integer from 2 to 16")
config("bits-string.json", c('"w_bits": 6', '"w_bits": "6"'), "layers.q.w_bits: expected an integer from 2 to 16")
config("bits-negative.json", c('"w_bits": 6', '"w_bits": -4'), "layers.q.w_bits: expected an integer from 2 to 16")
config("bits-overflow.json", c('"w_bits": 6', '"w_bits": 1e999'), "layers.q.w_bits: expected an integer from 2 to 16")
config("bits-null.json", c('"w_bits": 6', '"w_bits": null'), "layers.q.w_bits: expected an integer from 2 to 16")
config("bits-huge.json", c('"w_bits": 6', '"w_bits": 4294967304'), "layers.q.w_bits: expected an integer from 2 to 16")
config("buffer-bram.json", c('"buffer": "block"', '"buffer": "bram"'), 'layers.q.buffer: expected "block", "distributed", "spram" or "auto"')
config("granularity-row.json", c('"buffer": "block"}', '"buffer": "block", "w_granularity": "row"}'),
       'layers.q.w_granularity: expected "tensor" or "channel"')
config("calibration-kl.json", c('"buffer": "block"}', '"buffer": "block", "calibration": "kl"}'),
       'layers.q.calibration: expected "minmax", "percentile" or "mse"')
# Storage a device's family lacks: checked against the device (estimate, export), not by eval.
cases.append(("config/spram-xc7.json", c('"buffer": "block"', '"buffer": "spram"'), 1, "estimate @tiny -c @/FILE",
              'FILE: layers.q.buffer: "spram" on device xc7s15 (xc7 family): SPRAM is an iCE40 UltraPlus block'))
cases.append(("config/spram-hx8k.json", c('"buffer": "block"', '"buffer": "spram"'), 1,
              "export @tiny -c @/FILE -d ice40hx8k -o @tmp/spram-hx8k",
              'FILE: layers.q.buffer: "spram" on device ice40hx8k (ice40 family): it has no SPRAM blocks'))
cases.append(("config/rom-spram.json", c('"rom": "auto"', '"rom": "spram"'), 1, "estimate @tiny -c @/FILE -d ice40up5k",
              'FILE: defaults.rom: expected "block", "logic" or "auto"'))
config("rom-distributed.json", c('"rom": "auto"', '"rom": "distributed"'), 'defaults.rom: expected "block", "logic" or "auto"')
config("buffer-bool.json", c('"buffer": "block"', '"buffer": true'), 'layers.q.buffer: expected "block"')
# a device the config names that is not in devices/, and one given as a path
cases.append(("config/device-unknown.json", c('"device": "xc7s15"', '"device": "xc9z99"'), None, None, None))
cases.append(("config/device-path.json", c('"device": "xc7s15"', '"device": "/etc/passwd"'), None, None, None))
config("layers-array.json", c('"layers": {"q": {"w_bits": 6, "buffer": "block"}}', '"layers": [{"q": 6}]'),
       "layers: expected an object keyed by layer name")
config("layer-unknown.json", c('"q":', '"enc0.q":'), "layers.enc0.q: model 'tiny' has no layer of this name")
config("layer-number.json", c('{"w_bits": 6, "buffer": "block"}', "6"), "layers.q: expected an object")
config("layer-unknown-key.json", c('"w_bits": 6', '"bits": 6'), "layers.q.bits: unknown key")
config("layer-name-long.json", c('"q":', '"%s":' % ("q" * 5000)), "layers." + "q" * 100 + ": model 'tiny' has no layer of this name")

# ---- dataset CSV (a model beside each, pointing at it) ---------------------------------------------------
lines = CSV.splitlines(keepends=True)
csv("csv-empty", "", "line 1: empty file, expected a header row")
csv("csv-header-only", lines[0], "the calib part has 0 rows, fewer than window + horizon = 7: no windows")
csv("csv-few-rows", "".join(lines[:20]), "the calib part has 2 rows, fewer than window + horizon = 7")
csv("csv-no-column", sub(CSV, "step,a,b,note", "step,a,c,note"), "line 1: no column named 'b' in the header")
csv("csv-short-row", sub(CSV, '4,2.3705,11.5493,"row 4"', "4,2.3705"), "line 6: expected 4 fields as in the header, got 2")
csv("csv-long-row", sub(CSV, '4,2.3705,11.5493,"row 4"', '4,2.3705,11.5493,"row 4",extra'), "line 6: expected 4 fields as in the header, got 5")
csv("csv-text-cell", sub(CSV, "2.3705", "abc"), "line 6, column 'a': expected a finite number, got 'abc'")
csv("csv-nan", sub(CSV, "2.3705", "nan"), "line 6, column 'a': expected a finite number, got 'nan'")
csv("csv-inf", sub(CSV, "11.5493", "-inf"), "line 6, column 'b': expected a finite number, got '-inf'")
csv("csv-overflow", sub(CSV, "2.3705", "1e999"), "line 6, column 'a': expected a finite number, got '1e999'")
csv("csv-empty-cell", sub(CSV, '4,2.3705,11.5493,"row 4"', '4,,11.5493,"row 4"'), "line 6, column 'a': expected a finite number, got ''")
csv("csv-trailing-junk", sub(CSV, "2.3705", "2.3705x"), "line 6, column 'a': expected a finite number, got '2.3705x'")
csv("csv-nul", sub(CSV, "2.3705", "2.5\x0057"), "binary data (a NUL byte) in a CSV file")
csv("csv-binary", rand_bytes(3, 3000).replace(b"\0", b"\1"), "line 1: no column named 'a' in the header")
csv("csv-300-fields", ",".join("f%d" % i for i in range(300)) + "\n", "line 1: more than 256 fields")

# ---- templates: the exporter reads them from MPQX_DATA_DIR/hdl_templates; the replay builds one data
# directory per case (the real one with hdl_templates/TARGET.v replaced by tmpl/TARGET--CASE.v) ----------
with open(os.path.join(HERE, "..", "..", "hdl_templates", "relu.v")) as f:
    RELU = f.read()


def tmpl(case, content, expect, target="relu"):
    name = "%s--%s.v" % (target, case)
    cases.append(("tmpl/" + name, content, 1,
                  "MPQX_DATA_DIR=@tmp/data-%s--%s export @tiny -o @tmp/out-%s-%s" % (target, case, target, case),
                  "hdl_templates/%s.v: %s" % (target, expect)))


def r(old, new):
    return sub(RELU, old, new)


FIRST_CLOSE = RELU.index("/*}}*/")
tmpl("unclosed", RELU[:RELU.rindex("/*}}*/")] + RELU[RELU.rindex("/*}}*/") + 6:], "line 63: placeholder RAM is not closed")
tmpl("nested", r("/*{{MODULE*/mpqx_relu/*}}*/", "/*{{MODULE*/mpqx_/*{{WORDS*/1/*}}*/relu/*}}*/"),
     "line 19: a placeholder inside placeholder MODULE")
tmpl("undeclared", r("/*{{MODULE*/mpqx_relu/*}}*/", "/*{{MODULE*/mpqx_relu/*}}*/ /*{{NOPE*/x/*}}*/"),
     "line 19: placeholder NOPE is not declared")
tmpl("close-only", r("/*{{MODULE*/mpqx_relu/*}}*/", "/*{{MODULE*/mpqx_relu/*}}*/ /*}}*/"),
     "line 19: a closing marker without an opening one")
tmpl("malformed", r("/*{{MODULE*/mpqx_relu/*}}*/", "/*{{MODULE mpqx_relu/*}}*/"), "line 19: a malformed placeholder marker")
tmpl("declared-twice", r("// @placeholder RAM ", "// @placeholder MODULE again\n// @placeholder RAM "),
     "line 4: placeholder MODULE declared twice")
tmpl("bad-declaration", r("// @placeholder RAM ", "// @placeholder\n// @placeholder RAM "),
     "line 4: expected '// @placeholder NAME description'")
tmpl("unused", r("// @placeholder RAM ", "// @placeholder EXTRA never used\n// @placeholder RAM "),
     "placeholder EXTRA is declared but never used")
tmpl("unfilled", r("/*{{MODULE*/mpqx_relu/*}}*/", "/*{{MODULE*/mpqx_relu/*}}*/ /*{{EXTRA*/x/*}}*/").replace(
    "// @placeholder RAM ", "// @placeholder EXTRA set by nobody\n// @placeholder RAM ", 1),
     "placeholders left unfilled: EXTRA")
tmpl("empty", "", "no placeholder MODULE in this template")
tmpl("binary", rand_bytes(4, 1500).replace(b"/", b"."), "no placeholder MODULE in this template")

# ---- device ini (mpqx estimate -d FILE.ini) and the estimator's coefficients (--costs FILE.ini) ---------
with open(os.path.join(HERE, "..", "..", "devices", "xc7s15.ini")) as f:
    DEVICE = f.read()
# a small cost file of its own: devices/xc7-cost.ini is rewritten by every refit
COST = ("; Estimator coefficients for the AMD 7-series family (doc/estimator.md). Written by tools/fit_costs.py.\n"
        "[family]\nname = xc7\nsource = initial guess, not yet fitted\n\n[linear]\nlut.one = 20\nlut.ctrl = 2\n"
        "lut.acc = 3\nff.regs = 1\n")


def device(name, content, expect):
    cases.append(("device/" + name, content, 1, "estimate @tiny -d @/FILE", "FILE: " + expect))


def cost(name, content, expect):
    cases.append(("cost/" + name, content, 1, "estimate @tiny --costs @/FILE", "FILE: " + expect))


def dv(old, new):
    return sub(DEVICE, old, new)


device("empty.ini", "", "[device] has no 'name'")
device("binary.ini", rand_bytes(5, 800), "not a text file (a NUL byte)")
device("text-garbage.ini", "this is not an ini file\n", "line 1: expected `key = value` or [device]")
device("section-unclosed.ini", dv("[device]", "[device"), "line 3: ")
device("section-unknown.ini", dv("[device]", "[fpga]"), "line 4: unknown section [fpga]: expected [device]")
device("key-unknown.ini", dv("lut = 8000", "luts = 8000"), "line 6: unknown key 'luts'")
device("key-twice.ini", dv("dsp = 20", "dsp = 20\ndsp = 40"), "line 11: 'dsp' is set twice")
device("lut-negative.ini", dv("lut = 8000", "lut = -8000"), "line 6: lut = '-8000': expected a non-negative integer count")
device("lut-float.ini", dv("lut = 8000", "lut = 8e3"), "line 6: lut = '8e3': expected a non-negative integer count")
device("lut-huge.ini", dv("lut = 8000", "lut = 99999999999999999999"), "line 6: lut = '99999999999999999999': expected a non-negative integer count")
device("lut-empty.ini", dv("lut = 8000", "lut ="), "line 6: lut = '': expected a non-negative integer count")
device("clock-zero.ini", dv("clock_mhz = 100", "clock_mhz = 0"), "line 11: clock_mhz = '0': expected a frequency in MHz")
device("clock-nan.ini", dv("clock_mhz = 100", "clock_mhz = nan"), "line 11: clock_mhz = 'nan': expected a frequency in MHz")
device("clock-inf.ini", dv("clock_mhz = 100", "clock_mhz = inf"), "line 11: clock_mhz = 'inf': expected a frequency in MHz")
device("clock-overflow.ini", dv("clock_mhz = 100", "clock_mhz = 1e999"), "line 11: clock_mhz = '1e999': expected a frequency in MHz")
device("dsp-missing.ini", dv("dsp = 20\n", ""), "[device] has no 'dsp'")
device("lutram-over-lut.ini", dv("lutram = 2400", "lutram = 9000"), "lutram (9000) is more than lut (8000)")
ICE40 = "[device]\nname = ice40x\nfamily = ice40\nlc = 5280\nff = 5280\nebr = 30\nspram = 4\ndsp = 8\nclock_mhz = 16\n"
device("ice40-lutram.ini", ICE40 + "lutram = 100\n", "'lutram' is not a key of an ice40 device (iCE40 has no LUT RAM")
device("ice40-no-ebr.ini", ICE40.replace("ebr = 30\n", ""), "[device] has no 'ebr' (an ice40 device has name, family, lc, ff, ebr")
device("ice40-lut.ini", ICE40 + "lut = 5280\n", "'lut' is not a key of an ice40 device")
device("xc7-spram.ini", dv("dsp = 20", "dsp = 20\nspram = 4"), "'spram' is not a key of an xc7 device (only ice40 devices have lc, ebr and spram)")
device("name-space.ini", dv("name = xc7s15", "name = xc7 s15"), "line 4: name = 'xc7 s15': expected a name of letters")
device("long-line.ini", dv("lut = 8000", "lut = 8000" + " " * 300 + "1"), "line ")  # inih splits lines over 200 bytes: the message points near, not at, the line


def cv(old, new):
    return sub(COST, old, new)


cost("empty.ini", "", "no [family] name")
cost("binary.ini", rand_bytes(6, 800), "not a text file (a NUL byte)")
cost("text-garbage.ini", "lut.one 20\n", "line 1: expected `key = value` or [section]")
cost("section-unknown.ini", cv("[linear]", "[lstm]"), "line 7: unknown section [lstm]")
cost("key-unknown.ini", cv("lut.one = 20", "lut.zero = 20"), "line 7:")
cost("value-text.ini", cv("lut.one = 20", "lut.one = twenty"), "line 7:")
cost("value-huge.ini", cv("lut.one = 20", "lut.one = 1e300"), "line 7:")
cost("value-nan.ini", cv("lut.one = 20", "lut.one = nan"), "line 7:")
cost("flat-zero.ini", cv("lut.one = 20", "flat.lut = 0"), "line 7: [linear] flat.lut = '0': expected a scale from 0.1 to 10")

# ---- theme ini (the explorer's --theme FILE.ini, on a hidden screen) ------------------------------------
with open(os.path.join(HERE, "..", "..", "themes", "default.ini")) as f:
    THEME = f.read()


def theme(name, content, expect):
    cases.append(("theme/" + name, content, 1, "@tiny --theme @/FILE --dump-screen 80x24", "FILE: " + expect))


def tv(old, new):
    return sub(THEME, old, new)


theme("binary.ini", rand_bytes(7, 600), "not a text file (a NUL byte)")
theme("nul.ini", "[256]\nnormal = 252 default\0\n", "not a text file (a NUL byte)")
theme("text-garbage.ini", "colours please\n", "line 1: expected `name = value` or [section]")
theme("colour-999.ini", "[256]\nnormal = 999 default\n", "line 2: [256] normal: '999': expected a colour 0..255")
theme("colour-negative.ini", "[256]\nnormal = -1 default\n", "line 2: [256] normal: '-1': expected a colour 0..255")
theme("colour-8-range.ini", "[8]\nnormal = 9 default\n", "line 2: [8] normal: '9': expected a colour 0..7")
theme("three-colours.ini", "[256]\nnormal = red red red\n", "line 2: [256] normal: 'red': expected at most a foreground and a background colour")
theme("mono-colour.ini", "[mono]\nover = red\n", "line 2: [mono] over: 'red': expected bold, reverse, underline or dim")
theme("attr-typo.ini", "[256]\ntitle = 231 24 blod\n", "line 2: [256] title: 'blod': expected at most a foreground and a background colour")
theme("role-unknown.ini", "[256]\nbackground = 0 0\n", "line 2: [256] background: unknown role")
theme("section-unknown.ini", "[colours]\nnormal = 1\n", "line 2: unknown section [colours]")
theme("section-unclosed.ini", "[256\nnormal = 1\n", "line 1")


# ---- command lines without a file (usage errors exit 2) ------------------------------------------------
args = [
        (2, "eval @tiny --bogus", "unknown or incomplete option '--bogus'"),
    (2, "eval @tiny -c", "unknown or incomplete option"),
    (2, "eval @tiny @tiny", "expected one MODEL"),
    (2, "eval @tiny --float -c x.json", "takes no -c"),
    (2, "frobnicate", "unknown subcommand 'frobnicate'"),
        (2, "bench @tiny --bogus", "unknown or incomplete option '--bogus'"),
    (1, "eval /nonexistent/dir/model.json", "/nonexistent/dir/model.json: cannot open"),
    (1, "eval /dev/null", "/dev/null: not a regular file"),
    (1, "eval /dev/zero --float", "/dev/zero: not a regular file"),
    (1, "eval @tiny -c /dev/null", "/dev/null: not a regular file"),
    (1, "eval @tiny -c @tiny", "tiny: not a regular file"),
    (1, "eval @tmp/no-such-file.json", "no-such-file.json: cannot open: No such file or directory"),
    (1, "eval @tmp/dir-as-model.json", "dir-as-model.json/model.json: cannot open"),
    (1, "eval @tmp/fifo.json", "fifo.json: not a regular file"),
    (1, "eval @tiny -c @tmp/fifo.json", "fifo.json: not a regular file"),
    (1, "eval @tmp/huge.json", "huge.json: too large (314572800 bytes"),
    (1, "eval @tmp/loop.json", "loop.json: cannot open: Too many levels of symbolic links"),
    (1, "eval @tmp/csv-dir --float", "csv-dir/data.csv: not a regular file"),
    (1, "eval @tmp/csv-fifo --float", "csv-fifo/data.csv: not a regular file"),
    (1, "eval @tmp/unreadable.json", "unreadable.json: cannot open: Permission denied"),
    (1, "eval @tiny -c @tmp/cfg-dir.json", "cfg-dir.json: not a regular file"),
    (1, "eval @tmp/" + "x" * 300 + ".json", "cannot open: File name too long"),
    (1, "estimate @tiny -d nosuch", "unknown device 'nosuch'"),
    (1, "estimate @tiny -d ''", "device"),
    (1, "estimate @tiny -d @tmp/dir.ini", "dir.ini: not a regular file"),
    (1, "estimate @tiny -d @tmp/fifo.json", "fifo.json: not a regular file"),
    (1, "estimate @tiny --costs @tmp/no-such-cost.ini", "no-such-cost.ini: cannot open"),
    (1, "estimate @tiny -c @/config/device-unknown.json", "unknown device 'xc9z99'"),
    (1, "estimate @tiny -c @/config/device-path.json", "/etc/passwd"),
    (2, "estimate @tiny --bogus", "unknown or incomplete option"),
    (2, "estimate @tiny -d", "unknown or incomplete option"),
    (1, "@tiny --theme nosuch --dump-screen 80x24", "theme 'nosuch' not found"),
    (1, "@tiny --theme @tmp/huge.ini --dump-screen 80x24", "huge.ini: too large (314572800 bytes"),
    (1, "@tiny --theme @tmp/dir.ini --dump-screen 80x24", "dir.ini"),
    (2, "@tiny --dump-screen 80", "--dump-screen takes COLSxROWS"),
    (2, "@tiny --dump-screen 0x0", "--dump-screen takes COLSxROWS"),
    (2, "@tiny --dump-screen 99999999x99999999", "--dump-screen takes COLSxROWS"),
    (2, "@tiny --bogus", "unknown option '--bogus'"),
    (1, "@/model/op-unknown.json --dump-screen 80x24", "model/op-unknown.json: layers[15].op: unknown op 'swish'"),
    (1, "@tiny -c @/config/bits-17.json --dump-screen 80x24", "config/bits-17.json: defaults.a_bits: expected an integer from 2 to 16"),
    # a save refuses to put a file in place of something that is not one (never test with /dev/null: a
    # regression would replace the system's /dev/null when the tests run as root)
    (1, "search @tiny -o @tmp/fifo.json", "fifo.json: exists and is not a regular file; not replaced"),
    (1, "search @tiny -o @tmp/dir.ini", "dir.ini: exists and is not a regular file; not replaced"),
    (1, "search @tiny -o @tmp/no/such/dir/best.json", "no/such/dir/best.json: cannot create a temporary file"),
    (1, "search @tiny -d nosuch", "unknown device 'nosuch'"),
    (1, "search @/model/op-unknown.json", "model/op-unknown.json: layers[15].op: unknown op 'swish'"),
    (2, "search @tiny --bogus", "unknown or incomplete option '--bogus'"),
    (2, "search @tiny -o", "unknown or incomplete option '-o'"),
    (2, "export @tiny", "-o DIR is required"),
    (2, "export @tiny -o @tmp/x1 --windows -3", "--windows: expected a positive number, got '-3'"),
    (2, "export @tiny -o @tmp/x1 --windows 99999999999", "--windows: expected a positive number"),
    (2, "export @tiny -o @tmp/x1 --bogus", "unknown or incomplete option"),
    (1, "export @tiny -o /dev/null/x", "/dev/null: cannot create a temporary directory: Not a directory"),
    (1, "export @tiny -o /dev/null", "/dev/null: exists and is not a directory"),
    (1, "export @tiny -o @tmp/x1 -c @/config/bits-17.json", "config/bits-17.json: defaults.a_bits: expected an integer from 2 to 16"),
    (1, "export @/model/op-unknown.json -o @tmp/x1", "model/op-unknown.json: layers[15].op: unknown op 'swish'"),
    (1, "MPQX_DATA_DIR=@tmp/data-no-templates export @tiny -o @tmp/x2", "hdl_templates/ram.v: cannot open"),
    (1, "MPQX_DATA_DIR=@tmp/data-dir-template export @tiny -o @tmp/x3", "hdl_templates/relu.v: not a regular file"),
]


def main():
    for sub_dir in ("model", "config", "csv", "tmpl", "device", "cost", "theme"):
        d = os.path.join(HERE, sub_dir)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
    out = ["# Bad-input corpus of mpqx: written by make_bad.py (edit the table there, not this file).",
           "# One case a line: STATUS<TAB>ARGUMENTS<TAB>EXPECTED. The replay (replay.sh) runs",
           "# `mpqx ARGUMENTS` and wants exactly STATUS, EXPECTED (a fixed string: file name and place) in",
           "# the output, no crash and no sanitizer report. In ARGUMENTS @/ is tests/bad/, @tiny is",
           "# tests/data/tiny and @tmp/ a scratch directory the replay fills with the cases git cannot hold.",
           ""]
    n_files = 0
    for path, content, status, argv, expect in cases:
        data = content.encode() if isinstance(content, str) else content
        with open(os.path.join(HERE, path), "wb") as f:
            f.write(data)
        n_files += 1
        if status is None or expect is None or expect.endswith("FILE: "):
            continue
        out.append("%d\t%s\t%s" % (status, argv.replace("FILE", path), expect.replace("FILE", path)))
    for status, argv, expect in args:
        out.append("%d\t%s\t%s" % (status, argv, expect))
    with open(os.path.join(HERE, "MANIFEST"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("%d files, %d cases" % (n_files, len(out) - 6))


if __name__ == "__main__":
    main()
