#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz_parse, fuzz_heap) with ASan + UBSan and runs a
# bounded fuzz session on each, starting from the committed corpus in fuzz/corpus/.
#
# Usage: fuzz/run.sh [--merge] [SECONDS]
#   SECONDS         fuzzing time per harness (default $FUZZ_TIME, else 60)
#   --merge         afterwards, add the inputs that found new coverage to the committed
#                   corpus (minimised with libFuzzer's -merge=1); by default they stay
#                   in the scratch directory only
# Environment:
#   FUZZ_WORKDIR    binaries, scratch corpora, logs and crash artifacts (default build/fuzz)
#   FUZZ_TARGETS    which harnesses (default "parse heap")
#   FUZZ_PARALLEL   1 (default): harnesses run at the same time, one core each
#   FUZZ_NO_INSTALL 1: never apt-get clang, fail instead (the test suite sets it)
#   CC              the compiler (default clang; it must support -fsanitize=fuzzer)
#
# Exits non-zero if a harness crashes, trips a sanitizer or an invariant, times out on
# an input, or fails to build; the reproducer is left in $FUZZ_WORKDIR/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

merge=0
seconds=${FUZZ_TIME:-60}
for arg in "$@"; do
    case $arg in
        --merge) merge=1 ;;
        ''|*[!0-9]*) echo "usage: fuzz/run.sh [--merge] [SECONDS]" >&2; exit 2 ;;
        *) seconds=$arg ;;
    esac
done
work=${FUZZ_WORKDIR:-build/fuzz}
targets=${FUZZ_TARGETS:-parse heap}
cc=${CC:-clang}
cflags=(-g -O1 -Wall -Wextra -Isrc/_core
        -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=all) # UB aborts, so libFuzzer counts it as a crash

can_build() {
    echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; return (int)n & 0; }' \
        > "$work/probe.c"
    "$cc" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" 2>/dev/null
}

