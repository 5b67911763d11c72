# inspect_synth.sh - synth writes a deterministic cohort; inspect reads it back with labels
# and groups; pseudonyms are stable under one key and never raw IDs.
source tests/cli/lib.bash

run 0 "$MICROLENS" synth --out "$T/a" --samples 60 --patients 20 --otus 120 --dim 16 --seed 5 --quiet
run 0 "$MICROLENS" synth --out "$T/b" --samples 60 --patients 20 --otus 120 --dim 16 --seed 5 --quiet
for f in table.tsv labels.csv otu_vectors.safetensors SOURCE.md; do
    checks=$((checks + 1))
    cmp -s "$T/a/$f" "$T/b/$f" || { failures=$((failures + 1)); echo "FAIL: synth $f differs between identical runs" >&2; }
done
run 0 "$MICROLENS" synth --out "$T/c" --samples 60 --patients 20 --otus 120 --dim 16 --seed 6 --quiet
checks=$((checks + 1))
cmp -s "$T/a/table.tsv" "$T/c/table.tsv" && { failures=$((failures + 1)); echo "FAIL: seed does not change the table" >&2; }

export MICROLENS_ID_KEY=000102030405060708090a0b0c0d0e0f
run 0 "$MICROLENS" data inspect "$T/a/table.tsv" --labels "$T/a/labels.csv" --json --per-sample
cp "$T/out" "$T/a.json"
expect_eq "$(json_get "$T/a.json" 'd["table"]["n_samples"]')" 60 "n_samples"
expect_eq "$(json_get "$T/a.json" 'd["table"]["n_features"]')" 120 "n_features"
expect_eq "$(json_get "$T/a.json" 'd["labels"]["groups"]["count"]')" 20 "groups"
expect_eq "$(json_get "$T/a.json" 'sorted(c["name"] for c in d["labels"]["classes"])')" "['allergy', 'healthy']" "classes"
expect_eq "$(json_get "$T/a.json" 'sum(c["count"] for c in d["labels"]["classes"])')" 60 "labelled samples"
expect_eq "$(json_get "$T/a.json" 'd["labels"]["samples_without_label"]["count"]')" 0 "unlabelled"
expect_in "$T/a.json" '"id": "s_[0-9a-f]{16}"'
expect_not_in "$T/a.json" "P001_S"
# The pseudonym is HMAC-SHA-256(key, raw ID), checked by Python's hmac.
first_raw=$(head -2 "$T/a/table.tsv" | tail -1 | cut -f2)
want=$(/usr/bin/python3 -c 'import hmac,hashlib,sys; print("s_"+hmac.new(bytes.fromhex(sys.argv[1]), sys.argv[2].encode(), hashlib.sha256).hexdigest()[:16])' "$MICROLENS_ID_KEY" "$first_raw")
expect_eq "$(json_get "$T/a.json" 'd["samples"][0]["id"]')" "$want" "pseudonym of the first sample"

# Text output carries the same facts and no raw IDs.
run 0 "$MICROLENS" data inspect "$T/a/table.tsv" --labels "$T/a/labels.csv"
expect_in "$T/out" "samples: +60"
expect_not_in "$T/out" "P001_S"
run 0 "$MICROLENS" data inspect "$T/a/table.tsv" --labels "$T/a/labels.csv" --show-raw-ids --per-sample
expect_in "$T/out" "P001_S"

# Without a key: a per-user key is created once (0600) and reused, so pseudonyms are stable.
unset MICROLENS_ID_KEY
run 0 "$MICROLENS" data inspect "$T/a/table.tsv" --json --per-sample
expect_in "$T/err" "created pseudonym key"
cp "$T/out" "$T/k1.json"
expect_eq "$(stat -c %a "$XDG_CONFIG_HOME/microlens/id.key")" 600 "key file mode"
run 0 "$MICROLENS" data inspect "$T/a/table.tsv" --json --per-sample
expect_empty "$T/err"
expect_eq "$(json_get "$T/out" 'd["samples"][0]["id"]')" "$(json_get "$T/k1.json" 'd["samples"][0]["id"]')" "stable pseudonym"
# A key file readable by others is refused; --ephemeral-ids says pseudonyms are unstable.
printf '%s\n' 00112233445566778899aabbccddeeff >"$T/key"
chmod 644 "$T/key"
run 1 "$MICROLENS" data inspect "$T/a/table.tsv" --id-key-file "$T/key"
expect_in "$T/err" "chmod 600"
expect_not_in "$T/err" "00112233445566778899aabbccddeeff"
chmod 600 "$T/key"
run 0 "$MICROLENS" data inspect "$T/a/table.tsv" --id-key-file "$T/key" --json
run 0 "$MICROLENS" data inspect "$T/a/table.tsv" --ephemeral-ids --json
expect_in "$T/err" "not stable"
MICROLENS_ID_KEY=tiny run 2 "$MICROLENS" data inspect "$T/a/table.tsv"
expect_not_in "$T/err" "tiny"
finish
