#!/bin/sh
# Run every harness for SECONDS (default 240) each, two at a time (one per core), with a
# scratch corpus per harness seeded from fuzz/corpus/ (libFuzzer writes new inputs into the
# first directory only, so the committed seeds stay untouched). Logs: $OUT/<harness>.log;
# crashes: $OUT/crash-* etc. Needs `pip install atheris`. Run from the repository root.
set -eu
SECONDS_EACH=${1:-240}
OUT=${OUT:-/tmp/grtmp-fuzz}
mkdir -p "$OUT"
run() {
    mkdir -p "$OUT/work/$1"
    python -m "fuzz.fuzz_$1" "$OUT/work/$1" "fuzz/corpus/$1" \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len="$2" \
        -print_final_stats=1 -artifact_prefix="$OUT/$1-" >"$OUT/$1.log" 2>&1 || true
    tail -n 25 "$OUT/$1.log" | grep -E '^(stat::|Done|#[0-9]+ *DONE)|==|Error|Traceback' || true
}
run chunk 8192 & run amf 4096 & wait
run media 8192 & run control 4096 & wait
run handshake 4096 & run session 65536 & wait
