#!/usr/bin/env bash
# The terminal is always restored: the explorer runs in tmux (private socket) on a copy of the tiny model
# and is ended by q, by C-c, and by the signals INT, TERM, HUP, QUIT, SEGV, BUS, FPE and ABRT sent to it.
# Afterwards the tty modes (stty -g) must equal those before it started, and tmux must see the normal
# screen, a visible cursor, no mouse reporting and no keypad mode. Crash signals must still end the process
# by that signal (status 128+N). Finally no lost work in the explorer: `s` saves a config, and a SIGKILL in
# the middle of the next save (MPQX_TEST_SAVE_DELAY_MS) leaves that file intact.
# Usage: test_signals.sh MPQX SRC_DIR. Prints TAP.
set -u
mpqx=$(realpath "$1")
src=$(realpath "$2")
. "$src/tests/tap.sh"

if ! command -v tmux >/dev/null; then
	echo "1..0 # SKIP tmux not installed"
	exit 0
fi
sock=mpqx-signals-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mpqx-sig.XXXXXX")
T() { tmux -L "$sock" -f /dev/null "$@"; }
cleanup() { T kill-server 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir "$tmp/tiny"
cp "$src/tests/data/tiny/model.json" "$src/tests/data/tiny/data.csv" "$tmp/tiny/"

screen() { T capture-pane -p -t sig 2>/dev/null; }
# wait_for PATTERN SECONDS: polls the screen every 50 ms
wait_for() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		screen | grep -qE -- "$1" && return 0
		sleep 0.05
	done
	return 1
}
# wait_file FILE SECONDS
wait_file() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# start [ENV...]: a fresh session; the shell records the tty modes, mpqx's pid and status, the modes after
start() {
	T kill-server 2>/dev/null
	rm -f "$tmp/before" "$tmp/after" "$tmp/pid" "$tmp/status"
	local try
	for ((try = 0; try < 5; try++)); do
		T new-session -d -s sig -x 100 -y 30 "cd '$tmp' && stty sane && stty -g > before; \
			sh -c 'echo \$\$ > pid; exec env -u NO_COLOR TERM=xterm-256color XDG_STATE_HOME=\"$tmp/state\" MPQX_DATA_DIR=\"$src\" $* \"$mpqx\" tiny'; \
			echo \$? > status; stty -g > after; sleep 600" 2>/dev/null && break
		sleep 0.2 # the previous server may still be going away
	done
	wait_file "$tmp/pid" 10 && wait_for "Layers \\(" 60
}

# modes: tmux's view of the terminal the program left behind
modes() {
	T display -p -t sig 'alt=#{alternate_on} cursor=#{cursor_flag} keypad=#{keypad_flag} kcursor=#{keypad_cursor_flag} mouse=#{mouse_any_flag}#{mouse_button_flag}#{mouse_standard_flag}#{mouse_all_flag} insert=#{insert_flag}'
}
clean_modes='alt=0 cursor=1 keypad=0 kcursor=0 mouse=0000 insert=0'

# check NAME WANT_STATUS: after the program ended
check() {
	local name=$1 want=$2
	if ! wait_file "$tmp/status" 15; then
		not_ok "$name: mpqx did not end" "$(screen)"
		return
	fi
	wait_file "$tmp/after" 5
	local st m
	st=$(cat "$tmp/status")
	m=$(modes)
	if [ "$st" != "$want" ]; then
		not_ok "$name: exit status $st, want $want" "$(screen)"
	elif ! cmp -s "$tmp/before" "$tmp/after"; then
		not_ok "$name: tty modes not restored" "before: $(cat "$tmp/before")" "after:  $(cat "$tmp/after")"
	elif [ "$m" != "$clean_modes" ]; then
		not_ok "$name: terminal left in another mode" "$m" "want $clean_modes"
	else
		ok "$name: status $st, tty modes and screen modes restored"
	fi
}

if start; then ok "opens the tiny model"; else not_ok "opens the tiny model" "$(screen)"; fi
T send-keys -t sig q
check "q" 0

start
T send-keys -t sig C-c
check "C-c" 0

# interrupting signals end the explorer normally; crash signals restore the terminal, then take their
# default action (the shell sees 128 + the signal number)
for sig in INT TERM HUP QUIT SEGV BUS FPE ABRT; do
	case $sig in INT | TERM | HUP | QUIT) want=0 ;; *) want=$((128 + $(kill -l "$sig"))) ;; esac
	if ! start; then
		not_ok "SIG$sig: the explorer did not start" "$(screen)"
		continue
	fi
	kill -s "$sig" "$(cat "$tmp/pid")"
	check "SIG$sig" "$want"
done

# No lost work in the explorer: a config file exists; change a slider and save over it, but SIGKILL the
# explorer halfway through the save.
cfg=$tmp/tiny/kept.json
printf '{"format": "mpqx-config", "version": 1, "defaults": {"w_bits": 6, "a_bits": 6}}\n' >"$cfg"
cp "$cfg" "$tmp/kept.before"
start MPQX_TEST_SAVE_DELAY_MS=60000
T send-keys -t sig H
sleep 0.2
T send-keys -t sig s
wait_for "ave" 5
T send-keys -t sig C-u
T send-keys -t sig -l "$cfg"
T send-keys -t sig Enter
wait_for "exists: Enter again replaces it" 10 # the file is not the config being edited: asked once
T send-keys -t sig Enter
found=
for ((i = 0; i < 200; i++)); do
	for t in "$cfg".tmp.*; do [ -s "$t" ] && found=$t; done
	[ -n "$found" ] && break
	sleep 0.05
done
if [ -z "$found" ]; then
	not_ok "explorer save: the save never started" "$(screen)"
else
	kill -9 "$(cat "$tmp/pid")"
	wait_file "$tmp/status" 10
	if [ "$(cat "$tmp/status")" = 137 ] && cmp -s "$cfg" "$tmp/kept.before"; then
		ok "explorer save: SIGKILL halfway through the save leaves the old config intact"
	else
		not_ok "explorer save: the old config changed or mpqx was not killed" "status $(cat "$tmp/status")" "$(cat "$cfg")"
	fi
fi

# ...and the same save without the pause replaces the file with a config mpqx loads back.
rm -f "$cfg".tmp.*
start
T send-keys -t sig H
sleep 0.2
T send-keys -t sig s
wait_for "ave" 5
T send-keys -t sig C-u
T send-keys -t sig -l "$cfg"
T send-keys -t sig Enter
wait_for "exists: Enter again replaces it" 10 # the file is not the config being edited: asked once
T send-keys -t sig Enter
if wait_for "saved " 10 && "$mpqx" eval "$tmp/tiny" -c "$cfg" >/dev/null 2>&1 && ! cmp -s "$cfg" "$tmp/kept.before"; then
	ok "explorer save: without the kill the file is replaced by a config that loads"
else
	not_ok "explorer save: the save without the kill did not replace the file" "$(screen)"
fi
T send-keys -t sig q
check "q after a save" 0

echo "1..$n"
[ "$fails" -eq 0 ]
