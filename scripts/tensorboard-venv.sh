#!/usr/bin/env bash
# tensorboard-venv.sh - installs TensorBoard from PyPI into a virtualenv (default
# build/venv-tb) for the second TensorBoard oracle, tests/oracle/export_tensorboard_reader.sh.
# Idempotent; needs /usr/bin/python3 with venv (Debian: python3-venv) and network access to
# PyPI. Usage: scripts/tensorboard-venv.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-build/venv-tb}
# The version the oracle was written against; TensorBoard's event-file reader is stable.
version=2.21.0
if [[ -x $venv/bin/python ]] &&
   "$venv/bin/python" -c "import tensorboard, sys; sys.exit(tensorboard.__version__ != '$version')" 2>/dev/null; then
    exit 0
fi
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "tensorboard==$version"
"$venv/bin/python" -c 'import tensorboard; print("tensorboard", tensorboard.__version__)'
