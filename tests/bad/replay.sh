#!/usr/bin/env bash
# Replays the bad-input corpus (tests/bad/MANIFEST, written by make_bad.py): every case must exit with
# its status (1 bad input, 2 usage), print a message holding the expected text (file name and place),
# finish within a time limit, not die by a signal and print no sanitizer or valgrind report.
# Usage: replay.sh MPQX SRC_DIR [FILTER]. Prints TAP. FILTER (a substring) selects cases.
set -u
mpqx=$(realpath "$1")
src=$(realpath "$2")
filter=${3:-}
bad=$src/tests/bad
tiny=$src/tests/data/tiny
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mpqx-bad.XXXXXX")
trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

# Cases git cannot hold, made here.
mkdir "$tmp/dir-as-model.json" "$tmp/cfg-dir.json" "$tmp/dir.ini"
mkfifo "$tmp/fifo.json"
truncate -s 300M "$tmp/huge.json" "$tmp/huge.ini" # sparse: no disk used
ln -s loop.json "$tmp/loop.json"
mkdir "$tmp/csv-dir" "$tmp/csv-fifo"
cp "$tiny/model.json" "$tmp/csv-dir/model.json"
cp "$tiny/model.json" "$tmp/csv-fifo/model.json"
mkdir "$tmp/csv-dir/data.csv"
mkfifo "$tmp/csv-fifo/data.csv"
cp "$tiny/model.json" "$tmp/unreadable.json"
chmod 000 "$tmp/unreadable.json"
# Data directories (MPQX_DATA_DIR) for the template cases: the real one, with hdl_templates/TARGET.v
# replaced by tests/bad/tmpl/TARGET--CASE.v, removed, or a directory.
data_dir() { # NAME: a data directory whose parts link to the real ones, hdl_templates copied
	local d=$tmp/$1
	mkdir -p "$d"
	for part in devices themes samples; do [ -e "$src/$part" ] && ln -s "$src/$part" "$d/$part"; done
	cp -r "$src/hdl_templates" "$d/hdl_templates"
	echo "$d"
}
for f in "$bad"/tmpl/*--*.v; do
	[ -f "$f" ] || continue
	b=$(basename "$f" .v)
	d=$(data_dir "data-$b")
	cp "$f" "$d/hdl_templates/${b%%--*}.v"
done
d=$(data_dir data-no-templates) && rm -rf "$d/hdl_templates"
d=$(data_dir data-dir-template) && rm "$d/hdl_templates/relu.v" && mkdir "$d/hdl_templates/relu.v"

# root reads whatever the mode says: the permission case cannot fail then, so it is skipped
can_deny=1
if cat "$tmp/unreadable.json" >/dev/null 2>&1; then can_deny=0; fi

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
not_ok() {
	n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift
	for l in "$@"; do printf '%s\n' "$l" | head -c 2000 | sed 's/^/# /'; echo; done
}

sanitizer_re='AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|ERROR SUMMARY: [1-9]|Invalid read|Invalid write|uninitialised'
tried=0
while IFS=$'\t' read -r want argline expect; do
	case $want in '' | '#'*) continue ;; esac
	[ -n "$filter" ] && [[ $argline != *"$filter"* ]] && continue
	desc="$want: mpqx $(printf '%s' "$argline" | cut -c1-90)"
	if [[ $argline == *unreadable.json* ]] && [ "$can_deny" -eq 0 ]; then
		skip "$desc" "running as root, which ignores file modes (the directory and FIFO cases cover unreadable files)"
		continue
	fi
	args=()
	envs=()
	for w in $argline; do
		w=${w//@tiny/$tiny}
		w=${w//@tmp\//$tmp/}
		w=${w//@\//$bad/}
		# leading NAME=value words set the environment of the run
		if [ ${#args[@]} -eq 0 ] && [[ $w =~ ^[A-Z_]+= ]]; then
			envs+=("$w")
		else
			args+=("$w")
		fi
	done
	tried=$((tried + 1))
	out=$(cd "$tmp" && env "${envs[@]}" timeout -k 5 30 "$mpqx" "${args[@]}" </dev/null 2>&1)
	status=$?
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		not_ok "$desc" "timed out after 30 s (a hang)"
	elif [ "$status" -gt 128 ]; then
		not_ok "$desc" "killed by signal $((status - 128))" "$out"
	elif printf '%s' "$out" | grep -qE "$sanitizer_re"; then
		not_ok "$desc" "sanitizer report" "$out"
	elif [ "$status" -ne "$want" ]; then
		not_ok "$desc" "status $status, want $want" "$out"
	elif ! printf '%s' "$out" | grep -qF -- "$expect"; then
		not_ok "$desc" "message lacks: $expect" "$out"
	elif [ "$(printf '%s\n' "$out" | grep -c .)" -gt 3 ]; then
		not_ok "$desc" "more than a short message on a bad input" "$out"
	else
		ok "$desc"
	fi
done <"$bad/MANIFEST"

echo "# $tried cases run, $fails failed"
echo "1..$n"
[ "$fails" -eq 0 ]
