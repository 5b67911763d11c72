# basics.sh - help, version, usage errors and exit codes of the command itself.
source tests/cli/lib.bash

run 0 "$MICROLENS" --help
expect_in "$T/out" "data inspect"
expect_in "$T/out" "Exit status: 0 ok, 1 runtime failure, 2 usage error, 3 input data rejected"
run 0 "$MICROLENS" --version
expect_in "$T/out" "^microlens [0-9]+\.[0-9]+\.[0-9]+$"
run 2 "$MICROLENS"
run 2 "$MICROLENS" frobnicate
expect_in "$T/err" 'unknown command "frobnicate"'
run 0 "$MICROLENS" data inspect --help
expect_in "$T/out" "Examples:"
expect_in "$T/out" "--labels CSV"
expect_in "$T/out" "default: species"
run 0 "$MICROLENS" synth --help
expect_in "$T/out" "microlens synth --out cohort"
run 2 "$MICROLENS" data inspect
expect_in "$T/err" "needs TABLE"
run 2 "$MICROLENS" data inspect x.tsv --no-such-flag
expect_in "$T/err" 'unknown option "--no-such-flag"'
expect_empty "$T/out"
run 2 "$MICROLENS" data inspect x.tsv --max-listed -3
run 2 "$MICROLENS" data inspect x.tsv --samples-as-rows --samples-as-columns
run 2 "$MICROLENS" data inspect x.tsv --rank subspecies
run 2 "$MICROLENS" data inspect x.tsv --format xlsx
run 2 "$MICROLENS" data inspect x.tsv --label-col delivery
run 2 "$MICROLENS" synth
run 2 "$MICROLENS" synth --out "$T/s" --samples ten
run 3 "$MICROLENS" data inspect "$T/does-not-exist.tsv"
expect_in "$T/err" "does-not-exist.tsv: cannot open"
finish
