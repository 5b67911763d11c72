# inspect_bad_input.sh - malformed tables and label files: one-line FILE:LINE[:COL] message,
# exit 3, nothing on stdout, no raw sample ID echoed.
source tests/cli/lib.bash

bad() { # bad NAME EXPECTED_STDERR_REGEX  (the file $T/NAME is written beforehand)
    run 3 "$MICROLENS" data inspect "$T/$1" --quiet
    expect_in "$T/err" "$2"
    expect_empty "$T/out"
    checks=$((checks + 1))
    [[ $(wc -l <"$T/err") == 1 ]] || { failures=$((failures + 1)); echo "FAIL: $1: message is not one line" >&2; }
    expect_not_in "$T/err" "SECRETSAMPLE"
}

printf '#OTU ID\tSECRETSAMPLE1\tSECRETSAMPLE2\nOTU1\t1\t2\nOTU2\t3\n' >"$T/ragged.tsv"; bad ragged.tsv "ragged.tsv:3: "
printf '#OTU ID\tSECRETSAMPLE1\tSECRETSAMPLE2\nOTU1\t1\tabc\n' >"$T/nonnum.tsv"; bad nonnum.tsv "nonnum.tsv:2:3: .*not a number"
printf '#OTU ID\tSECRETSAMPLE1\tSECRETSAMPLE2\nOTU1\t1\t-4\n' >"$T/negative.tsv"; bad negative.tsv "negative.tsv:2:3: .*negative"
printf '#OTU ID\tSECRETSAMPLE1\tSECRETSAMPLE2\nOTU1\t1\tNaN\n' >"$T/nan.tsv"; bad nan.tsv "nan.tsv:2:3: "
printf '#OTU ID\tSECRETSAMPLE1\tSECRETSAMPLE1\nOTU1\t1\t2\n' >"$T/dupsample.tsv"; bad dupsample.tsv "dupsample.tsv:1.*duplicate sample ID"
printf '#OTU ID\tSECRETSAMPLE1\tSECRETSAMPLE2\nOTU1\t1\t2\nOTU1\t1\t2\n' >"$T/dupfeature.tsv"; bad dupfeature.tsv "dupfeature.tsv:3.*duplicate"
printf '{"id":null,"format":"Biological Observation Matrix 1.0.0","format_url":"http://biom-format.org","type":"OTU table","generated_by":"t","date":"2020-01-01T00:00:00","rows":[{"id":"OTU1","metadata":null}],"columns":[{"id":"SECRETSAMPLE1","metadata":null}],"matrix_type":"sparse","matrix_element_type":"float","shape":[2,1],"data":[[0,0,1.0]]}' >"$T/shape.biom"
bad shape.biom "shape.biom: shape\[0\]"
printf '{"id":null,"format":"Biological Observation Matrix 1.0.0","format_url":"http://biom-format.org","type":"OTU table","generated_by":"t","date":"2020-01-01T00:00:00","rows":[{"id":"OTU1","metadata":null}],"columns":[{"id":"SECRETSAMPLE1","metadata":null}],"matrix_type":"dense","matrix_element_type":"unicode","shape":[1,1],"data":[["a"]]}' >"$T/strings.biom"
bad strings.biom "strings.biom: "
printf '{"id": null, "rows": [' >"$T/truncated.biom"; bad truncated.biom "truncated.biom:1:[0-9]+: invalid JSON"
printf 'PK\003\004rest of a zip' >"$T/table.qza"; bad table.qza "table.qza: is a zip archive"
# A BIOM 2.1 HDF5 file cut short.
/usr/bin/python3 - "$T/good.biom" <<'PY'
import sys, numpy as np, biom
t = biom.Table(np.array([[1, 0, 3], [0, 5, 6]]), ["OTU1", "OTU2"], ["SECRETSAMPLE1", "SECRETSAMPLE2", "SECRETSAMPLE3"])
import h5py
with h5py.File(sys.argv[1], "w") as f:
    t.to_hdf5(f, "test", compress=True)
PY
head -c 3000 "$T/good.biom" >"$T/truncated-h5.biom"; bad truncated-h5.biom "truncated-h5.biom: .*(truncated|corrupt)"

# Label files.
printf '#OTU ID\tS1\tS2\nOTU1\t1\t2\n' >"$T/ok.tsv"
printf 'sid,label\nSECRETSAMPLE1,a\nSECRETSAMPLE1,b\n' >"$T/duplabels.csv"
run 3 "$MICROLENS" data inspect "$T/ok.tsv" --labels "$T/duplabels.csv" --quiet
expect_in "$T/err" "duplabels.csv:3: duplicate sample ID"
expect_not_in "$T/err" "SECRETSAMPLE"
printf 'sid,label\nS1,a,extra\n' >"$T/raggedlabels.csv"
run 3 "$MICROLENS" data inspect "$T/ok.tsv" --labels "$T/raggedlabels.csv" --quiet
expect_in "$T/err" "raggedlabels.csv:2: "
printf 'sid,label\nS1,a\nS2,b\n' >"$T/labels.csv"
run 3 "$MICROLENS" data inspect "$T/ok.tsv" --labels "$T/labels.csv" --label-col diagnosis --quiet
expect_in "$T/err" "diagnosis"
run 2 "$MICROLENS" data inspect "$T/ok.tsv" --labels "$T/labels.csv" --positive maybe --quiet
expect_in "$T/err" "maybe"
finish
