# inspect_ecam.sh - the public ECAM cohort (BIOM 2.1 HDF5 + QIIME 2 metadata, fetched from
# Debian's q2-sample-classifier package): sizes and label balance as published.
source tests/cli/lib.bash

scripts/fetch-ecam.sh data/ecam >/dev/null || { echo "FAIL: cannot fetch ECAM" >&2; exit 1; }
export MICROLENS_ID_KEY=000102030405060708090a0b0c0d0e0f
run 0 "$MICROLENS" data inspect data/ecam/feature-table.biom --labels data/ecam/sample-metadata.tsv \
    --label-col delivery --group-col studyid --json --per-sample
cp "$T/out" "$T/ecam.json"
expect_eq "$(json_get "$T/ecam.json" 'd["table"]["format"]')" biom-hdf5 "format"
expect_eq "$(json_get "$T/ecam.json" 'd["table"]["n_samples"]')" 875 "samples"
expect_eq "$(json_get "$T/ecam.json" 'd["table"]["n_features"]')" 3117 "features"
expect_eq "$(json_get "$T/ecam.json" 'd["table"]["nnz"]')" 43986 "non-zeros"
expect_eq "$(json_get "$T/ecam.json" '{c["name"]: c["count"] for c in d["labels"]["classes"]}')" \
    "{'Cesarean': 349, 'Vaginal': 526}" "delivery balance"
expect_eq "$(json_get "$T/ecam.json" 'd["labels"]["samples_without_label"]["count"]')" 0 "unlabelled"
expect_eq "$(json_get "$T/ecam.json" 'd["labels"]["labels_without_sample"]["count"]')" 0 "labels without sample"
# Independent totals: h5py reads the same file.
want=$(/usr/bin/python3 -c 'import h5py,sys; f=h5py.File(sys.argv[1]); import numpy as np; print(int(np.sum(f["sample/matrix/data"][:])))' data/ecam/feature-table.biom)
expect_eq "$(json_get "$T/ecam.json" 'int(d["table"]["total"])')" "$want" "total count"
groups=$(/usr/bin/python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1]), delimiter="\t")); print(len({x["studyid"] for x in r if not x["#SampleID"].startswith("#")}))' data/ecam/sample-metadata.tsv)
expect_eq "$(json_get "$T/ecam.json" 'd["labels"]["groups"]["count"]')" "$groups" "infants (groups)"
expect_not_in "$T/ecam.json" "10249.C0"
finish
