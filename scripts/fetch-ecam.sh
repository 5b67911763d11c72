#!/usr/bin/env bash
# fetch-ecam.sh - puts the public ECAM infant-gut table (Bokulich et al. 2016, Sci Transl Med;
# shipped as test data in Debian's q2-sample-classifier package) under data/ecam/.
# The package is downloaded and unpacked with dpkg -x, never installed. Checksums are pinned:
# a changed file is refused rather than silently used.
set -euo pipefail
dest=${1:-data/ecam}
table_sha=e7a26cbdff16679791a43146db92074566e407990eb7a2ff4a904fd7ff54606b
meta_sha=7439fb3497d72e66b6d98e349fe916bff9601f7686637e9d625f5624a7f8f471

ok() { [[ -f $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$2" ]]; }
if ok "$dest/feature-table.biom" $table_sha && ok "$dest/sample-metadata.tsv" $meta_sha; then
    exit 0
fi
mkdir -p "$dest"
work=$(mktemp -d "${TMPDIR:-/tmp}/microlens-ecam.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download q2-sample-classifier >/dev/null 2>apt.err; then
    apt-get update -qq >/dev/null
    apt-get download q2-sample-classifier >/dev/null 2>apt.err || { cat apt.err >&2; exit 1; }
fi
dpkg -x q2-sample-classifier_*.deb pkg
unzip -q -o pkg/usr/lib/python3/dist-packages/q2_sample_classifier/tests/data/ecam-table-maturity.qza -d qza
cd - >/dev/null
cp "$work"/qza/*/data/feature-table.biom "$dest/feature-table.biom.part"
cp "$work"/qza/*/provenance/action/sample_metadata.tsv "$dest/sample-metadata.tsv.part"
ok "$dest/feature-table.biom.part" $table_sha || { echo "fetch-ecam: feature-table.biom checksum mismatch" >&2; exit 1; }
ok "$dest/sample-metadata.tsv.part" $meta_sha || { echo "fetch-ecam: sample_metadata.tsv checksum mismatch" >&2; exit 1; }
mv "$dest/feature-table.biom.part" "$dest/feature-table.biom"
mv "$dest/sample-metadata.tsv.part" "$dest/sample-metadata.tsv"
cat > "$dest/SOURCE.md" <<'TXT'
ECAM infant gut microbiome (Bokulich et al. 2016, "Antibiotics, birth mode, and diet shape
microbiome maturation during early life", Sci Transl Med 8:343ra82), 875 16S samples x 3117
features, as shipped in Debian's q2-sample-classifier package (tests/data/ecam-table-maturity.qza):
data/feature-table.biom (BIOM 2.1 HDF5) and provenance/action/sample_metadata.tsv (QIIME 2
metadata). Public data; fetched by scripts/fetch-ecam.sh, not committed.
TXT
echo "fetched ECAM into $dest"
