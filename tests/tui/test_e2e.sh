#!/usr/bin/env bash
# End-to-end runs of the explorer in tmux (private socket), polling the screen instead of sleeping:
# open the default sample, move a slider and see MSE and a meter change, switch a buffer to block RAM and
# see BRAM change, store and compare two slots, export with simulation and see mismatches=0, quit, and the
# terminal is restored; a SIGTERM also restores it.
# Usage: test_e2e.sh MPQX SRC_DIR. Prints TAP.
set -u
mpqx=$(realpath "$1")
src=$2
. "$src/tests/tap.sh"

if [ ! -f "$src/samples/seattle-hourly/model.json" ]; then
	echo "1..0 # SKIP the default sample samples/seattle-hourly is not there"
	exit 0
fi
if ! command -v tmux > /dev/null; then
	echo "1..0 # SKIP tmux not installed"
	exit 0
fi
# A fresh private server for every run: reusing a socket right after kill-server can reach the dying server.
runs=0
sock=mpqx-e2e-$$-0
tmp=$(mktemp -d)
T() { tmux -L "$sock" -f /dev/null "$@"; }
cleanup() {
	local k
	for ((k = 0; k <= runs; k++)); do
		tmux -L "mpqx-e2e-$$-$k" kill-server 2> /dev/null
		rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/mpqx-e2e-$$-$k"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

screen() { T capture-pane -p -t e2e; }
# wait_for PATTERN [SECONDS]: polls the screen every 50 ms until grep -E matches.
wait_for() {
	local pat=$1 limit=$(( ${2:-20} * 20 )) i
	for ((i = 0; i < limit; i++)); do
		screen | grep -qE -- "$pat" && return 0
		sleep 0.05
	done
	return 1
}
# wait_change LINE_PATTERN OLD [SECONDS]: polls until the first line matching LINE_PATTERN differs from OLD.
wait_change() {
	local pat=$1 old=$2 limit=$(( ${3:-20} * 20 )) i cur
	for ((i = 0; i < limit; i++)); do
		cur=$(screen | grep -E -m1 -- "$pat")
		[ -n "$cur" ] && [ "$cur" != "$old" ] && return 0
		sleep 0.05
	done
	return 1
}
line() { screen | grep -E -m1 -- "$1"; }
# Waits until no evaluation is pending, so the figures on the screen belong to the config.
settle() { for ((i = 0; i < 400; i++)); do screen | grep -q "computing" || return 0; sleep 0.05; done; }

start() {
	T kill-server 2> /dev/null
	runs=$((runs + 1))
	sock=mpqx-e2e-$$-$runs
	T new-session -d -s e2e -x 120 -y 36 "cd '$tmp' && stty sane && env -u NO_COLOR TERM=xterm-256color XDG_STATE_HOME='$tmp/state' MPQX_DATA_DIR='$src' '$mpqx' $*; echo EXIT=\$?; stty -a | tr ' ' '\n' | grep -E '^-?(icanon|echo)$' | tr '\n' ' '; echo; sleep 600"
}

start
if wait_for "Layers \\(" 60 && wait_for "MSE [0-9]" 60; then ok "opens the default sample"; else not_ok "opens the default sample" "$(screen)"; fi
settle

# Move the output bits of the selected layer (the first with weights) down by 4 with its direct key: its
# buffer narrows (LUTRAM) and the error grows. (H moves whichever slider has the focus: weights at start.)
mse=$(line " MSE [0-9]")
lutram=$(line "^.*LUTRAM [^ ]*[▏▎▍▌▋▊▉█░▓]")
T send-keys -t e2e a a a a
if wait_change " MSE [0-9]" "$mse" 20; then ok "slider moves the MSE"; else not_ok "slider moves the MSE" "before: $mse" "$(screen)"; fi
if wait_change "LUTRAM [^ ]*[▏▎▍▌▋▊▉█░▓]" "$lutram" 20; then ok "slider moves the LUTRAM meter"; else not_ok "slider moves the LUTRAM meter" "$(screen)"; fi
settle

# Find a layer whose buffer auto-resolves to distributed RAM (lower-case d in the graph), select it and put
# its buffer in block RAM.
T send-keys -t e2e g
wait_for "▶ input" 5
found=0
for ((k = 0; k < 40; k++)); do
	if screen | grep -E "▶ [a-z0-9_.]+ +[-0-9]+/[0-9]+ d" > /dev/null && ! screen | grep -qE "▶ (input|pool|head) "; then
		found=1
		break
	fi
	sel=$(screen | grep -o "▶ [a-z0-9_.]*")
	T send-keys -t e2e j
	wait_change "▶ " "$(line '▶ ')" 5
done
bram=$(line "BRAM +[^ ]*[▏▎▍▌▋▊▉█░▓]")
T send-keys -t e2e b
if [ $found = 1 ] && wait_for "buffer   block" 10 && wait_change "BRAM +[^ ]*[▏▎▍▌▋▊▉█░▓]" "$bram" 10; then
	ok "buffer to block RAM changes BRAM"
else
	not_ok "buffer to block RAM changes BRAM" "before: $bram" "$(screen)"
fi
settle

# Two slots side by side.
T send-keys -t e2e 1
wait_for "stored in slot 1" 10
T send-keys -t e2e a
settle
T send-keys -t e2e 2
wait_for "stored in slot 2" 10
T send-keys -t e2e c
if wait_for " Compare " 5 && screen | grep -q "slot 1 " && screen | grep -q "slot 2 " && screen | grep -q "◆" &&
	screen | grep -qE "^MSE +[0-9.e-]+[◆★]? +[0-9.e-]+[◆★]? +[0-9.e-]+[◆★]?"; then
	ok "compare view shows two slots with differences marked and MSE rows"
else
	not_ok "compare view shows two slots with differences marked and MSE rows" "$(screen)"
fi
# It decides: each column's device, the best of a row starred, MSE against float, dominated columns; b
# makes slot 2 the base of the differences; ? shows the compare view's own keys.
if screen | grep -qE "^ device +xc7s15 +xc7s15 +xc7s15" && screen | grep -q "★" &&
	screen | grep -qE "^MSE vs float +[-+][0-9.]+%" && screen | grep -qE "^dominated by"; then
	ok "compare view: device row, best marks, MSE against float, dominance"
else
	not_ok "compare view: device row, best marks, MSE against float, dominance" "$(screen)"
fi
T send-keys -t e2e b
if wait_for "slot 2 base" 5 && wait_for "differences against slot 2" 5; then ok "compare: b diffs against slot 2"; else not_ok "compare: b diffs against slot 2" "$(screen)"; fi
T send-keys -t e2e '?'
if wait_for "Help: compare" 5 && screen | grep -q "empty the selected slot"; then ok "compare: ? shows its keys"; else not_ok "compare: ? shows its keys" "$(screen)"; fi
T send-keys -t e2e Escape
wait_for " Compare " 5
T send-keys -t e2e Escape
wait_for "Layers \\(" 5

# Export with simulation in the background: progress shows, keys typed meanwhile do nothing to it, Esc
# cancels and leaves no directory, temporary or final.
T send-keys -t e2e e
wait_for "Export Verilog" 5
T send-keys -t e2e Up Up Up C-u
T send-keys -t e2e -l "$tmp/export"
T send-keys -t e2e Enter BSpace BSpace BSpace BSpace 8 Enter Down Enter
if wait_for "simulating: [0-9]+/8 windows" 60; then
	ok "export runs in the background with progress"
else
	not_ok "export runs in the background with progress" "$(screen)"
fi
T send-keys -t e2e Enter
if wait_for "an export is running" 5; then ok "Enter during an export does not start another"; else not_ok "Enter during an export does not start another" "$(screen)"; fi
T send-keys -t e2e Escape
if wait_for "cancelled: .* left as it was" 20 && [ ! -e "$tmp/export" ] && ! ls -A "$tmp" | grep -q "^\.export\."; then
	ok "Esc cancels the export and leaves nothing behind"
else
	not_ok "Esc cancels the export and leaves nothing behind" "$(ls -A "$tmp")" "$(screen)"
fi

# The same dialog keeps its settings: 4 windows this time (with 2 a fast machine finished before the
# dialog was hidden), the dialog hidden meanwhile (the explorer stays live and reports on the status
# line), shown again for the result.
T send-keys -t e2e Up Up BSpace 4 Down Down Enter
wait_for "simulating|writing" 10
T send-keys -t e2e e
if wait_for "goes on in the background" 5 && wait_for "Layers \\(" 5; then
	ok "the export dialog hides while the export runs"
else
	not_ok "the export dialog hides while the export runs" "$(screen)"
fi
T send-keys -t e2e e
if wait_for "RESULT windows=4 mismatches=0" 240; then
	ok "export with simulation: mismatches=0"
else
	not_ok "export with simulation: mismatches=0" "$(screen)"
fi
[ -d "$tmp/export" ] && ok "export wrote $tmp/export" || not_ok "export wrote the directory"
T send-keys -t e2e Escape

# Quit: modified, so twice; ^C is q (it asks, it does not discard); the terminal comes back in canonical
# mode with echo.
T send-keys -t e2e C-c
if wait_for "unsaved changes" 5 && ! screen | grep -q "EXIT="; then
	ok "^C with unsaved changes asks like q"
else
	not_ok "^C with unsaved changes asks like q" "$(screen)"
fi
T send-keys -t e2e q
if wait_for "EXIT=0" 10; then ok "^C q quits with status 0"; else not_ok "^C q quits with status 0" "$(screen)"; fi
if wait_for "^icanon echo" 5; then ok "terminal restored (icanon echo)"; else not_ok "terminal restored (icanon echo)" "$(screen)"; fi
if [ "$(T display -p -t e2e '#{alternate_on}')" = 0 ]; then ok "alternate screen left"; else not_ok "alternate screen left"; fi

# The slots stored in the first run come back; a signal restores the terminal too.
start
wait_for "Layers \\(" 60
if wait_for "2 slots restored" 10 && ls "$tmp"/state/mpqx/slots/seattle-hourly-*.json > /dev/null; then
	ok "slots come back on the next start"
else
	not_ok "slots come back on the next start" "$(ls -R "$tmp/state" 2>&1)" "$(screen)"
fi
pid=$(T list-panes -t e2e -F '#{pane_pid}')
child=$(pgrep -P "$pid" -f mpqx | head -1)
[ -n "$child" ] && kill -TERM "$child"
if [ -n "$child" ] && wait_for "EXIT=0" 10 && wait_for "^icanon echo" 5; then
	ok "SIGTERM: exit and terminal restored"
else
	not_ok "SIGTERM: exit and terminal restored" "pane $pid, mpqx '$child'" "$(screen)"
fi

# Keys at 80x24: Home/End in the forms terminals send (ESC[1~ ESC[4~, ESC[7~ ESC[8~, ESC[H ESC[F); / finds a
# layer; = replaces its pre-filled value; the help scrolls; f chooses on the calibration windows and
# keeps edits made while it runs.
start
wait_for "Layers \\(" 60
settle
T resize-window -t e2e -x 80 -y 24
wait_for "Layers \\(" 5
homeend=1
for seq in "1b 5b 34 7e:head" "1b 5b 31 7e:input" "1b 5b 38 7e:head" "1b 5b 37 7e:input" "1b 5b 46:head" "1b 5b 48:input"; do
	T send-keys -t e2e -H ${seq%%:*}
	wait_for "▶ ${seq##*:} " 5 || { homeend=0; echo "# $seq: $(line '▶ ')"; }
done
screen | grep -q "unsaved" && homeend=0
[ $homeend = 1 ] && ok "Home/End as ESC[1~ ESC[4~ ESC[7~ ESC[8~ ESC[H ESC[F" || not_ok "Home/End escape forms" "$(screen)"
T send-keys -t e2e / s o f t
if wait_for "▶ enc0.softmax" 5 && wait_for "/soft_" 5; then ok "/ finds a layer as it is typed"; else not_ok "/ finds a layer as it is typed" "$(screen)"; fi
T send-keys -t e2e Enter
T send-keys -t e2e g n
if wait_for "▶ enc0.softmax" 5; then ok "n: next match"; else not_ok "n: next match" "$(screen)"; fi
T send-keys -t e2e = 1 0 Enter
if wait_for "every layer to 10/10 bits" 5; then ok "= replaces the value shown"; else not_ok "= replaces the value shown" "$(screen)"; fi
T send-keys -t e2e = 6 / 9 9 Enter
if wait_for "'6/99': give N" 5 && screen | grep -q "6/99_"; then ok "a bad value keeps the text"; else not_ok "a bad value keeps the text" "$(screen)"; fi
T send-keys -t e2e Escape
T send-keys -t e2e '?'
if wait_for "Help: main view" 5 && wait_for "lines 1-[0-9]+ of [0-9]+" 5; then
	T send-keys -t e2e End
	if wait_for "lines [0-9]+-([0-9]+) of \\1" 5 && screen | grep -q "better fits"; then ok "help scrolls to its end at 80x24"; else not_ok "help scrolls to its end at 80x24" "$(screen)"; fi
else
	not_ok "help at 80x24" "$(screen)"
fi
T send-keys -t e2e Escape
settle
T send-keys -t e2e f
wait_for "searching xc7s15" 10
T send-keys -t e2e a
if wait_for "your edits since f are kept" 120; then
	ok "f keeps edits made while it ran"
else
	not_ok "f keeps edits made while it ran" "$(screen)"
fi
T send-keys -t e2e f
if wait_for "best fit on xc7s15: calib MSE" 10 && ! screen | grep -q "exact"; then
	ok "f applies the offer, chosen on the calibration windows"
else
	not_ok "f applies the offer, chosen on the calibration windows" "$(screen)"
fi
T send-keys -t e2e q q
wait_for "EXIT=0" 10

# Resize below 80x24 and back.
start
wait_for "Layers \\(" 60
T resize-window -t e2e -x 70 -y 20
if wait_for "needs a terminal of at least 80x24; this one is 70x20" 5; then ok "too small: message"; else not_ok "too small: message" "$(screen)"; fi
T resize-window -t e2e -x 120 -y 36
if wait_for "Layers \\(" 5; then ok "resize back: panes again"; else not_ok "resize back: panes again" "$(screen)"; fi
T send-keys -t e2e q
wait_for "EXIT=0" 10 && ok "q quits an unmodified session at once" || not_ok "q quits an unmodified session at once" "$(screen)"

echo "1..$n"
[ "$fails" -eq 0 ]
