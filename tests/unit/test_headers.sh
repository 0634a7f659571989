#!/usr/bin/env bash
# Every public header compiles on its own (STYLE.md: headers include what they use): a translation unit
# that includes only that header, with the project's C standard and warnings as errors.
# usage: test_headers.sh SRCDIR CC [CC ARGS...]
set -u
src=$1
shift
mpqx=true
. "$src/tests/tap.sh"
for h in "$src"/include/mpqx/*.h; do
	name=mpqx/$(basename "$h")
	if out=$(printf '#include "%s"\n' "$name" |
		"$@" -std=c11 -Wall -Wextra -Wpedantic -Wstrict-prototypes -Werror -D_POSIX_C_SOURCE=200809L \
			-I"$src/include" -x c -fsyntax-only - 2>&1); then
		ok "$name compiles alone"
	else
		not_ok "$name compiles alone" "$out"
	fi
done
echo "1..$n"
[ "$fails" -eq 0 ]
