# TAP helpers shared by the shell tests; source it after setting $mpqx (the executable under test).
# ok DESC; not_ok DESC [DETAIL...] (each detail line becomes a '# ' comment); expect STATUS PATTERN DESC --
# ARGS...: runs mpqx ARGS and wants exit STATUS and an extended-regex match in stdout+stderr. $n counts
# the tests, $fails the failures; a script ends with its plan line and `[ "$fails" -eq 0 ]`.
n=0
fails=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }

not_ok() {
	n=$((n + 1))
	fails=$((fails + 1))
	echo "not ok $n - $1"
	shift
	for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}

expect() {
	local want=$1 pat=$2 desc=$3
	shift 4
	local out status
	out=$("$mpqx" "$@" 2>&1)
	status=$?
	if [ "$status" -eq "$want" ] && printf '%s' "$out" | grep -qE -- "$pat"; then
		ok "$desc"
	else
		not_ok "$desc" "status $status (want $want)" "output: $(printf '%s' "$out" | head -c 400)"
	fi
}
