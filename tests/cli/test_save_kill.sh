#!/usr/bin/env bash
# No lost work: mpqx is killed with SIGKILL in the middle of an atomic save and the old file must be
# intact, byte for byte; the interrupted save leaves at most its own temporary file behind. Then the same
# save without the kill must replace the file. MPQX_TEST_SAVE_DELAY_MS makes every atomic save pause
# halfway through writing its temporary file (src/cli/main.c, fileio_set_save_hook).
# Usage: test_save_kill.sh MPQX SRC_DIR. Prints TAP.
set -u
mpqx=$(realpath "$1")
src=$(realpath "$2")
. "$src/tests/tap.sh"
tiny=$src/tests/data/tiny
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mpqx-kill.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

# wait_tmp FILE PID: waits (up to 60 s) for FILE.tmp.* to exist with some bytes while PID still runs
wait_tmp() {
	local file=$1 pid=$2 i
	for ((i = 0; i < 600; i++)); do
		for t in "$file".tmp.*; do
			[ -s "$t" ] && { echo "$t"; return 0; }
		done
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# kill_mid_save NAME TARGET -- COMMAND...: runs COMMAND (which saves TARGET atomically) with the pause,
# kills it with SIGKILL while the temporary file is half written, and checks TARGET.
kill_mid_save() {
	local name=$1 target=$2
	shift 3
	cp "$target" "$tmp/before"
	MPQX_TEST_SAVE_DELAY_MS=60000 "$@" >"$tmp/out" 2>&1 &
	local pid=$!
	pids+=("$pid")
	local t
	if ! t=$(wait_tmp "$target" "$pid"); then
		not_ok "$name: the save never started" "$(head -c 400 "$tmp/out")"
		return
	fi
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	local st=$?
	if [ "$st" -ne 137 ]; then
		not_ok "$name: mpqx was not killed by SIGKILL (status $st)"
	elif ! cmp -s "$tmp/before" "$target"; then
		not_ok "$name: the old file changed after a kill in the middle of the save"
	else
		ok "$name: killed with SIGKILL halfway through the save, the old file is intact"
	fi
	# the half-written temporary file proves the kill came in the middle; it never replaced the file
	if [ -f "$t" ] && ! cmp -s "$t" "$target"; then
		ok "$name: the interrupted save left only its temporary file ($(wc -c <"$t") bytes)"
	else
		not_ok "$name: no half-written temporary file: the kill did not come mid-save"
	fi
	rm -f "$target".tmp.*
}

# 1. The dump of `mpqx eval --dump` (dump.json is written by the same atomic save as a config).
mkdir "$tmp/dump"
printf '{"old": "dump that must survive"}\n' >"$tmp/dump/dump.json"
kill_mid_save "eval --dump" "$tmp/dump/dump.json" -- "$mpqx" eval "$tiny" --dump "$tmp/dump"
if "$mpqx" eval "$tiny" --dump "$tmp/dump" >/dev/null 2>&1 &&
	/usr/bin/python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["format"] == "mpqx-dump"' \
		"$tmp/dump/dump.json"; then
	ok "eval --dump: the same save without the kill replaces the file"
else
	not_ok "eval --dump: the same save without the kill did not replace the file"
fi

# 2. `mpqx search -o CONFIG` writes a config; once the subcommand exists it is killed the same way.
if "$mpqx" --help 2>&1 | grep -q "search MODEL"; then
	cat >"$tmp/best.json" <<'EOF'
{"format": "mpqx-config", "version": 1, "defaults": {"w_bits": 6, "a_bits": 6}}
EOF
	kill_mid_save "search -o" "$tmp/best.json" -- "$mpqx" search "$tiny" -o "$tmp/best.json"
	cp "$tmp/best.json" "$tmp/best.before"
	chmod 600 "$tmp/best.json"
	if "$mpqx" search "$tiny" -o "$tmp/best.json" >/dev/null 2>&1 && ! cmp -s "$tmp/best.json" "$tmp/best.before" &&
		"$mpqx" eval "$tiny" -c "$tmp/best.json" >/dev/null 2>&1; then
		ok "search -o: the same save without the kill replaces the file with a config that loads"
		if [ "$(stat -c %a "$tmp/best.json")" = 600 ]; then ok "search -o: the replaced file keeps its mode 600"; else not_ok "search -o: the replaced file has mode $(stat -c %a "$tmp/best.json"), not 600"; fi
	else
		not_ok "search -o: the same save without the kill did not replace the file"
	fi
else
	echo "# search -o is not in this mpqx: skipped"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
