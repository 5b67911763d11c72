#!/usr/bin/env bash
# install-deps.sh - installs the Debian 12 packages a make target needs, only those missing.
# Usage: scripts/install-deps.sh build|demo|test
set -euo pipefail
build=(cmake make gcc pkg-config libhdf5-dev libjansson-dev libssl-dev libopenblas-dev liblapacke-dev libsqlite3-dev libmicrohttpd-dev)
demo=("${build[@]}" unzip apt dpkg)
test=("${build[@]}" clang libclang-rt-14-dev python3-numpy python3-h5py python3-biom-format
      python3-torch python3-sklearn openssl curl wrk unzip apt dpkg bsdutils protobuf-compiler
      chromium python3-venv)
case ${1:-build} in
    build) want=("${build[@]}") ;;
    demo) want=("${demo[@]}") ;;
    test) want=("${test[@]}") ;;
    *) echo "install-deps: unknown set '$1' (expected build, demo or test)" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
echo "install-deps: installing ${missing[*]}" >&2
sudo=()
if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
