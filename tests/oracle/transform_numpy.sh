#!/bin/bash
# transform_numpy.sh - the committed numpy golden of test_transform must be what its generator
# script produces with this machine's numpy (up to 1e-12 relative), so it cannot drift unread.
set -euo pipefail
golden=tests/data/fixtures/transform/numpy.golden
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
/usr/bin/python3 tests/oracle/transform_numpy.py "$fresh"
/usr/bin/python3 - "$golden" "$fresh" <<'PY'
import sys
a = [l.split() for l in open(sys.argv[1]) if not l.startswith("#")]
b = [l.split() for l in open(sys.argv[2]) if not l.startswith("#")]
assert len(a) == len(b), "line count differs"
for la, lb in zip(a, b):
    assert la[:2] == lb[:2], (la[:2], lb[:2])
    for u, v in zip(la[2:], lb[2:]):
        if la[1] == "kept":
            assert u == v, (u, v)
        else:
            assert abs(float(u) - float(v)) <= 1e-12 * max(1.0, abs(float(v))), (u, v)
print("golden matches numpy")
PY
