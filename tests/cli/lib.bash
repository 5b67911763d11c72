# lib.bash - helpers for the command-line tests: run a command, check exit code and output.
# Sourced by tests/cli/*.sh; ctest passes $MICROLENS (the binary) and runs from the repo root.
set -u
: "${MICROLENS:?MICROLENS must point at the microlens binary}"
failures=0
checks=0
T=$(mktemp -d "${TMPDIR:-/tmp}/microlens-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
# Tests never touch the real user's key: the per-user key lives in the temp folder.
export XDG_CONFIG_HOME="$T/config"
export HOME="$T/home"
unset MICROLENS_ID_KEY

# run EXPECTED_EXIT CMD... : runs CMD, keeps stdout in $T/out and stderr in $T/err.
run() {
    local want=$1; shift
    checks=$((checks + 1))
    "$@" >"$T/out" 2>"$T/err"
    local got=$?
    if [[ $got != "$want" ]]; then
        failures=$((failures + 1))
        echo "FAIL: exit $got, expected $want: $*" >&2
        sed 's/^/  stderr: /' "$T/err" | head -5 >&2
    fi
}

# expect_in FILE PATTERN : FILE matches the extended regex PATTERN.
expect_in() {
    checks=$((checks + 1))
    if ! grep -Eq -- "$2" "$1"; then
        failures=$((failures + 1))
        echo "FAIL: $(basename "$1") lacks /$2/" >&2
        head -5 "$1" | sed 's/^/  got: /' >&2
    fi
}

# expect_not_in FILE FIXED_STRING : FILE does not contain the string.
expect_not_in() {
    checks=$((checks + 1))
    if grep -Fq -- "$2" "$1"; then
        failures=$((failures + 1))
        echo "FAIL: $(basename "$1") contains \"$2\"" >&2
    fi
}

# expect_empty FILE
expect_empty() {
    checks=$((checks + 1))
    if [[ -s $1 ]]; then
        failures=$((failures + 1))
        echo "FAIL: $(basename "$1") is not empty" >&2
        head -3 "$1" | sed 's/^/  got: /' >&2
    fi
}

# json_get FILE PYTHON_EXPR : evaluates the expression with d = the parsed JSON document.
json_get() {
    /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# expect_eq GOT WANT WHAT
expect_eq() {
    checks=$((checks + 1))
    if [[ $1 != "$2" ]]; then
        failures=$((failures + 1))
        echo "FAIL: $3: got \"$1\", expected \"$2\"" >&2
    fi
}

finish() {
    echo "$checks checks, $failures failed"
    [[ $failures == 0 ]]
}
