#!/usr/bin/env bash
# Syscalls per op (a round trip; a job for ts*) of the cross-thread workloads, all threads
# together, for each side: runs the `syscalls` bench binary under
# `strace -c -f` with N round trips and with 0, and prints
# (calls at N - calls at 0) / N for every syscall that moved.
#
#   benches/strace-per-op.sh [N=10000] [PLACEMENT=2cpu] [CASE...]
#   TOOL=perf benches/strace-per-op.sh ...
#
# CASE defaults to all six: {evloop,tokio,tokio_noio}-{rtt,exec}. The raw
# summaries are left in $OUT (default target/strace).
#
# strace stops every thread at every syscall, which slows each by tens of
# microseconds and so changes which races are won (a thread that would
# have found work before blocking now blocks). TOOL=perf counts with the
# `syscalls:sys_enter_*` tracepoints instead (`perf stat`), which do not
# stop anything: the counts of an undisturbed run.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
placement=${2:-2cpu}
shift $(($# < 2 ? $# : 2))
cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=(evloop-rtt tokio-rtt tokio_noio-rtt evloop-exec tokio-exec tokio_noio-exec)
out=${OUT:-target/strace}
mkdir -p "$out"

bin=$(cargo bench -p evloop-benches --bench syscalls --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*syscalls-[^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "syscalls bench binary not found" >&2; exit 1; }

tool=${TOOL:-strace}
# A summary → "syscall calls" lines.
calls() {
    if [ "$tool" = perf ]; then
        awk -F, '$3 ~ /^syscalls:sys_enter_/ && $1 + 0 > 0 {sub("syscalls:sys_enter_", "", $3); print $3, $1}' "$1"
    else
        awk '/^------/ {sep++; next} sep == 1 && NF >= 5 {print $NF, $4}' "$1"
    fi
}

for case in "${cases[@]}"; do
    for k in 0 "$n"; do
        f="$out/$tool-$case-$placement-$k.txt"
        if [ "$tool" = perf ]; then
            perf stat -x, -e 'syscalls:sys_enter_*' -o "$f" "$bin" "$case" "$k" "$placement" 2>/dev/null
        else
            strace -c -f -o "$f" "$bin" "$case" "$k" "$placement" 2>/dev/null
        fi
    done
    echo "== $case ($placement, $tool): syscalls per op (round trip; job for ts*), (calls at N=$n - calls at N=0) / $n"
    join -a1 -a2 -e0 -o 0,1.2,2.2 \
        <(calls "$out/$tool-$case-$placement-0.txt" | sort) \
        <(calls "$out/$tool-$case-$placement-$n.txt" | sort) |
        awk -v n="$n" '{d = ($3 - $2) / n; if (d >= 0.005 || d <= -0.005) {printf "  %-16s %6.2f\n", $1, d; t += d}} END {printf "  %-16s %6.2f\n", "total", t}'
done
