#!/bin/bash
# serve.sh - `microlens serve` and `microlens token new` from the outside, with curl as the
# client and a self-signed certificate made here by openssl: tokens (good, missing, wrong,
# wrong role), TLS only (plaintext refused; the plaintext loopback listener refuses other
# addresses), limits (body, head, samples, slow clients cut off, rate limit with
# Retry-After), JSON errors (400 with a reason, 404, 405, 415), reload refusing a tampered
# checkpoint while the old model keeps answering, start refusals (no TLS, loose modes, bad
# MANIFEST, unsigned with --require-signature), the access log (pseudonyms only, no token,
# no payload), SIGHUP reopening it, SIGTERM draining a request in flight, then exit 0, and
# train checkpoints: MLP, and LoRA over --base-weights (missing, another or tampered base refused).
source "$(dirname "$0")/lib.bash"
unset MICROLENS_REQUIRE_SIGNATURE
export MICROLENS_ID_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT

# start_server ERRFILE ARGS... : `microlens serve ARGS` in the background; sets $pid and
# $port once it listens (port 0: the server picks a free one and prints it).
start_server() {
    local err=$1
    shift
    "$MICROLENS" serve "$@" 2>"$err" &
    pid=$!
    pids+=("$pid")
    port=
    for _ in $(seq 600); do
        port=$(grep -o 'listening on https\?://[^ ]*' "$err" | grep -o '[0-9]*$')
        [[ -n $port ]] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "FAIL: server did not start: $*" >&2
    sed 's/^/  stderr: /' "$err" >&2
    failures=$((failures + 1))
    return 1
}

# call AUTH METHOD PATH [CURL ARGS...] : prints the HTTP status (000: no HTTP answer); the
# body lands in $T/resp, the headers in $T/hdrs. AUTH names a header file ("" for none), so
# tokens never appear in a command line.
call() {
    local auth=$1 method=$2 path=$3
    shift 3
    local a=()
    [[ -n $auth ]] && a=(-H @"$T/h-$auth")
    curl -sS --max-time 20 --cacert "$T/cert.pem" -o "$T/resp" -D "$T/hdrs" -w '%{http_code}' \
        -X "$method" "${a[@]}" "$@" "$BASE$path" 2>"$T/curl.err"
}
json=(-H 'Content-Type: application/json')

# wait_log FILE PATTERN : waits (up to 10 s) until FILE's last line matches PATTERN. A request's
# access-log line is written once its response is sent, so a client can see the response
# a moment before the line exists.
wait_log() {
    for _ in $(seq 100); do
        [[ -f $1 ]] && tail -1 "$1" | grep -Eq -- "$2" && return 0
        sleep 0.1
    done
}

# expect_error STATUS WHAT : the last response is the JSON error body with that status.
expect_error() {
    expect_eq "$(json_get "$T/resp" 'd["error"]["status"]' 2>/dev/null)" "$1" "$2: JSON error body"
}

# ---- fixtures: a cohort, two model bundles with MANIFESTs, a certificate, tokens -----------
"$MICROLENS" synth --out "$T/c" --samples 60 --patients 20 --otus 40 --dim 4 --seed 5 --quiet >/dev/null
ev=(evaluate --features "$T/c/table.tsv" --labels "$T/c/labels.csv" --model logreg --cv 3 --quiet)
"$MICROLENS" "${ev[@]}" --save-model "$T/model" >/dev/null
"$MICROLENS" "${ev[@]}" --C 0.05 --save-model "$T/model2" >/dev/null
"$MICROLENS" manifest "$T/model" >/dev/null
"$MICROLENS" manifest "$T/model2" >/dev/null
/usr/bin/python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
rows = [l.rstrip("\n").split("\t") for l in open(t + "/c/table.tsv") if not l.startswith("# ")]
ids, data = rows[0][1:], rows[1:]
def sample(j, pad=0):
    ab = {r[0]: float(r[j + 1]) for r in data if float(r[j + 1]) > 0}
    for k in range(pad):
        ab["pad_%05d" % k] = 1.0
    return {"id": ids[j], "abundances": ab}
json.dump({"samples": [sample(0), sample(1)]}, open(t + "/body.json", "w"))
json.dump({"samples": [sample(0, pad=600)]}, open(t + "/big.json", "w"))
json.dump({"samples": [{"id": "x%d" % i, "abundances": {}} for i in range(101)]},
          open(t + "/many.json", "w"))
