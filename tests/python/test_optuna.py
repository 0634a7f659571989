#!/usr/bin/python3
"""examples/optuna_search.py runs: a short seeded study on the tiny model, its figures are sane (trials,
pruned + evaluated, the best not below what the search found on the same space by more than its exact
evaluation allows). Skipped (77) without Optuna. Usage: test_optuna.py SRC_DIR"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import optuna  # noqa: F401
except ImportError:
    print("Optuna is not installed (python3-optuna): skipped")
    sys.exit(77)

src = sys.argv[1]
out = os.path.join(tempfile.mkdtemp(prefix="mpqx-optuna."), "r.json")
p = subprocess.run([sys.executable, os.path.join(src, "examples", "optuna_search.py"),
                    os.path.join(src, "tests", "data", "tiny"), "--trials", "40", "--bits", "4-10", "--json", out],
                   capture_output=True, text=True)
print(p.stdout, p.stderr)
if p.returncode != 0:
    sys.exit(1)
r = json.load(open(out))[0]
ok = (r["trials"] == 40 and r["pruned"] + r["evaluated"] == 40 and r["evaluated"] > 0
      and r["optuna_best_mse"] > 0 and r["search_best_mse"] > 0 and r["trials_per_s"] > 0
      and "trials/s" in p.stdout and "mpqx search" in p.stdout)
print("figures:", {k: r[k] for k in ("trials", "pruned", "evaluated", "trials_per_s", "optuna_best_mse",
                                     "search_best_mse")})
sys.exit(0 if ok else 1)
