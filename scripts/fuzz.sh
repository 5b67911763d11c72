#!/usr/bin/env bash
# fuzz.sh - builds every fuzz/fuzz_*.c with clang's libFuzzer + ASan + UBSan and runs each
# for a set time on a copy of its corpus. New crashers are left in the output folder.
set -euo pipefail
out=${1:-build/fuzz}
seconds=${2:-60}
mkdir -p "$out"
srcs=$(find src -name "*.c" -not -path "src/cli/*" | sort)
flags=(-g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -DML_VERSION_STRING=\"fuzz\"
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude -Isrc)
libs=($(pkg-config --cflags --libs jansson hdf5 openblas sqlite3 libmicrohttpd) -lhdf5_serial_hl -llapacke -lcrypto -lm -lpthread)
# The library is compiled once (in parallel) into an archive that every target links.
# -fsanitize=fuzzer-no-link instruments it for coverage without pulling in libFuzzer's main.
objdir=$out/obj
rm -rf "$objdir"; mkdir -p "$objdir"
lib_flags=("${flags[@]/-fsanitize=fuzzer,address,undefined/-fsanitize=fuzzer-no-link,address,undefined}"
           $(pkg-config --cflags jansson hdf5 openblas sqlite3 libmicrohttpd))
for src in $srcs; do printf '%s\n' "$src"; done |
    xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} sh -c \
        'clang "$@" -c "{}" -o "'"$objdir"'/$(echo "{}" | tr / _).o"' sh "${lib_flags[@]}"
rm -f "$out/libmicrolens-fuzz.a"
ar rcs "$out/libmicrolens-fuzz.a" "$objdir"/*.o
status=0
for target in fuzz/fuzz_*.c; do
    name=$(basename "$target" .c)
    corpus=fuzz/corpus/${name#fuzz_}
    clang "${flags[@]}" "$target" "$out/libmicrolens-fuzz.a" "${libs[@]}" -o "$out/$name"
    rm -rf "$out/$name.corpus"; cp -r "$corpus" "$out/$name.corpus"
    echo "== $name: ${seconds}s =="
    if ! (cd "$out" && "./$name" -max_total_time="$seconds" -rss_limit_mb=2048 \
            -print_final_stats=1 "$name.corpus" 2>"$name.log"); then
        echo "$name: FAILED, see $out/$name.log" >&2
        status=1
    fi
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$out/$name.log" | tail -2 || true
done
exit $status