open(t + "/otu", "w").write(data[0][0])
PY
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
chmod 600 "$T/key.pem"

run 0 "$MICROLENS" token new --help
expect_in "$T/out" "^Usage: microlens token new"
run 2 "$MICROLENS" token new --name alice
run 2 "$MICROLENS" token new --name alice --role root
run 2 "$MICROLENS" token new --name 'a b' --role predict
expect_in "$T/err" "token name"
run 0 "$MICROLENS" token new --name alice --role predict --tokens "$T/tokens"
cp "$T/out" "$T/alice.out"
expect_in "$T/alice.out" '^mlt_[A-Za-z0-9_-]{43}$'
expect_in "$T/alice.out" '^alice:predict:[0-9a-f]{64}$'
expect_eq "$(stat -c %a "$T/tokens")" 600 "tokens file mode"
run 0 "$MICROLENS" token new --name root --role admin --tokens "$T/tokens"
cp "$T/out" "$T/root.out"
run 3 "$MICROLENS" token new --name root --role predict --tokens "$T/tokens"
expect_in "$T/err" "already has a token named"
expect_eq "$(wc -l <"$T/tokens")" 2 "tokens file lines"
alice=$(head -1 "$T/alice.out")
root=$(head -1 "$T/root.out")
expect_not_in "$T/tokens" "$alice"
printf 'Authorization: Bearer %s' "$alice" >"$T/h-alice"
printf 'Authorization: Bearer %s' "$root" >"$T/h-root"
printf 'Authorization: Bearer mlt_%s' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" >"$T/h-wrong"

# ---- refusals at start -----------------------------------------------------------------------
base=(--model "$T/model" --tokens "$T/tokens" --listen 127.0.0.1:0)
tls=(--tls-cert "$T/cert.pem" --tls-key "$T/key.pem")
run 0 "$MICROLENS" serve --help
expect_in "$T/out" "^Usage: microlens serve"
run 2 "$MICROLENS" serve "${base[@]}"
expect_in "$T/err" "refusing to serve without TLS"
run 2 "$MICROLENS" serve "${base[@]}" --insecure-plaintext-loopback --listen 0.0.0.0:0
expect_in "$T/err" "loopback only"
run 2 "$MICROLENS" serve "${base[@]}" "${tls[@]}" --rate fast
cp "$T/tokens" "$T/tokens-loose" && chmod 644 "$T/tokens-loose"
run 1 "$MICROLENS" serve "${tls[@]}" --model "$T/model" --tokens "$T/tokens-loose" --listen 127.0.0.1:0
expect_in "$T/err" "mode 0644"
cp "$T/key.pem" "$T/key-loose.pem" && chmod 644 "$T/key-loose.pem"
run 1 "$MICROLENS" serve "${base[@]}" --tls-cert "$T/cert.pem" --tls-key "$T/key-loose.pem"
expect_in "$T/err" "key-loose.pem has mode 0644"
run 4 "$MICROLENS" serve "${base[@]}" "${tls[@]}" --require-signature
expect_in "$T/err" "signature"

# ---- the TLS server ----------------------------------------------------------------------------
start_server "$T/a.err" "${base[@]}" "${tls[@]}" --access-log "$T/access.log" --max-body 8192 \
    --max-header 8192 --max-samples 100 --threads 2
apid=$pid
BASE="https://127.0.0.1:$port"
plain="http://127.0.0.1:$port"

expect_eq "$(call "" GET /healthz)" 200 "healthz without a token"
expect_eq "$(json_get "$T/resp" 'd["status"]')" ok "healthz body"
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary @"$T/body.json")" 200 "predict, good token"
expect_eq "$(json_get "$T/resp" 'len(d["predictions"])')" 2 "two predictions"
expect_eq "$(json_get "$T/resp" 'all(p["id"].startswith("s_") for p in d["predictions"])')" True "pseudonyms in the response"
expect_not_in "$T/resp" "P000_S0"
sha1=$(json_get "$T/resp" 'd["model"]["sha256"]')
expect_eq "$(call "" POST /v1/predict "${json[@]}" --data-binary @"$T/body.json")" 401 "missing token"
expect_error 401 "missing token"
expect_in "$T/hdrs" "^WWW-Authenticate: Bearer"
expect_eq "$(call wrong POST /v1/predict "${json[@]}" --data-binary @"$T/body.json")" 401 "wrong token"
expect_error 401 "wrong token"
expect_in "$T/hdrs" 'error="invalid_token"'
expect_eq "$(call alice GET /v1/model)" 403 "predict role on /v1/model"
expect_error 403 "wrong role"
expect_eq "$(call alice POST /v1/reload)" 403 "predict role on /v1/reload"
expect_eq "$(call root GET /v1/model)" 200 "admin on /v1/model"
expect_eq "$(json_get "$T/resp" 'd["sha256"]')" "$sha1" "model info sha256"
expect_eq "$(call root POST /v1/predict "${json[@]}" --data-binary @"$T/body.json")" 200 "admin may predict"

