#!/usr/bin/env bash
# Installs what is missing, builds mpqx with meson and runs every test suite.
# Ends with one line "N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")"
./tools/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

build=${MPQX_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
meson compile -C "$build" || { echo "0 passed, 1 failed"; exit 1; }

meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
status=$?

/usr/bin/python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
try:
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line).get("result", "")
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
except OSError:
    failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
