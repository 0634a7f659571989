#!/usr/bin/python3
"""The command line's bad-input corpus (tests/bad/MANIFEST) replayed through the Python module: each case
of eval, estimate, export and search becomes the module's call (Model(MODEL).eval(config=...),
.estimate(device=..., costs=...), .export(dir, ...), .search(device=..., output=...)) and must raise
mpqx.Error whose message holds the same expected text, without a crash. Usage errors (status 2) have no
module equivalent except argument values, which must raise; the explorer's theme cases and unknown options
are skipped with a reason. Prints TAP. Usage: test_bad.py SRC_DIR"""
import os
import shutil
import stat
import sys
import tempfile

import mpqx

src = os.path.realpath(sys.argv[1])
bad = os.path.join(src, "tests", "bad")
tiny = os.path.join(src, "tests", "data", "tiny")
tmp = tempfile.mkdtemp(prefix="mpqx-pybad.")

n = fails = 0


def tap(good, desc, *diag):
    global n, fails
    n += 1
    if not good:
        fails += 1
    print(("ok" if good else "not ok") + f" {n} - {desc}")
    for d in diag:
        for line in str(d)[:2000].splitlines():
            print("# " + line)
    sys.stdout.flush()


def skip(desc, why):
    global n
    n += 1
    print(f"ok {n} - {desc} # SKIP {why}")


# The cases git cannot hold, as tests/bad/replay.sh makes them.
for d in ("dir-as-model.json", "cfg-dir.json", "dir.ini", "csv-dir", "csv-fifo"):
    os.mkdir(os.path.join(tmp, d))
os.mkfifo(os.path.join(tmp, "fifo.json"))
for f in ("huge.json", "huge.ini"):
    with open(os.path.join(tmp, f), "wb") as fp:
        fp.truncate(300 << 20)
os.symlink("loop.json", os.path.join(tmp, "loop.json"))
for d in ("csv-dir", "csv-fifo"):
    shutil.copy(os.path.join(tiny, "model.json"), os.path.join(tmp, d, "model.json"))
os.mkdir(os.path.join(tmp, "csv-dir", "data.csv"))
os.mkfifo(os.path.join(tmp, "csv-fifo", "data.csv"))
shutil.copy(os.path.join(tiny, "model.json"), os.path.join(tmp, "unreadable.json"))
os.chmod(os.path.join(tmp, "unreadable.json"), 0)


def data_dir(name):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    for part in ("devices", "themes", "samples"):
        if os.path.exists(os.path.join(src, part)):
            os.symlink(os.path.join(src, part), os.path.join(d, part))
    shutil.copytree(os.path.join(src, "hdl_templates"), os.path.join(d, "hdl_templates"))
    return d


for f in sorted(os.listdir(os.path.join(bad, "tmpl"))):
    if "--" in f and f.endswith(".v"):
        b = f[:-2]
        d = data_dir("data-" + b)
        shutil.copy(os.path.join(bad, "tmpl", f), os.path.join(d, "hdl_templates", b.split("--")[0] + ".v"))
shutil.rmtree(os.path.join(data_dir("data-no-templates"), "hdl_templates"))
d = data_dir("data-dir-template")
os.remove(os.path.join(d, "hdl_templates", "relu.v"))
os.mkdir(os.path.join(d, "hdl_templates", "relu.v"))
try:
    open(os.path.join(tmp, "unreadable.json")).close()
    can_deny = False
except OSError:
    can_deny = True


def expand(w):
    return w.replace("@tiny", tiny).replace("@tmp/", tmp + "/").replace("@/", bad + "/")


def run_case(words):
    """The module's call for one command line: None when it has none (with the reason), else a function."""
    sub, rest = words[0], words[1:]
    if sub not in ("eval", "estimate", "export", "search"):
        return None, "not a subcommand the module offers (the explorer, bench or a typo)"
    opts, model, i = {}, None, 0
    while i < len(rest):
        w = rest[i]
        if w in ("-c", "-d", "--costs", "-o", "--windows"):
            if i + 1 >= len(rest):
                return None, f"option {w} without its value: a command-line usage error"
            opts[w] = rest[i + 1]
            i += 2
        elif w in ("--float", "--sim", "--json"):
            opts[w] = True
            i += 1
        elif w.startswith("-"):
            return None, f"command-line option {w} has no module equivalent"
        elif model is None:
            model = w
            i += 1
        else:
            return None, "two MODEL arguments: a command-line usage error"
    if "--float" in opts and "-c" in opts:
        return None, "--float with -c: a command-line usage error"
    if sub == "export" and "-o" not in opts:
        return None, "export without -o: a command-line usage error"
    model = model or os.path.join(src, "samples", "seattle-hourly")

    def call():
        m = mpqx.Model(model)
        cfg = opts.get("-c")
        if sub == "eval":
            if "--float" not in opts:
                m.eval(cfg)
        elif sub == "estimate":
            m.estimate(cfg, device=opts.get("-d"), costs=opts.get("--costs"))
        elif sub == "search":
            m.search(opts.get("-d"), config=cfg, output=opts.get("-o"))
        else:
            w = opts.get("--windows")
            m.export(opts["-o"], cfg, **({"windows": int(w)} if w is not None else {}),
                     **({"device": opts["-d"]} if "-d" in opts else {}))

    return call, None


with open(os.path.join(bad, "MANIFEST")) as fp:
    lines = fp.read().splitlines()
tried = 0
for line in lines:
    if not line or line.startswith("#"):
        continue
    want, argline, expect = line.split("\t")
    desc = f"{want}: mpqx {argline[:90]}"
    if "unreadable.json" in argline and not can_deny:
        skip(desc, "running as root, which ignores file modes")
        continue
    words = [expand(w) for w in argline.split()]
    env = {}
    while words and "=" in words[0] and words[0].split("=")[0].isupper():
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    call, why = run_case(words) if words else (None, "empty")
    if call is None:
        skip(desc, why)
        continue
    tried += 1
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        call()
        tap(False, desc, "no exception: the command line exits %s with: %s" % (want, expect))
    except mpqx.Error as e:
        msg = str(e)
        if want == "2" or expect in msg:
            tap(True, desc)
        else:
            tap(False, desc, "message lacks: " + expect, "got: " + msg)
    except (TypeError, ValueError, OverflowError) as e:
        # argument values the command line refuses as usage errors
        tap(want == "2", desc, f"{type(e).__name__}: {e}")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

for root, dirs, files in os.walk(tmp):
    for x in dirs + files:
        p = os.path.join(root, x)
        if not os.path.islink(p):
            try:
                os.chmod(p, stat.S_IRWXU)
            except OSError:
                pass
shutil.rmtree(tmp, ignore_errors=True)
print(f"# {tried} cases run through the module, {fails} failed")
print(f"1..{n}")
sys.exit(1 if fails else 0)