# Plaintext to the TLS port gets no HTTP answer.
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$plain/healthz" 2>/dev/null)
expect_eq "$code" 000 "plaintext HTTP to the TLS listener"
expect_eq "$(call "" GET /healthz)" 200 "still serving after a plaintext attempt"

# Limits and malformed requests: every error a JSON body.
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary @"$T/big.json")" 413 "oversize body"
expect_error 413 "oversize body"
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary @"$T/many.json")" 413 "too many samples"
expect_error 413 "too many samples"
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary '{"samples": [')" 400 "malformed JSON"
expect_error 400 "malformed JSON"
expect_in "$T/resp" '"reason":"[^"]+'
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary '{"samples":[{"id":"P000_S00","abundances":[1]}]}')" 400 "wrong schema"
expect_in "$T/resp" 'samples\[0\]\.abundances'
expect_not_in "$T/resp" "P000_S00"
expect_eq "$(call alice POST /v1/predict -H 'Content-Type: text/plain' --data-binary @"$T/body.json")" 415 "not JSON"
expect_error 415 "content type"
expect_eq "$(call alice POST /v1/predict "${json[@]}" -H "X-Pad: $(head -c 9000 /dev/zero | tr '\0' a)" --data-binary @"$T/body.json")" 431 "oversize head"
expect_error 431 "oversize head"
expect_eq "$(call alice GET /nope)" 404 "unknown route"
expect_error 404 "unknown route"
expect_eq "$(call alice GET /v1/predict)" 405 "GET on /v1/predict"
expect_error 405 "wrong method"
expect_in "$T/hdrs" "^Allow: POST"

# Reload: a tampered checkpoint is refused and the old model keeps answering; a good one swaps.
/usr/bin/python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-3]^=1; open(p,"wb").write(b)' "$T/model/model.safetensors"
expect_eq "$(call root POST /v1/reload)" 409 "reload of a tampered checkpoint"
expect_error 409 "tampered reload"
expect_in "$T/resp" "EINTEGRITY"
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary @"$T/body.json")" 200 "old model still answers"
expect_eq "$(json_get "$T/resp" 'd["model"]["sha256"]')" "$sha1" "old model's sha256"
run 4 "$MICROLENS" serve "${base[@]}" "${tls[@]}"
expect_in "$T/err" "model.safetensors"
cp "$T/model2/"* "$T/model/"
expect_eq "$(call root POST /v1/reload)" 200 "reload of a good checkpoint"
expect_eq "$(json_get "$T/resp" 'd["model"]["previous_sha256"]')" "$sha1" "reload reports the previous model"
sha2=$(json_get "$T/resp" 'd["model"]["sha256"]')
expect_eq "$([[ $sha2 != "$sha1" && $sha2 == sha256:* ]] && echo new)" new "reload swapped the model"
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary @"$T/body.json")" 200 "predict after reload"
expect_eq "$(json_get "$T/resp" 'd["model"]["sha256"]')" "$sha2" "new model answers"

