#!/usr/bin/env bash
# One end-to-end run of the explorer under valgrind (memcheck) in tmux with a private socket, on a copy of
# the tiny model: sliders, a buffer toggle, undo and redo, two compare slots, help, the export dialog,
# a resize, save, quit. Valgrind must report no error (invalid access, uninitialised value, bad free) and no
# definitely lost block; ncurses' still-reachable memory is not an error.
# Usage: test_valgrind.sh MPQX SRC_DIR. Prints TAP.
set -u
mpqx=$(realpath "$1")
src=$(realpath "$2")
. "$src/tests/tap.sh"

if ! command -v tmux >/dev/null || ! command -v valgrind >/dev/null; then
	echo "1..0 # SKIP tmux or valgrind not installed"
	exit 0
fi
# a sanitizer build cannot run under valgrind
if nm "$mpqx" 2>/dev/null | grep -q __asan_init; then
	echo "1..0 # SKIP $mpqx is built with AddressSanitizer (valgrind runs on the plain build)"
	exit 0
fi
sock=mpqx-valgrind-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mpqx-vg.XXXXXX")
T() { tmux -L "$sock" -f /dev/null "$@"; }
cleanup() { T kill-server 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir "$tmp/tiny"
cp "$src/tests/data/tiny/model.json" "$src/tests/data/tiny/data.csv" "$tmp/tiny/"

screen() { T capture-pane -p -t vg 2>/dev/null; }
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		screen | grep -qE -- "$1" && return 0
		sleep 0.1
	done
	return 1
}
# keys KEY... then wait until the screen stops changing (valgrind is slow)
keys() {
	T send-keys -t vg "$@"
	local prev="" cur i
	for ((i = 0; i < 100; i++)); do
		sleep 0.2
		cur=$(screen)
		[ "$cur" = "$prev" ] && return
		prev=$cur
	done
}

T new-session -d -s vg -x 120 -y 36 "cd '$tmp' && env -u NO_COLOR TERM=xterm-256color XDG_STATE_HOME='$tmp/state' MPQX_DATA_DIR='$src' \
	valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
	--track-fds=no --log-file='$tmp/vg.log' '$mpqx' tiny; echo EXIT=\$?; sleep 600"
if wait_for "Layers \\(" 180 && wait_for "MSE [0-9]" 180; then ok "opens under valgrind"; else not_ok "opens under valgrind" "$(screen)"; fi
keys H
keys H
keys j
keys j
keys L
keys b
keys u
keys C-r
keys 1
keys a
keys 2
keys c
if screen | grep -q " Compare "; then ok "compare view under valgrind"; else not_ok "compare view under valgrind" "$(screen)"; fi
keys Escape
keys Tab
keys '?'
keys Escape
keys e
if screen | grep -q "Export"; then ok "export dialog under valgrind"; else not_ok "export dialog under valgrind" "$(screen)"; fi
keys Escape
T resize-window -t vg -x 70 -y 20
keys ''
T resize-window -t vg -x 120 -y 36
keys ''
keys s
keys C-u
T send-keys -t vg -l "$tmp/tiny/vg.json"
keys Enter
keys q
if wait_for "EXIT=" 120; then :; else keys q; wait_for "EXIT=" 120; fi
st=$(screen | sed -n 's/.*EXIT=\([0-9]*\).*/\1/p' | tail -1)
if [ "$st" = 0 ]; then ok "quits with status 0 under valgrind"; else not_ok "quits with status 0 under valgrind (status ${st:-none})" "$(screen)"; fi
[ -f "$tmp/tiny/vg.json" ] && ok "saved a config under valgrind" || not_ok "saved a config under valgrind" "$(screen)"
if grep -q "ERROR SUMMARY: 0 errors" "$tmp/vg.log"; then
	ok "valgrind: $(grep -o 'ERROR SUMMARY: .*' "$tmp/vg.log" | tail -1)"
else
	not_ok "valgrind reports errors" "$(grep -E 'ERROR SUMMARY|Invalid|uninitialised|definitely lost|at 0x|by 0x' "$tmp/vg.log" | head -40)"
fi
echo "# $(grep -E 'definitely lost|still reachable' "$tmp/vg.log" | sed 's/^==[0-9]*== *//' | tr '\n' ';')"
echo "1..$n"
[ "$fails" -eq 0 ]
