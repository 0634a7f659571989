#!/usr/bin/env bash
# Headless screens of the explorer compared with expected text (tests/tui/expected/NAME.txt).
# Usage: test_dump.sh MPQX SRC_DIR. Prints TAP. UPDATE=1 rewrites the expected files instead of comparing
# (after a deliberate change of the screen, the sample or the estimator; review the diff before committing).
set -u
mpqx=$1
src=$2
. "$src/tests/tap.sh"
# The tiny test model (every op, a few windows) keeps the expected screens small and independent of the
# bundled samples' retraining; the end-to-end test runs the default sample.
sample=$src/tests/data/tiny
exp=$src/tests/tui/expected
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export MPQX_DATA_DIR=$src
unset NO_COLOR XDG_CONFIG_HOME
export LC_ALL=C.UTF-8

# case NAME SIZE KEYS [OPTIONS...]
case_() {
	local name=$1 size=$2 keys=$3
	shift 3
	local out=$tmp/$name.txt
	if ! "$mpqx" "$sample" --dump-screen "$size" --keys "$keys" "$@" > "$out" 2> "$tmp/err"; then
		not_ok "$name: mpqx failed" "$(head -c 400 "$tmp/err")"
		return
	fi
	local rows=${size#*x}
	if [ "$(wc -l < "$out")" -ne "$rows" ]; then
		not_ok "$name: $(wc -l < "$out") lines, want $rows"
		return
	fi
	if [ "${UPDATE:-}" = 1 ]; then
		cp "$out" "$exp/$name.txt"
		ok "$name (updated)"
	elif [ ! -f "$exp/$name.txt" ]; then
		not_ok "$name: no expected file $exp/$name.txt (run with UPDATE=1)"
	elif diff -u "$exp/$name.txt" "$out" > "$tmp/diff"; then
		ok "$name"
	else
		not_ok "$name: screen differs from $exp/$name.txt" "$(head -40 "$tmp/diff" | sed 's/^/  /')"
	fi
}

case_ main-80x24 80x24 ''
case_ main-160x48 160x48 ''
case_ ascii-mono-80x24 80x24 '' --ascii --no-color
case_ slider-80x24 80x24 'jjaaa<Tab>j'
case_ help-80x24 80x24 '?'
case_ help-160x48 160x48 '?'
case_ compare-100x30 100x30 '1jjbA2jjAAA3c<Right>'
case_ export-80x24 80x24 'e<Up>'
case_ all16-80x24 80x24 '=<C-u>16<Enter>'
case_ prompt-80x24 80x24 's'
case_ small-79x24 79x24 ''
# The layout between 140 and 159 columns: names readable, every column headed.
case_ wide-140x40 140x40 ''
# / on the status line; the help scrolled to its end; the compare view's own help; a slot as the base.
case_ find-80x24 80x24 '/so'
case_ help-end-80x24 80x24 '?<End>'
# The subset's MSE the explorer shows first after a change (~value, its standard error, n of N windows).
case_ subset-80x24 80x24 'jjaa' --subset 4 --dump-subset
case_ subset-ascii-100x30 100x30 'jjaa' --subset 4 --dump-subset --ascii --no-color
case_ help-compare-80x24 80x24 'c?'
case_ compare-base-80x24 80x24 '1jjbA2c<Left>b'
# The search: the best fit applied (undoable), the Pareto view on LUT and, in ASCII, on BRAM tiles.
case_ fit-80x24 80x24 'f'
case_ fit-undo-80x24 80x24 'fu'
case_ pareto-100x30 100x30 'p<Left>'
case_ pareto-ascii-80x24 80x24 'p<Down>' --ascii --no-color

# NO_COLOR selects the character plot, as --no-color does.
NO_COLOR=1 "$mpqx" "$sample" --dump-screen 80x24 > "$tmp/nc.txt" 2>&1
"$mpqx" "$sample" --dump-screen 80x24 --no-color > "$tmp/nc2.txt" 2>&1
if cmp -s "$tmp/nc.txt" "$tmp/nc2.txt" && ! cmp -s "$tmp/nc.txt" "$exp/main-80x24.txt"; then
	ok "NO_COLOR acts as --no-color"
else
	not_ok "NO_COLOR acts as --no-color"
fi
# A bad theme name is an error naming it; a user theme in XDG_CONFIG_HOME is found.
if "$mpqx" "$sample" --dump-screen 80x24 --theme no-such-theme > /dev/null 2> "$tmp/err"; then
	not_ok "unknown theme refused"
elif grep -q "no-such-theme" "$tmp/err"; then
	ok "unknown theme refused"
else
	not_ok "unknown theme refused" "$(cat "$tmp/err")"
fi
mkdir -p "$tmp/xdg/mpqx/themes"
printf '[256]\nnormal = 1 2 bold\n' > "$tmp/xdg/mpqx/themes/mine.ini"
if XDG_CONFIG_HOME=$tmp/xdg "$mpqx" "$sample" --dump-screen 80x24 --theme mine > /dev/null 2>&1; then
	ok "user theme from XDG_CONFIG_HOME"
else
	not_ok "user theme from XDG_CONFIG_HOME"
fi
printf '[256]\nnormal = 1 999\n' > "$tmp/xdg/mpqx/themes/broken.ini"
if XDG_CONFIG_HOME=$tmp/xdg "$mpqx" "$sample" --dump-screen 80x24 --theme broken > /dev/null 2> "$tmp/err"; then
	not_ok "broken theme refused"
elif grep -q "broken.ini: line 2" "$tmp/err"; then
	ok "broken theme refused with file and line"
else
	not_ok "broken theme refused with file and line" "$(cat "$tmp/err")"
fi
"$mpqx" "$sample" --dump-screen 80 > /dev/null 2>&1
if [ $? -eq 2 ]; then ok "bad --dump-screen size is a usage error"; else not_ok "bad --dump-screen size is a usage error"; fi
"$mpqx" "$sample" --dump-screen 80x24 --keys '<Nope>' > /dev/null 2>&1
if [ $? -eq 1 ]; then ok "bad key script fails"; else not_ok "bad key script fails"; fi
# Without a terminal the explorer refuses politely instead of drawing into a pipe.
if "$mpqx" "$sample" < /dev/null > "$tmp/out" 2> "$tmp/err"; then
	not_ok "no terminal: refused"
elif grep -q "needs a terminal" "$tmp/err"; then
	ok "no terminal: refused with a message"
else
	not_ok "no terminal: refused with a message" "$(cat "$tmp/err")"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