mkdir -p "$work/artifacts"
if ! can_build; then
    # Debian 12: clang is clang-14; libFuzzer's runtime lives in libclang-rt-14-dev.
    if [[ ${FUZZ_NO_INSTALL:-0} == 1 || $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "fuzz/run.sh: $cc cannot build libFuzzer targets; install clang (and" \
             "libclang-rt-dev), or run as root to have it installed" >&2
        exit 2
    fi
    echo "fuzz/run.sh: installing clang with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq
    timeout 900 apt-get install -y -qq -o DPkg::Lock::Timeout=300 clang >/dev/null
    # The runtime package must match the default clang's major version (several exist).
    rt=libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev
    if apt-cache show "$rt" >/dev/null 2>&1; then
        timeout 900 apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$rt" >/dev/null
    fi
    cc=clang
    can_build || { echo "fuzz/run.sh: clang still cannot build libFuzzer targets" >&2; exit 2; }
fi

declare -A sources=([parse]=src/_core/icmp.c [heap]=src/_core/heap.c)
# What the code under test links with besides (its coverage is not reported).
declare -A links=([parse]=src/_core/siphash.c [heap]=)
# fuzz_heap checks the whole heap after each operation: past a few hundred operations a
# program only runs slower, it reaches no deeper (a 4-ary heap of 300 ids is 5 levels).
declare -A max_len=([parse]=4096 [heap]=1024)
for name in $targets; do
    [[ -n ${sources[$name]:-} ]] || { echo "fuzz/run.sh: unknown target $name" >&2; exit 2; }
    "$cc" "${cflags[@]}" "fuzz/fuzz_$name.c" "${sources[$name]}" ${links[$name]:+"${links[$name]}"} \
        -o "$work/fuzz_$name"
    mkdir -p "$work/corpus/$name" "fuzz/corpus/$name"
done

run() {
    local name=$1
    # New inputs go to the first directory (scratch); the committed one is only read.
    # -timeout: one input taking seconds is a bug (both harnesses are linear in the input).
    # The outer timeout is a backstop, should libFuzzer itself wedge.
    timeout --kill-after=10 $((seconds * 2 + 60)) \
        "$work/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len="${max_len[$name]}" -print_final_stats=1 -artifact_prefix="$work/artifacts/$name-" \
        "$work/corpus/$name" "fuzz/corpus/$name" > "$work/$name.log" 2>&1
}

echo "fuzz/run.sh: fuzzing $targets for ${seconds}s each ($("$cc" --version | head -n1))"
declare -A status
if [[ ${FUZZ_PARALLEL:-1} == 1 ]]; then
    declare -A pids
    for name in $targets; do run "$name" & pids[$name]=$!; done
    for name in $targets; do status[$name]=0; wait "${pids[$name]}" || status[$name]=$?; done
else
    for name in $targets; do status[$name]=0; run "$name" || status[$name]=$?; done
fi

# Source coverage of the code under test (not the harness): the corpus replayed through
# a build with clang's profile instrumentation. Optional: needs llvm-profdata and llvm-cov
# (they come with clang on Debian), and takes a few seconds.
llvm_bin=$(dirname "$(readlink -f "$(command -v "$cc")")")
declare -A coverage
for name in $targets; do
    coverage[$name]="?"
    [[ ${status[$name]} == 0 && -x $llvm_bin/llvm-cov && -x $llvm_bin/llvm-profdata ]] || continue
    cov_bin=$work/cov_$name
    if "$cc" -g -O1 -Isrc/_core -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
            "fuzz/fuzz_$name.c" "${sources[$name]}" ${links[$name]:+"${links[$name]}"} \
            -o "$cov_bin" 2>/dev/null &&
        LLVM_PROFILE_FILE=$cov_bin.profraw timeout 300 "$cov_bin" -runs=0 \
            "$work/corpus/$name" "fuzz/corpus/$name" >/dev/null 2>&1 &&
        "$llvm_bin/llvm-profdata" merge -sparse "$cov_bin.profraw" -o "$cov_bin.profdata"; then
        # Columns of the file's row: regions missed cover functions missed executed lines
        # missed cover branches missed cover.
        coverage[$name]=$("$llvm_bin/llvm-cov" report "$cov_bin" -instr-profile="$cov_bin.profdata" \
            "${sources[$name]}" | awk -v f="${sources[$name]##*/}" \
            '$1 ~ f"$" {print "lines " $10 ", branches " $13 " of " f}')
    fi
done

failed=0
printf '%-8s %12s %10s %8s %8s %10s  %-7s %s\n' target executions exec/s corpus new edges result \
    "source coverage"
for name in $targets; do
    log=$work/$name.log
    final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n1; }
    # The last status line, e.g. "#123456 DONE cov: 201 ft: 873 corp: 245/9Kb ...".
    last=$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    edges=$(sed -n 's/.*(\([0-9]*\) inline 8-bit counters).*/\1/p' "$log" | head -n1)
    result=ok
    if [[ ${status[$name]} != 0 ]]; then
        result="FAILED (exit ${status[$name]})"
        failed=1
    fi
    printf '%-8s %12s %10s %8s %8s %10s  %-7s %s\n' "$name" \
        "$(final_stat number_of_executed_units)" "$(final_stat average_exec_per_sec)" \
        "${corp:-?}" "$(final_stat new_units_added)" "${cov:-?}/${edges:-?}" "$result" \
        "${coverage[$name]}"
done
echo "(corpus: inputs kept after the run; new: found this run, in $work/corpus/;" \
     "edges: hit / instrumented, harness included; source coverage: the corpus replayed)"

for name in $targets; do
    if [[ ${status[$name]} != 0 ]]; then
        echo "==== $name: last lines of $work/$name.log" >&2
        tail -n 60 "$work/$name.log" >&2
        ls -l "$work/artifacts/" >&2
        echo "reproduce: $work/fuzz_$name <artifact>" >&2
    fi
done
[[ $failed == 0 ]] || exit 1

if [[ $merge == 1 ]]; then
    for name in $targets; do
        before=$(find "fuzz/corpus/$name" -type f | wc -l)
        timeout 600 "$work/fuzz_$name" -merge=1 "fuzz/corpus/$name" "$work/corpus/$name" \
            > "$work/$name-merge.log" 2>&1
        echo "merged into fuzz/corpus/$name: $before -> $(find "fuzz/corpus/$name" -type f | wc -l) files"
    done
fi
