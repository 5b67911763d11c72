#!/bin/bash
# embed_evaluate.sh - the pipeline embed -> evaluate: embeddings (real-valued, pseudonymous
# sample IDs) are read under --transform none and joined with the raw-ID labels by
# pseudonymising the label IDs with the same key; another key matches nothing (exit 3).
# A random 1-layer model (numpy, no torch) on a small synth cohort.
source "$(dirname "$0")/lib.bash"
export MICROLENS_ID_KEY=00112233445566778899aabbccddeeff

/usr/bin/python3 - "$T" <<'PY'
import json, struct, sys
import numpy as np

def write(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    text = json.dumps(header).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + b"".join(blobs))

rng = np.random.default_rng(11)
d_in, d, ff = 8, 6, 12
w = {"input_projection_type1.weight": rng.normal(size=(d, d_in)) * 0.3,
     "input_projection_type1.bias": rng.normal(size=d) * 0.1}
p = "transformer.layers.0."
for name, shape in [("self_attn.in_proj_weight", (3 * d, d)), ("self_attn.in_proj_bias", (3 * d,)),
                    ("self_attn.out_proj.weight", (d, d)), ("self_attn.out_proj.bias", (d,)),
                    ("linear1.weight", (ff, d)), ("linear1.bias", (ff,)),
                    ("linear2.weight", (d, ff)), ("linear2.bias", (d,)),
                    ("norm1.weight", (d,)), ("norm1.bias", (d,)),
                    ("norm2.weight", (d,)), ("norm2.bias", (d,))]:
    w[p + name] = rng.normal(size=shape) * 0.3
write(f"{sys.argv[1]}/model.safetensors", w, {"nhead": "2"})
PY
run 0 "$MICROLENS" synth --out "$T/c" --dim 8 --samples 36 --patients 12 --otus 40 --seed 5
run 0 "$MICROLENS" embed --weights "$T/model.safetensors" --table "$T/c/table.tsv" \
    --otu-vectors "$T/c/otu_vectors.safetensors" --out "$T/emb.tsv" --quiet
n_emb=$(($(wc -l <"$T/emb.tsv") - 1))
expect_eq "$n_emb" 36 "embedded samples"
expect_in "$T/emb.tsv" "^sample	e0	"
expect_in "$T/emb.tsv" "	-[0-9]"   # real-valued: negative entries are there to be read

ev=(evaluate --features "$T/emb.tsv" --labels "$T/c/labels.csv" --group-col group
    --transform none --model logreg --cv 3 --json)
run 0 "$MICROLENS" "${ev[@]}"
expect_eq "$(json_get "$T/out" 'd["n_samples"]')" "$n_emb" "n_samples of the evaluation"
expect_not_in "$T/err" "no label"

# the help says how embeddings are evaluated
run 0 "$MICROLENS" evaluate --help
expect_in "$T/out" "none also reads negative values"
expect_in "$T/out" "--id-key-file PATH"

# a transform that needs abundances refuses the embeddings, naming itself and the way out
run 3 "$MICROLENS" evaluate --features "$T/emb.tsv" --labels "$T/c/labels.csv" \
    --transform clr --model logreg --cv 3 --quiet
expect_in "$T/err" "emb.tsv:2:[0-9]+: -[0-9.e-]+ is negative .*--transform none"

# another key: the labels' pseudonyms differ, so no label matches the embeddings
MICROLENS_ID_KEY=ffeeddccbbaa99887766554433221100 run 3 "$MICROLENS" "${ev[@]}"
expect_in "$T/err" "^microlens: no label file ID matches a sample of the table; its sample IDs are"
expect_in "$T/err" "another key"
expect_empty "$T/out"
# the key comes from --id-key-file as well: the right key there matches again
printf '%s\n' "$MICROLENS_ID_KEY" >"$T/id.key"
chmod 600 "$T/id.key"
MICROLENS_ID_KEY= run 0 "$MICROLENS" "${ev[@]}" --id-key-file "$T/id.key" --quiet
expect_eq "$(json_get "$T/out" 'd["n_samples"]')" "$n_emb" "n_samples with --id-key-file"
expect_empty "$T/err"
finish