# Access log: one JSON line per request, pseudonyms only, no token, no payload; SIGHUP reopens.
expect_eq "$(call root GET /v1/model)" 200 "admin on /v1/model after reload"
wait_log "$T/access.log" '"token":"root","method":"GET","route":"/v1/model"'
expect_eq "$(/usr/bin/python3 - "$T/access.log" <<'PY'
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
keys = {"time", "token", "method", "route", "status", "latency_ms", "n_samples", "samples"}
ok = all(keys <= set(l) for l in lines)
ok &= all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", l["time"]) for l in lines)
good = [l for l in lines if l["route"] == "/v1/predict" and l["status"] == 200 and l["token"] == "alice"]
ok &= len(good) >= 3 and all(l["n_samples"] == 2 and len(l["samples"]) == 2 for l in good)
ok &= all(re.fullmatch(r"s_[0-9a-f]{16}", s) for l in lines for s in l["samples"])
ok &= any(l["status"] == 401 and l["token"] == "-" for l in lines)
ok &= any(l["status"] == 404 and l["route"] == "other" for l in lines)
print(ok and len(lines) >= 20)
PY
)" True "access log lines"
expect_not_in "$T/access.log" "P000_S0"
expect_not_in "$T/access.log" "$alice"
expect_not_in "$T/access.log" "$root"
expect_not_in "$T/access.log" "$(cat "$T/otu")"
expect_eq "$(stat -c %a "$T/access.log")" 600 "access log mode"
n_before=$(wc -l <"$T/access.log")
mv "$T/access.log" "$T/access.log.1"
kill -HUP "$apid"
for _ in $(seq 100); do grep -q "access log reopened" "$T/a.err" && break; sleep 0.1; done
expect_eq "$(call "" GET /healthz)" 200 "healthz after SIGHUP"
wait_log "$T/access.log" '"route":"/healthz"'
expect_eq "$(wc -l <"$T/access.log" 2>/dev/null)" 1 "new log after SIGHUP"
expect_eq "$(wc -l <"$T/access.log.1")" "$n_before" "rotated log untouched"
kill -TERM "$apid"
wait "$apid"
expect_eq "$?" 0 "TLS server exits 0 on SIGTERM"
expect_in "$T/a.err" "stopped after [0-9]+ requests"

# ---- a signed model with --require-signature ---------------------------------------------------
"$MICROLENS" keygen --out "$T/sign.key" >/dev/null
"$MICROLENS" sign "$T/model2" --key "$T/sign.key" >/dev/null
start_server "$T/s.err" --model "$T/model2" --tokens "$T/tokens" --listen 127.0.0.1:0 "${tls[@]}" \
    --require-signature --pubkey "$T/sign.key.pub" --quiet
BASE="https://127.0.0.1:$port"
expect_eq "$(call root GET /v1/model)" 200 "signed model served"
expect_eq "$(json_get "$T/resp" 'd["signature"]')" verified "signature verified"
kill -TERM "$pid"
wait "$pid"
expect_eq "$?" 0 "signed server exits 0"

# ---- plaintext loopback listener: rate limit, slow clients, draining on SIGTERM -------------
start_server "$T/b.err" --model "$T/model2" --tokens "$T/tokens" --listen 127.0.0.1:0 \
    --insecure-plaintext-loopback --rate 0.2/s --burst 2 --request-timeout 3 --idle-timeout 60
bpid=$pid
bport=$port
BASE="http://127.0.0.1:$bport"
expect_in "$T/b.err" "WARNING.*PLAINTEXT"
expect_eq "$(call "" GET /healthz)" 200 "plaintext healthz"
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary @"$T/body.json")" 200 "rate: first"
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary @"$T/body.json")" 200 "rate: second (burst 2)"
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary @"$T/body.json")" 429 "rate: third"
expect_error 429 "rate limited"
expect_in "$T/hdrs" "^Retry-After: [1-9][0-9]*"

# A client that sends half a head and then nothing, and one that sends a byte every 0.3 s
# (never idle long enough for the idle timeout): both are cut off by the request timeout.
exec 3<>"/dev/tcp/127.0.0.1/$bport"
printf 'POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n' >&3
timeout 20 cat <&3 >/dev/null
expect_eq "$?" 0 "silent slow client cut off (the server closed the connection)"
exec 3<&-
exec 3<>"/dev/tcp/127.0.0.1/$bport"
(printf 'POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '
 for _ in $(seq 80); do printf x || exit 0; sleep 0.3; done) >&3 2>/dev/null &
dribbler=$!
timeout 20 cat <&3 >/dev/null
expect_eq "$?" 0 "dribbling slow client cut off"
kill "$dribbler" 2>/dev/null
wait "$dribbler" 2>/dev/null
exec 3<&-
expect_eq "$(call "" GET /healthz)" 200 "serving after cutting slow clients"

# SIGTERM while a request is in flight: it is answered, then the server exits 0.
body=$(cat "$T/body.json")
exec 3<>"/dev/tcp/127.0.0.1/$bport"
printf 'POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "$root" "${#body}" "${body:0:20}" >&3
sleep 0.3
kill -TERM "$bpid"
sleep 0.3
printf '%s' "${body:20}" >&3
timeout 20 cat <&3 >"$T/drain.out"
exec 3<&-
expect_in "$T/drain.out" "^HTTP/1.1 200"
expect_in "$T/drain.out" '"predictions"'
wait "$bpid"
expect_eq "$?" 0 "plaintext server exits 0 after draining"
expect_in "$T/b.err" "SIGTERM: draining"
expect_in "$T/b.err" "1 rate limited, ([2-9]|[1-9][0-9]+) connections cut off"

