#!/usr/bin/env bash
# Installs what is missing, builds mpqx and opens it on the bundled default sample.
set -euo pipefail
cd "$(dirname "$0")"
./tools/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build >/dev/null
exec ./build/src/cli/mpqx "$@"
