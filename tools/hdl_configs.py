#!/usr/bin/python3
"""Writes random mixed-precision configs (config format v1) for a model, for the hardware checks.

    /usr/bin/python3 tools/hdl_configs.py MODEL.json OUTDIR COUNT SEED

Each config draws w_bits and a_bits from 2..16 for every layer (each independently) and a random buffer
(block, distributed, auto) and ROM (block, logic, auto) storage, and a multiplier choice (dsp, logic,
auto) from a second generator and a weight granularity (tensor, channel) from a third, so that the bits
and storage of a seed are those drawn before the multiplier choice and the granularity existed; files are
OUTDIR/mixed-SEED-I.json.
"""
import json
import os
import random
import sys


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    model_path, out, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if os.path.isdir(model_path):
        model_path = os.path.join(model_path, "model.json")
    with open(model_path) as f:
        model = json.load(f)
    os.makedirs(out, exist_ok=True)
    rng = random.Random(seed)
    mrng = random.Random(seed * 7919 + 1)
    grng = random.Random(seed * 104729 + 3)
    for i in range(count):
        layers = {}
        for l in model["layers"]:
            layers[l["name"]] = {
                "w_bits": rng.randint(2, 16),
                "a_bits": rng.randint(2, 16),
                "buffer": rng.choice(["block", "distributed", "auto"]),
                "rom": rng.choice(["block", "logic", "auto"]),
                "mult": mrng.choice(["dsp", "logic", "auto"]),
                "w_granularity": grng.choice(["tensor", "channel"]),
            }
        cfg = {"format": "mpqx-config", "version": 1, "device": "xc7s15",
               "defaults": {"w_bits": 8, "a_bits": 8, "buffer": "auto", "rom": "auto"},
               "layers": layers}
        with open(os.path.join(out, "mixed-%d-%d.json" % (seed, i)), "w") as f:
            json.dump(cfg, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