# ---- a train checkpoint (MLP): served like a bundle; a tampered copy is refused at start ----
"$MICROLENS" train --table "$T/c/table.tsv" --labels "$T/c/labels.csv" --model mlp --hidden 8 \
    --steps 10 --batch 16 --quiet --out "$T/run" >/dev/null
ckpt=$(ls -d "$T/run/checkpoints/step-"* | tail -1)
start_server "$T/m.err" --model "$ckpt" --tokens "$T/tokens" --listen 127.0.0.1:0 "${tls[@]}" --quiet
BASE="https://127.0.0.1:$port"
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary @"$T/body.json")" 200 "checkpoint predict"
expect_eq "$(json_get "$T/resp" 'len(d["predictions"])')" 2 "checkpoint predictions"
kill -TERM "$pid"
wait "$pid"
expect_eq "$?" 0 "checkpoint server exits 0"
cp -r "$ckpt" "$T/tampered"
printf '\n' >>"$T/tampered/preprocess.json"
run 4 "$MICROLENS" serve --model "$T/tampered" --tokens "$T/tokens" --listen 127.0.0.1:0 "${tls[@]}"
expect_in "$T/err" "preprocess.json"

# ---- a LoRA checkpoint (set transformer): served over --base-weights, also on reload -------
st=(train --table "$T/c/table.tsv" --labels "$T/c/labels.csv" --model settransformer
    --otu-vectors "$T/c/otu_vectors.safetensors" --steps 4 --batch 8 --max-otus 16 --d-model 10
    --layers 1 --heads 2 --ff 16 --quiet)
"$MICROLENS" "${st[@]}" --out "$T/st" >/dev/null
bw=$(ls -d "$T/st/checkpoints/step-"* | tail -1)/model.safetensors
"$MICROLENS" "${st[@]}" --out "$T/lora" --init "$bw" --lora r=2,alpha=4,targets=q,v,dropout=0.1 >/dev/null
lckpt=$(ls -d "$T/lora/checkpoints/step-"* | tail -1)
lserve=(--model "$lckpt" --otu-vectors "$T/c/otu_vectors.safetensors" --tokens "$T/tokens"
        --listen 127.0.0.1:0 "${tls[@]}")
run 3 "$MICROLENS" serve "${lserve[@]}"
expect_in "$T/err" "pass --base-weights FILE"
mkdir "$T/otherbase" && cp "$bw" "$T/otherbase/other.safetensors" && "$MICROLENS" manifest "$T/otherbase" >/dev/null
run 2 "$MICROLENS" serve "${lserve[@]}" --base-weights "$T/otherbase/other.safetensors"
expect_in "$T/err" 'records base_model_name_or_path "model.safetensors"'
start_server "$T/l.err" "${lserve[@]}" --base-weights "$bw" --quiet
BASE="https://127.0.0.1:$port"
expect_eq "$(call alice POST /v1/predict "${json[@]}" --data-binary @"$T/body.json")" 200 "LoRA checkpoint predict"
expect_eq "$(json_get "$T/resp" 'all(0 <= p["probability"] <= 1 for p in d["predictions"]) and len(d["predictions"])')" 2 "LoRA probabilities"
lsha=$(json_get "$T/resp" 'd["model"]["sha256"]')
expect_eq "$(call root POST /v1/reload)" 200 "LoRA checkpoint reload (same base)"
expect_eq "$(json_get "$T/resp" 'd["model"]["sha256"]')" "$lsha" "LoRA reload: same model"
expect_eq "$(call root GET /v1/model)" 200 "LoRA model info"
expect_eq "$(json_get "$T/resp" 'd["model"]["lora"]["base_weights"]')" model.safetensors "LoRA info names the base"
kill -TERM "$pid"
wait "$pid"
expect_eq "$?" 0 "LoRA server exits 0"
printf 'x' >>"$(dirname "$bw")/trainer_state.json" # the base's folder no longer verifies
run 4 "$MICROLENS" serve "${lserve[@]}" --base-weights "$bw"

finish
