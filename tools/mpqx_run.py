"""Running the mpqx binary from the Python tools: find it, run a subcommand that prints JSON, and read an
integer model's parameters. Each tool passes its own exception class, raised with a message that names
the command and what went wrong."""
import json
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def find_mpqx(explicit, error):
    """The mpqx binary: explicit (--mpqx), else $MPQX, else the build tree beside tools/, else mpqx on PATH."""
    for cand in (explicit, os.environ.get("MPQX"), os.path.join(HERE, "..", "build", "src", "cli", "mpqx")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    path = shutil.which("mpqx")
    if not path:
        raise error("no mpqx binary: build it (meson compile -C build), or pass --mpqx / set $MPQX")
    return path


def run_mpqx(mpqx, args, error):
    """The JSON that `mpqx ARGS` prints."""
    r = subprocess.run([mpqx] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise error("mpqx %s failed: %s" % (" ".join(args), r.stderr.strip()))
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        raise error("mpqx %s: not JSON: %s" % (" ".join(args), e))


def quant_params(mpqx, model_path, config, error):
    """{layer name: entry of `mpqx eval --params`} for the config: the integer model's own parameters."""
    j = run_mpqx(mpqx, ["eval", model_path, "-c", config, "--params"], error)
    return {e["name"]: e for e in j["layers"]}
