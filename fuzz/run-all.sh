#!/bin/sh
# Runs every fuzz target for SECONDS (default 180) each, one after another,
# with the ASL dictionary. Found crashes land in fuzz/artifacts/<target>/.
# FUZZ_FLAGS adds libFuzzer flags, e.g. "-fork=1 -ignore_crashes=1" to go on
# past a known crash.
set -u
cd "$(dirname "$0")"
seconds=${1:-180}
for target in ${TARGETS:-parse path intrinsics jsonata simulate aws}; do
    mkdir -p "corpus/$target"
    cargo +nightly fuzz run "$target" -O -a --sanitizer none -- \
        -max_total_time="$seconds" -dict=dict/asl.dict -max_len=8192 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 ${FUZZ_FLAGS:-} \
        > "../target/fuzz-$target.log" 2>&1
    echo "$target: exit $?"
    grep -E "stat::number_of_executed_units|stat::new_units_added|Test unit written|SUMMARY" "../target/fuzz-$target.log"
done
