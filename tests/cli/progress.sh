# progress.sh - the progress bar is drawn on a terminal, never with --quiet, never into a pipe.
source tests/cli/lib.bash

synth=("$MICROLENS" synth --samples 400 --patients 100 --otus 300 --dim 4)
# `script` gives the command a pseudo-terminal and copies what it drew into a file.
script -qec "${synth[*]} --out $T/a" "$T/tty.txt" >/dev/null
expect_in "$T/tty.txt" "synth \[#+ *\] +[0-9]+%"
script -qec "${synth[*]} --out $T/b --quiet" "$T/quiet.txt" >/dev/null
expect_not_in "$T/quiet.txt" "synth ["
run 0 "${synth[@]}" --out "$T/c"
expect_not_in "$T/err" "synth ["
expect_not_in "$T/out" "synth ["
finish
