#!/bin/bash
# bench/serve.sh - `microlens serve` under load: wrk (Debian) posting to /v1/predict over TLS
# with keep-alive (-t2 -c32, --latency), one fixed body per case, for a logistic-regression
# bundle (`evaluate --save-model`) and a small set-transformer checkpoint (`train`, d_model 20,
# 3 layers, 5 heads, ff 80), each with 1 sample per request and a batch. Reports requests/s,
# predictions/s (= requests/s x samples per request), p50/p99 latency per request and errors
# (socket errors + non-2xx). Target (DESIGN.md): >= 20k predictions/s on 2 cores for the
# logistic model with p99 <= 5 ms and zero errors, judged on 1 sample per request (a batch's
# p99 is that of the whole batch).
# Server (--threads 2) and wrk (2 threads) run on the same machine and share its cores, so
# the server gets about half of them: on a 2-CPU machine that is about 1 core for the server.
# Run from the repository root after `make build` (uses build/release/microlens, or
# $MICROLENS). BENCH_SECONDS (default 10) per case; BENCH_OTUS (default 200) OTUs in the
# synthetic cohort (about a third of them non-zero in a sample).
set -euo pipefail
MICROLENS=${MICROLENS:-build/release/microlens}
SECS=${BENCH_SECONDS:-10}
OTUS=${BENCH_OTUS:-200}
command -v wrk >/dev/null || { echo "bench/serve: wrk is missing (apt-get install wrk)" >&2; exit 1; }
[[ -x $MICROLENS ]] || { echo "bench/serve: $MICROLENS not built (make build)" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-bench-serve.XXXXXX")
server=
cleanup() {
    [[ -n $server ]] && kill -KILL "$server" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
export XDG_CONFIG_HOME="$T/config" MICROLENS_ID_KEY=0123456789abcdef0123456789abcdef

# ---- models, certificate, token, bodies ------------------------------------------------------
"$MICROLENS" synth --out "$T/c" --samples 200 --patients 50 --otus "$OTUS" --dim 8 --seed 1 --quiet >/dev/null
"$MICROLENS" evaluate --features "$T/c/table.tsv" --labels "$T/c/labels.csv" --model logreg --cv 3 \
    --quiet --save-model "$T/logreg" >/dev/null
"$MICROLENS" manifest "$T/logreg" >/dev/null
"$MICROLENS" train --table "$T/c/table.tsv" --labels "$T/c/labels.csv" --model settransformer \
    --otu-vectors "$T/c/otu_vectors.safetensors" --d-model 20 --layers 3 --heads 5 --ff 80 \
    --max-otus 256 --steps 20 --batch 16 --quiet --out "$T/st" >/dev/null
st_ckpt=$(ls -d "$T/st/checkpoints/step-"* | tail -1)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
chmod 600 "$T/key.pem"
"$MICROLENS" token new --name bench --role predict --tokens "$T/tokens" >"$T/token.out" 2>/dev/null
token=$(head -1 "$T/token.out")
/usr/bin/python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
rows = [l.rstrip("\n").split("\t") for l in open(t + "/c/table.tsv") if not l.startswith("# ")]
ids, data = rows[0][1:], rows[1:]
def sample(j):
    return {"id": ids[j], "abundances": {r[0]: float(r[j + 1]) for r in data if float(r[j + 1]) > 0}}
for n in (1, 8, 32):
    json.dump({"samples": [sample(j) for j in range(n)]}, open("%s/body%d.json" % (t, n), "w"))
one = sample(0)["abundances"]
print("%d non-zero features in the 1-sample body (%d bytes)" % (len(one),
      len(open(t + "/body1.json").read())), file=open(t + "/body.txt", "w"))
PY

# wrk script: POST the body file with the token; print one RESULT line when done.
lua() {
    cat >"$T/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
local f = assert(io.open("$1", "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.3f %.3f %d %d\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
EOF
}

start() {
    "$MICROLENS" serve --model "$1" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
        --tokens "$T/tokens" --listen 127.0.0.1:0 --threads 2 --quiet "${@:2}" 2>"$T/server.err" &
    server=$!
    port=
    for _ in $(seq 300); do
        port=$(grep -o 'listening on https://[^ ]*' "$T/server.err" | grep -o '[0-9]*$' || true)
        [[ -n $port ]] && return 0
        sleep 0.1
    done
    cat "$T/server.err" >&2
    exit 1
}

stop() {
    kill -TERM "$server"
    wait "$server" || true
    server=
}

printf 'bench/serve: wrk -t2 -c32 -d%ss --latency over TLS (keep-alive); cohort of %s OTUs, %s\n' \
    "$SECS" "$OTUS" "$(cat "$T/body.txt")"
printf 'machine: %s CPUs shared by the server (2 threads) and wrk (2 threads); %s; load average %s\n' \
    "$(nproc)" "$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n%-28s %6s %10s %12s %8s %8s %8s  %s\n' case batch "req/s" "pred/s" "p50 ms" "p99 ms" errors target
row() {
    local label=$1 batch=$2 target=$3
    lua "$T/body$batch.json"
    local out
    out=$(wrk -t2 -c32 -d"${SECS}s" --latency -s "$T/post.lua" "https://127.0.0.1:$port/v1/predict" | grep '^RESULT')
    /usr/bin/python3 - "$label" "$batch" "$target" $out <<'PY'
import sys
label, batch, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n, dur_us, p50, p99, sock, status = sys.argv[5:11]
rps = int(n) / (int(dur_us) / 1e6)
errors = int(sock) + int(status)
verdict = ""
if target == "logistic" and batch == 1:
    ok = rps * batch >= 20000 and float(p99) <= 5 and errors == 0
    verdict = ("ok" if ok else "MISSED") + " (>= 20k pred/s, p99 <= 5 ms, 0 errors)"
print(f"{label:<28s} {batch:6d} {rps:10.0f} {rps * batch:12.0f} {float(p50):8.2f} {float(p99):8.2f} {errors:8d}  {verdict}")
PY
}

start "$T/logreg"
row "logistic (bundle)" 1 logistic
row "logistic (bundle)" 8 logistic
row "logistic (bundle)" 32 logistic
stop
start "$T/logreg" --access-log "$T/access.log"
row "logistic + access log" 1 logistic
stop
start "$st_ckpt" --otu-vectors "$T/c/otu_vectors.safetensors"
row "set transformer (small)" 1 -
row "set transformer (small)" 8 -
stop
