#!/usr/bin/env bash
# Installs the Debian packages mpqx needs to build, test and run, when they are missing.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc libncurses-dev libcjson-dev libinih-dev libcmocka-dev
      iverilog yosys nextpnr-ice40 fpga-icestorm verilator python3 python3-dev python3-numpy python3-torch python3-optuna tmux valgrind clang)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}" >&2
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
