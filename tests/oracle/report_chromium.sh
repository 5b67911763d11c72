#!/bin/bash
# report_chromium.sh - the HTML reports render in headless Chromium (Debian's `chromium`) with
# the network off and fetch nothing: each page is grepped for anything fetchable (http://,
# https://, src=, url(, @import, <script), then rendered inside an empty network namespace
# (`unshare -n`) with background networking off and a net log, which must show no request
# made by the page (report_chromium.py); a screenshot is taken of each. A planted page with an
# <img src=http://...> proves the net-log check catches a fetch. REPORT_SCREENSHOT_DIR=DIR
# keeps the screenshots.
set -u
: "${MICROLENS:?}"
here=$(cd "$(dirname "$0")" && pwd)
for tool in chromium unshare /usr/bin/python3; do
    if ! command -v $tool >/dev/null; then
        if [[ ${CI:-} == true ]]; then echo "FAIL: CI=true needs $tool" >&2; exit 1; fi
        echo "SKIP: $tool not found"
        exit 0
    fi
done
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-oracle.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export XDG_CONFIG_HOME="$T/config" HOME="$T/home"
unset MICROLENS_ID_KEY
# Root gets a bare network namespace directly; anyone else through a user namespace.
netns=(unshare -n)
[[ $(id -u) == 0 ]] || netns=(unshare -r -n)
"${netns[@]}" true || fail "cannot create a network namespace with ${netns[*]}"

W=1280 H=4000
render() { # render PAGE.html OUT.png NETLOG.json
    "${netns[@]}" timeout 120 chromium --headless --no-sandbox --disable-gpu \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-extensions --disable-default-apps --no-first-run --hide-scrollbars \
        --user-data-dir="$T/profile" --log-net-log="$3" --net-log-capture-mode=Everything \
        --screenshot="$2" --window-size=$W,$H "file://$1" >"$T/chromium.log" 2>&1 ||
        { tail -5 "$T/chromium.log" >&2; fail "chromium failed on $1"; }
}

# The check must be able to fail: a page that fetches an image is caught.
printf '<html><body><img src="http://example.invalid/x.png">planted</body></html>' >"$T/bad.html"
render "$T/bad.html" "$T/bad.png" "$T/bad.json"
/usr/bin/python3 "$here/report_chromium.py" "$T/bad.json" "$T/bad.png" $W $H 0 >"$T/bad.out" &&
    fail "the net-log check missed the planted page's request"
grep -q "example.invalid" "$T/bad.out" || fail "planted request not named: $(cat "$T/bad.out")"

# A real run with every collector, and a cross-validated evaluation.
"$MICROLENS" synth --out "$T/c" --samples 80 --otus 120 --dim 8 --seed 5 --quiet >/dev/null ||
    fail "synth"
"$MICROLENS" train --table "$T/c/table.tsv" --labels "$T/c/labels.csv" --model mlp --hidden 16 \
    --steps 80 --batch 16 --eval-every 5 --checkpoint-every 20 --collect all --collect-every 2 \
    --quiet --out "$T/run" >/dev/null || fail "train"
"$MICROLENS" report "$T/run" --out "$T/run.html" >/dev/null || fail "report exited $?"
"$MICROLENS" evaluate --features "$T/c/table.tsv" --labels "$T/c/labels.csv" --model logreg \
    --cv 3 --report "$T/eval.html" --quiet >/dev/null || fail "evaluate --report exited $?"

for page in run eval; do
    for bad in "http://" "https://" "src=" "url(" "@import" "<script"; do
        ! grep -Fqi -- "$bad" "$T/$page.html" || fail "$page.html contains \"$bad\""
    done
    render "$T/$page.html" "$T/$page.png" "$T/$page.json"
    /usr/bin/python3 "$here/report_chromium.py" "$T/$page.json" "$T/$page.png" $W $H 30000 ||
        fail "$page.html rendering"
    if [[ -n ${REPORT_SCREENSHOT_DIR:-} ]]; then
        mkdir -p "$REPORT_SCREENSHOT_DIR" && cp "$T/$page.png" "$REPORT_SCREENSHOT_DIR/"
    fi
done
echo "report_chromium: ok"
