#!/usr/bin/python3
"""Mixed-precision search with Optuna over the mpqx Python module, the reference flow with the synthesis run
of every trial replaced by mpqx's estimate.

Each trial suggests every layer's weight bits (layers with weights) and output bits, prunes the
configuration when m.estimate(...)['fits'] says it does not fit the device (the reference flow ran a
synthesis here, minutes a trial), and otherwise minimises the test MSE m.eval(...)['mse']. It prints the
trials per second and compares its best with mpqx's own search (m.search, the same as `mpqx search`): with
the storage left to the auto rule as in the trials (keep_storage=True: the same space), and with the
storage chosen too.

    PYTHONPATH=build/python /usr/bin/python3 examples/optuna_search.py                 # both samples
    PYTHONPATH=build/python /usr/bin/python3 examples/optuna_search.py samples/seattle-daily --trials 3000

Needs python3-optuna (Debian). Seeded: the same arguments give the same trials."""
import argparse
import json
import os
import sys
import time

import mpqx

try:
    import optuna
except ImportError:
    sys.exit("optuna_search.py: needs Optuna (Debian: apt-get install python3-optuna)")

here = os.path.dirname(os.path.abspath(__file__))


def bit_range(text):
    lo, _, hi = text.partition("-")
    lo, hi = int(lo), int(hi or lo)
    if not 2 <= lo <= hi <= 16:
        raise argparse.ArgumentTypeError("expected LO-HI within 2-16")
    return lo, hi


def run(path, args):
    m = mpqx.Model(path)
    lo, hi = args.bits
    layers = m.layers

    def config(params):
        out = {}
        for l in layers:
            e = {"a_bits": params[l["name"] + ".a"]}
            if l["has_weights"]:
                e["w_bits"] = params[l["name"] + ".w"]
            out[l["name"]] = e
        return {"format": "mpqx-config", "version": 1, "device": args.device, "layers": out}

    best = [float("inf")]
    curve = []  # (trial number, best MSE so far) after each trial
    counts = {"pruned": 0, "evaluated": 0}
    t_est, t_eval = [0.0], [0.0]

    def objective(trial):
        params = {}
        for l in layers:
            params[l["name"] + ".a"] = trial.suggest_int(l["name"] + ".a", lo, hi)
            if l["has_weights"]:
                params[l["name"] + ".w"] = trial.suggest_int(l["name"] + ".w", lo, hi)
        cfg = config(params)
        t0 = time.perf_counter()
        fits = m.estimate(cfg)["fits"]  # the synthesis of the reference flow
        t_est[0] += time.perf_counter() - t0
        if not fits:
            counts["pruned"] += 1
            curve.append((trial.number, best[0]))
            raise optuna.TrialPruned()
        t0 = time.perf_counter()
        mse = m.eval(cfg)["mse"]
        t_eval[0] += time.perf_counter() - t0
        counts["evaluated"] += 1
        best[0] = min(best[0], mse)
        curve.append((trial.number, best[0]))
        return mse

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {"tpe": optuna.samplers.TPESampler, "nsga2": optuna.samplers.NSGAIISampler,
                "random": optuna.samplers.RandomSampler}
    study = optuna.create_study(direction="minimize", sampler=samplers[args.sampler](seed=args.seed))
    # Start where a user would: uniform 8 bits.
    study.enqueue_trial({k: 8 for l in layers for k in ([l["name"] + ".a"] + ([l["name"] + ".w"] if l["has_weights"] else []))})
    t0, c0 = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=args.trials, timeout=args.timeout)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    trials = len(curve)

    t0 = time.perf_counter()
    same_space = m.search(args.device, keep_storage=True, wbits=f"{lo}-{hi}", abits=f"{lo}-{hi}")
    t_search = time.perf_counter() - t0
    full = m.search(args.device, wbits=f"{lo}-{hi}", abits=f"{lo}-{hi}")
    ref = same_space["best"]["mse"] if same_space["found"] else float("nan")
    ref_full = full["best"]["mse"] if full["found"] else float("nan")
    within = next((n + 1 for n, b in curve if b <= 1.01 * ref), None)
    r = {
        "model": m.name, "device": args.device, "sampler": args.sampler, "bits": f"{lo}-{hi}", "params": len(study.trials[0].params),
        "trials": trials, "pruned": counts["pruned"], "evaluated": counts["evaluated"], "seconds": wall, "cpu_seconds": cpu, "load_average": os.getloadavg()[0],
        "trials_per_s": trials / wall, "estimate_ms_mean": 1e3 * t_est[0] / max(trials, 1),
        "eval_ms_mean": 1e3 * t_eval[0] / max(counts["evaluated"], 1),
        "optuna_ms_per_trial": 1e3 * (wall - t_est[0] - t_eval[0]) / max(trials, 1),
        "optuna_best_mse": best[0], "search_best_mse": ref, "search_seconds": t_search,
        "search_best_mse_storage_chosen": ref_full, "uniform8_mse": same_space["uniform8"]["mse"],
        "uniform8_fits": same_space["uniform8"]["fits"], "trials_to_within_1pct": within,
        "best_so_far": [b for _, b in curve][:: max(1, trials // 50)],
    }
    print(f"{m.name} on {args.device}, sampler {args.sampler}: {r['params']} parameters (bits {lo}-{hi}), {trials} trials in {wall:.1f} s: "
          f"{r['trials_per_s']:.1f} trials/s ({counts['pruned']} pruned by the estimate, "
          f"{counts['evaluated']} evaluated; {cpu:.1f} s of CPU, load average {os.getloadavg()[0]:.1f})")
    print(f"  per trial: estimate {r['estimate_ms_mean']:.2f} ms, eval {r['eval_ms_mean']:.2f} ms (of an evaluated "
          f"trial), Optuna's own sampling and bookkeeping {r['optuna_ms_per_trial']:.1f} ms")
    print(f"  Optuna best MSE  {best[0]:.6g}")
    print(f"  mpqx search      {ref:.6g} (storage auto as in the trials, {t_search:.1f} s); "
          f"{ref_full:.6g} with the storage chosen too")
    print(f"  uniform 8 bits   {r['uniform8_mse']:.6g} ({'fits' if r['uniform8_fits'] else 'does not fit'})")
    print(f"  Optuna / search  {best[0] / ref:.4f}; "
          + (f"within 1% of the search's best after {within} trials" if within
             else f"not within 1% of the search's best after {trials} trials"))
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*", help="model.json or sample directories (default: both samples)")
    p.add_argument("--trials", type=int, default=1000, help="trials per model (default 1000)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per model at most")
    p.add_argument("--device", default="xc7s15")
    p.add_argument("--bits", type=bit_range, default=(2, 16), help="bit range of every parameter (default 2-16)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sampler", choices=("tpe", "nsga2", "random"), default="tpe",
                   help="Optuna's sampler (default tpe, as the reference flow; Debian's Optuna 3.1 samples TPE's "
                        "truncated normals in pure Python, 0.1-0.5 s a trial on 30 parameters)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args()
    models = args.models or [os.path.join(here, "..", "samples", s) for s in ("seattle-daily", "seattle-hourly")]
    results = []
    try:
        for path in models:
            results.append(run(path, args))
    except mpqx.Error as e:
        sys.exit(f"optuna_search.py: {e}")
    if args.json:
        with open(args.json, "w") as fp:
            json.dump(results, fp, indent=1)


if __name__ == "__main__":
    main()
