#!/bin/bash
# embed_threads.sh - `microlens embed` gives the same bytes whatever --threads and --batch:
# every sample's embedding is computed set by set, so neither its batch mates nor the worker
# that ran it may change a bit. A random 2-layer model (numpy, no torch) on a synth cohort
# whose samples have from a few to dozens of OTUs.
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

rng = np.random.default_rng(7)
d_in, d, ff = 16, 20, 40
w = {"input_projection_type1.weight": rng.normal(size=(d, d_in)) * 0.3,
     "input_projection_type1.bias": rng.normal(size=d) * 0.1}
for l in range(2):
    p = f"transformer.layers.{l}."
    for name, shape in [("self_attn.in_proj_weight", (3 * d, d)), ("self_attn.in_proj_bias", (3 * d,)),
                        ("self_attn.out_proj.weight", (d, d)), ("self_attn.out_proj.bias", (d,)),
                        ("linear1.weight", (ff, d)), ("linear1.bias", (ff,)),
                        ("linear2.weight", (d, ff)), ("linear2.bias", (d,)),
                        ("norm1.weight", (d,)), ("norm1.bias", (d,)),
                        ("norm2.weight", (d,)), ("norm2.bias", (d,))]:
        w[p + name] = rng.normal(size=shape) * 0.3
write(f"{sys.argv[1]}/model.safetensors", w, {"nhead": "5"})
PY
run 0 "$MICROLENS" synth --out "$T/c" --dim 16 --samples 40 --patients 8 --otus 80 --seed 3
emb() { # OUT flags...
    local out=$1; shift
    run 0 "$MICROLENS" embed --weights "$T/model.safetensors" --table "$T/c/table.tsv" \
        --otu-vectors "$T/c/otu_vectors.safetensors" --out "$T/$out" --quiet "$@"
}
emb t1b1.tsv --threads 1 --batch 1
emb t1b16.tsv --threads 1 --batch 16
emb t2b1.tsv --threads 2 --batch 1
emb t2b16.tsv --threads 2 --batch 16
emb t3b7.tsv --threads 3 --batch 7 --max-otus 1000
expect_eq "$(wc -l <"$T/t1b1.tsv")" 41 "output lines (header + 40 samples)"
for f in t1b16 t2b1 t2b16 t3b7; do
    cmp -s "$T/t1b1.tsv" "$T/$f.tsv" || expect_eq "$f differs" "same bytes" "--threads/--batch"
done
run 2 "$MICROLENS" embed --weights "$T/model.safetensors" --table "$T/c/table.tsv" \
    --otu-vectors "$T/c/otu_vectors.safetensors" --out "$T/x.tsv" --threads 257
expect_in "$T/err" "--threads must be at most 256"
finish
