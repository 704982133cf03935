#!/usr/bin/env bash
# The test suite against an AddressSanitizer + UBSan build of the extension.
#
# Builds fastping with -Ccmake.define.FASTPING_SANITIZE=ON (gcc) into a venv of its
# own (.venv-asan, or $ASAN_VENV), then runs pytest with gcc's libasan preloaded:
# python itself is not instrumented, and the ASan runtime must be the first
# library loaded, before the extension is dlopen()ed. Any ASan or UBSan report
# aborts the process, so it fails the test that triggered it (or the whole run).
#
# Usage: scripts/asan-tests.sh [pytest arguments...]   (defaults to the whole suite but
# the charts, see below)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${ASAN_VENV:-.venv-asan}
timeout_s=${ASAN_TIMEOUT:-1800} # the whole pytest run; a hang must not eat CI's budget

command -v gcc >/dev/null || { echo "asan-tests: needs gcc" >&2; exit 2; }
libasan=$(gcc -print-file-name=libasan.so)
# -print-file-name echoes the bare name back when the library is not installed.
[[ -e $libasan ]] || { echo "asan-tests: gcc has no libasan.so (apt-get install libasan8)" >&2; exit 2; }

python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# CC=gcc: the preloaded runtime below is gcc's, so the extension must be built by gcc too
# (clang's ASan runtime is a different library). pip builds a local directory afresh
# each time, in a temporary build dir, so no unsanitized object can sneak in.
CC=gcc "$venv/bin/python" -m pip install --quiet '.[test]' -Ccmake.define.FASTPING_SANITIZE=ON

so=$(find "$venv" -name '_engine*.so' | head -n1)
# (not `nm | grep -q`: grep quitting early makes nm die of SIGPIPE, and pipefail fail.)
if [[ $(nm -D --undefined-only "$so") != *__asan_init* ]]; then
    echo "asan-tests: $so is not instrumented" >&2
    exit 1
fi

# detect_leaks=0: CPython keeps interned objects and arenas to exit by design, and
# LeakSanitizer would report them all; fastping's own leaks are what the resource and
# descriptor tests check. halt_on_error=1: a UBSan report fails the run, not just logs.
export LD_PRELOAD=$libasan
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PYTHONFAULTHANDLER=1

start=$SECONDS
status=0
# Without arguments, the whole suite but tests/test_plot.py: matplotlib's own C extensions
# abort on import under the preloaded ASan runtime, and fastping's plotting is pure Python
# over matplotlib, with no code of ours for the sanitizers to check.
if [[ $# -eq 0 ]]; then
    set -- --ignore=tests/test_plot.py
fi
timeout --kill-after=30 "$timeout_s" "$venv/bin/python" -m pytest "$@" || status=$?
echo "asan-tests: pytest exited $status after $((SECONDS - start)) s (sanitized build: $so)"
exit "$status"
