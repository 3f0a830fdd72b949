#!/bin/sh
# Runs every fuzz target for SECONDS (default 180) each, one after another,
# with the ASL dictionary. Found crashes land in fuzz/artifacts/<target>/.
set -u
cd "$(dirname "$0")"
seconds=${1:-180}
for target in ${TARGETS:-parse path intrinsics jsonata simulate}; do
    mkdir -p "corpus/$target"
    cargo +nightly fuzz run "$target" -O -a --sanitizer none -- \
        -max_total_time="$seconds" -dict=dict/asl.dict -max_len=8192 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        > "../target/fuzz-$target.log" 2>&1
    echo "$target: exit $?"
    grep -E "stat::number_of_executed_units|stat::new_units_added|Test unit written|SUMMARY" "../target/fuzz-$target.log"
done
