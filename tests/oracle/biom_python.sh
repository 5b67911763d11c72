# biom_python.sh - the BIOM readers checked against Debian's python3-biom-format: it writes
# random tables as BIOM 1.0 JSON and BIOM 2.1 HDF5, and `microlens data inspect` must report
# the same sizes, totals and per-sample depths as biom-format computes.
set -u
: "${MICROLENS:?set MICROLENS to the microlens binary}"
if ! /usr/bin/python3 -c 'import biom, h5py' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 lacks biom-format or h5py (apt install python3-biom-format)" >&2
    [[ ${CI:-} == true ]] && { echo "FAIL: the oracle may not be skipped in CI" >&2; exit 1; }
    exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME="$T/config" MICROLENS_ID_KEY=00112233445566778899aabbccddeeff
/usr/bin/python3 tests/oracle/biom_python.py "$MICROLENS" "$T"
