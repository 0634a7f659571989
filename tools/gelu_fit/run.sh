#!/bin/sh
# Synthesizes the layers of tools/gelu_fit/runs.txt alone with the hierarchy kept and stores them as records
# tagged fit or test for tools/fit_costs.py (doc/estimator.md, "layernorm and gelu"). Cached: a layer is
# synthesized once per RTL.
#
#   tools/gelu_fit/run.sh WORK_DIR [CACHE_DIR] [TAG]     (run from the repository; mpqx on PATH or $MPQX)
set -e
work=${1:?usage: tools/gelu_fit/run.sh WORK_DIR [CACHE_DIR] [TAG]}
cache=${2:-}
only=${3:-}
here=$(dirname "$0")
mpqx=${MPQX:-mpqx}
mkdir -p "$work/exp"
/usr/bin/python3 "$here/make_models.py" "$work" >/dev/null
grep -v '^#' "$here/runs.txt" | while read -r tag model cfg layers; do
	[ -n "$tag" ] || continue
	[ -z "$only" ] || [ "$only" = "$tag" ] || continue
	case $model in proj-gelu-*) mdir=$work/$model ;; *) mdir=$model ;; esac
	exp=$work/exp/$(basename "$mdir")-${cfg%.json}
	"$mpqx" export "$mdir" -c "$here/$cfg" -o "$exp" -q
	echo "== $tag $model $cfg"
	nice -n 15 /usr/bin/python3 "$here/../synth_layers.py" "$mdir" -c "$here/$cfg" "$exp" ${layers:-gelu} \
		--hier --tag "$tag" --mpqx "$mpqx" ${cache:+--cache "$cache"}
done
