#!/usr/bin/env bash
# Installs what is missing, builds mpqx with meson and runs every test suite twice: in the normal build
# and in a second configuration built with -Db_sanitize=address,undefined, where any AddressSanitizer,
# LeakSanitizer or UndefinedBehaviorSanitizer report fails the test that caused it.
# Ends with one line "N passed, N failed" counting both runs, and exits non-zero on any failure.
#
# Environment: MPQX_BUILD_DIR (default build), MPQX_ASAN_BUILD_DIR (default build-asan), MPQX_ASAN=0 to
# skip the sanitizer run. Arguments go to both `meson test` runs (for example --suite unit).
set -uo pipefail
cd "$(dirname "$0")"
./tools/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

build=${MPQX_BUILD_DIR:-build}
asan=${MPQX_ASAN_BUILD_DIR:-build-asan}
logs=()
status=0
setup_failed=0

# run_suite DIR TIMEOUT_MULTIPLIER [meson setup options...]: builds DIR and runs the tests there
run_suite() {
	local dir=$1 mult=$2
	shift 2
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null || { setup_failed=$((setup_failed + 1)); status=1; return; }
	fi
	meson compile -C "$dir" -j 2 || { setup_failed=$((setup_failed + 1)); status=1; return; }
	echo "== tests in $dir"
	meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier "$mult" "${test_args[@]}" ||
		status=1
	logs+=("$dir/meson-logs/testlog.json")
}
test_args=("$@")

run_suite "$build" 1

if [ "${MPQX_ASAN:-1}" != 0 ]; then
	# Any report stops the program with a status no test expects (86, 87), and is printed with its stack.
	export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1:exitcode=86:strict_string_checks=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:print_summary=1:exitcode=87
	export LSAN_OPTIONS=exitcode=86
	run_suite "$asan" 3 -Db_sanitize=address,undefined -Dc_args=-fno-sanitize-recover=all
fi

/usr/bin/python3 - "$setup_failed" "${logs[@]}" <<'PY'
import json, sys
passed = skipped = 0
failed = int(sys.argv[1])
for path in sys.argv[2:]:
    try:
        with open(path) as f:
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
