#!/bin/bash
# embed.sh - `microlens embed` from the outside: help, usage errors, refusals (pickles, head
# count, vector length), the report of samples and OTUs without vectors, the --max-otus tie
# rule, pseudonymised output. A tiny random model is written with numpy (no torch needed).
source "$(dirname "$0")/lib.bash"
export MICROLENS_ID_KEY=00112233445566778899aabbccddeeff

/usr/bin/python3 - "$T" <<'PY'
import json, struct, sys
import numpy as np

def write(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    text = json.dumps(header).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + b"".join(blobs))

rng = np.random.default_rng(1)
d_in, d, ff = 8, 6, 12
w = {"input_projection_type1.weight": rng.normal(size=(d, d_in)), "input_projection_type1.bias": rng.normal(size=d)}
p = "transformer.layers.0."
for name, shape in [("self_attn.in_proj_weight", (3 * d, d)), ("self_attn.in_proj_bias", (3 * d,)),
                    ("self_attn.out_proj.weight", (d, d)), ("self_attn.out_proj.bias", (d,)),
                    ("linear1.weight", (ff, d)), ("linear1.bias", (ff,)), ("linear2.weight", (d, ff)),
                    ("linear2.bias", (d,)), ("norm1.weight", (d,)), ("norm1.bias", (d,)),
                    ("norm2.weight", (d,)), ("norm2.bias", (d,))]:
    w[p + name] = rng.normal(size=shape) * 0.3
w["output_projection.weight"] = rng.normal(size=(1, d))
w["output_projection.bias"] = rng.normal(size=1)
out = sys.argv[1]
write(f"{out}/model.safetensors", w, {"nhead": "2"})
write(f"{out}/nohead.safetensors", w)
vec = {k: rng.normal(size=d_in) for k in ["o1", "o2", "o5"]}
write(f"{out}/vec.safetensors", vec)
write(f"{out}/short.safetensors", {k: v[:4] for k, v in vec.items()})
PY
printf '#OTU ID\tpatient_0042_raw\tpatient_0043_raw\tpatient_0044_raw\n' >"$T/t.tsv"
printf 'o1\t5\t0\t0\no2\t0\t3\t0\no3\t1\t0\t0\no4\t0\t0\t7\no5\t5\t0\t0\n' >>"$T/t.tsv"
# the same table with only o1 present in the first sample: what --max-otus 1 must keep
printf '#OTU ID\tpatient_0042_raw\tpatient_0043_raw\tpatient_0044_raw\n' >"$T/t1.tsv"
printf 'o1\t5\t0\t0\no2\t0\t3\t0\no3\t0\t0\t0\no4\t0\t0\t7\no5\t0\t0\t0\n' >>"$T/t1.tsv"
common=(--weights "$T/model.safetensors" --otu-vectors "$T/vec.safetensors" --samples-as-columns)

run 0 "$MICROLENS" embed --help
expect_in "$T/out" "^Usage: microlens embed"
expect_in "$T/out" "--max-otus N"
expect_in "$T/out" "tools/convert-upstream-checkpoint"
expect_in "$T/out" "no row in the"
expect_in "$T/out" "Examples:"
run 0 "$MICROLENS" --help
expect_in "$T/out" "embed +embed samples"

run 2 "$MICROLENS" embed --table "$T/t.tsv" --otu-vectors "$T/vec.safetensors" --out "$T/e.tsv"
expect_in "$T/err" "needs --weights"
run 2 "$MICROLENS" embed "${common[@]}" --table "$T/t.tsv" --out "$T/e.tsv" --max-otus 0
expect_in "$T/err" "at least 1"
run 2 "$MICROLENS" embed "${common[@]}" --table "$T/t.tsv" --out "$T/e.tsv" --batch x
run 2 "$MICROLENS" embed "${common[@]}" --table "$T/t.tsv" --out "$T/e.tsv" --bogus
run 2 "$MICROLENS" embed "${common[@]}" --table "$T/t.tsv" --out "$T/e.tsv" --format xls
expect_in "$T/err" "--format must be"

# The samples and OTUs without vectors are reported, not silently dropped.
run 0 "$MICROLENS" embed "${common[@]}" --table "$T/t.tsv" --out "$T/e.tsv" --json
expect_eq "$(json_get "$T/out" 'd["n_samples"]')" 3 "n_samples"
expect_eq "$(json_get "$T/out" 'd["n_embedded"]')" 2 "n_embedded"
expect_eq "$(json_get "$T/out" 'd["n_without_vectors"]')" 1 "n_without_vectors"
expect_eq "$(json_get "$T/out" 'd["n_otus_present"]')" 5 "n_otus_present"
expect_eq "$(json_get "$T/out" 'd["n_otus_missing"]')" 2 "n_otus_missing"
expect_eq "$(json_get "$T/out" 'd["n_tokens"]')" 3 "n_tokens"
expect_eq "$(json_get "$T/out" 'd["model"]["n_heads"]')" 2 "n_heads"
expect_in "$T/err" "warning: 1 of 3 samples have no OTU with a vector"
expect_in "$T/err" "2 of 5 OTUs present have no vector"
expect_eq "$(wc -l <"$T/e.tsv")" 3 "output lines (header + 2 samples)"
expect_eq "$(head -1 "$T/e.tsv")" "$(printf 'sample\te0\te1\te2\te3\te4\te5')" "header"
expect_in "$T/e.tsv" "^s_[0-9a-f]{16}	-?[0-9]"
expect_not_in "$T/e.tsv" "patient_00"
expect_not_in "$T/err" "patient_00"
run 0 "$MICROLENS" embed "${common[@]}" --table "$T/t.tsv" --out "$T/q.tsv" --quiet
expect_in "$T/err" "warning: 1 of 3 samples"

