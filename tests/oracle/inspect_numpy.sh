# inspect_numpy.sh - inspect's depths, duplicates and Aitchison-distance outliers checked
# against an independent numpy computation on a synthetic cohort with planted anomalies.
set -u
: "${MICROLENS:?}"
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME="$T/config" MICROLENS_ID_KEY=0f0e0d0c0b0a09080706050403020100
"$MICROLENS" synth --out "$T/c" --samples 80 --patients 20 --otus 150 --dim 8 --seed 11 --quiet || exit 1
# Plant a duplicate (copy sample 2 into sample 5) and a compositional outlier (sample 7 gets
# all its reads in the three rarest OTUs).
/usr/bin/python3 tests/oracle/inspect_numpy.py plant "$T/c/table.tsv" "$T/planted.tsv" || exit 1
"$MICROLENS" data inspect "$T/planted.tsv" --json --per-sample --max-listed 1000 >"$T/r.json" || exit 1
/usr/bin/python3 tests/oracle/inspect_numpy.py check "$T/planted.tsv" "$T/r.json" "$MICROLENS_ID_KEY"