# --max-otus 1 keeps o1 over o5 (equal counts: first in the table), as if o5 were absent.
run 0 "$MICROLENS" embed "${common[@]}" --table "$T/t.tsv" --out "$T/m1.tsv" --max-otus 1 --json
expect_eq "$(json_get "$T/out" 'd["n_truncated"]')" 1 "n_truncated"
run 0 "$MICROLENS" embed "${common[@]}" --table "$T/t1.tsv" --out "$T/only1.tsv"
expect_eq "$(cat "$T/m1.tsv")" "$(cat "$T/only1.tsv")" "--max-otus 1 tie rule"
expect_eq "$(sed -n 2p "$T/m1.tsv" | cut -f1)" "$(sed -n 2p "$T/e.tsv" | cut -f1)" "same pseudonym"
[[ "$(sed -n 2p "$T/m1.tsv")" != "$(sed -n 2p "$T/e.tsv")" ]] || expect_eq same differs "cut changes the first sample"

# Refusals: a pickle, no head count, wrong vector length; no output is left behind.
printf 'PK\003\004not-really-a-zip' >"$T/ckpt.pt"
run 3 "$MICROLENS" embed --weights "$T/ckpt.pt" --otu-vectors "$T/vec.safetensors" --table "$T/t.tsv" --out "$T/x.tsv"
expect_in "$T/err" "^microlens: .*tools/convert-upstream-checkpoint"
run 2 "$MICROLENS" embed --weights "$T/nohead.safetensors" --otu-vectors "$T/vec.safetensors" --table "$T/t.tsv" --out "$T/x.tsv"
expect_in "$T/err" "--heads"
run 0 "$MICROLENS" embed --weights "$T/nohead.safetensors" --heads 2 --otu-vectors "$T/vec.safetensors" --table "$T/t.tsv" --out "$T/h.tsv" --samples-as-columns
expect_eq "$(cat "$T/h.tsv")" "$(cat "$T/e.tsv")" "--heads 2 equals nhead 2"
run 2 "$MICROLENS" embed "${common[@]}" --heads 3 --table "$T/t.tsv" --out "$T/x.tsv"
expect_in "$T/err" "3 heads requested but __metadata__ nhead is 2"
run 3 "$MICROLENS" embed --weights "$T/model.safetensors" --otu-vectors "$T/short.safetensors" --table "$T/t.tsv" --out "$T/x.tsv"
expect_in "$T/err" "OTU vectors have length 4 but the model's input_projection_type1 takes 8"
run 3 "$MICROLENS" embed "${common[@]}" --table "$T/absent.tsv" --out "$T/x.tsv"
[[ ! -e $T/x.tsv ]] || expect_eq present absent "output after a refusal"

# Weights beside a MANIFEST are verified first; the MANIFEST must list them.
mkdir -p "$T/ck" && cp "$T/model.safetensors" "$T/ck/"
ck=(--otu-vectors "$T/vec.safetensors" --table "$T/t.tsv" --samples-as-columns --out "$T/k.tsv")
run 0 "$MICROLENS" manifest "$T/ck"
run 0 "$MICROLENS" embed --weights "$T/ck/model.safetensors" "${ck[@]}"
run 4 "$MICROLENS" embed --weights "$T/ck/model.safetensors" "${ck[@]}" --require-signature
expect_in "$T/err" "signature"
MICROLENS_REQUIRE_SIGNATURE=1 run 4 "$MICROLENS" embed --weights "$T/ck/model.safetensors" "${ck[@]}"
run 0 "$MICROLENS" keygen --out "$T/sk"
run 0 "$MICROLENS" sign "$T/ck" --key "$T/sk"
run 0 "$MICROLENS" embed --weights "$T/ck/model.safetensors" "${ck[@]}" --require-signature --pubkey "$T/sk.pub"
cp "$T/model.safetensors" "$T/ck/other.safetensors"
run 4 "$MICROLENS" embed --weights "$T/ck/other.safetensors" "${ck[@]}"
expect_in "$T/err" "other.safetensors"
rm "$T/ck/other.safetensors" "$T/ck/MANIFEST.sig"
/usr/bin/python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-1]^=1; open(p,"wb").write(b)' "$T/ck/model.safetensors"
run 4 "$MICROLENS" embed --weights "$T/ck/model.safetensors" "${ck[@]}"
expect_in "$T/err" "model.safetensors"
finish
