#!/usr/bin/env bash
# Footprint of evloop beside tokio's current-thread runtime (docs/benchmarks-log.md,
# "Footprint"): dependency counts, clean release build time and release binary
# size of the same echo server, built as two scratch crates outside the repo.
#
#   benches/footprint.sh [RUNS=2]
#
# - evloop-echo: examples/echo_server.rs of this checkout, evloop by path;
#   measured with evloop's default features and with --no-default-features.
# - tokio-echo: benches/footprint/tokio_echo.rs, the same server on tokio with
#   only the features it needs: rt, net, io-util, macros (current_thread).
#
# Counts are normal dependencies only (`cargo tree -e normal`; proc-macro
# crates count, build-dependencies do not) of the runtime crate, with the
# features the scratch crate gives it, without the runtime crate itself:
# "direct" its own dependencies, "total" the unique packages of its tree.
# Each build: `cargo clean`, then `cargo build --release -j$JOBS` timed, wall
# and CPU (crates already fetched: no download in the time), in a target dir
# of its own. Sizes: the binary as
# built (release keeps symbols; rustc's default release profile strips
# debuginfo only) and after `strip` of a copy. Scratch dir: $WORK, default a
# fresh mktemp -d, removed at the end unless KEEP=1.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-2}
jobs=${JOBS:-2}
work=${WORK:-$(mktemp -d /tmp/footprint.XXXXXX)}
mkdir -p "$work"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

mkdir -p "$work/evloop-echo/src" "$work/tokio-echo/src"
cp "$repo/examples/echo_server.rs" "$work/evloop-echo/src/main.rs"
cp "$repo/benches/footprint/tokio_echo.rs" "$work/tokio-echo/src/main.rs"
cat >"$work/evloop-echo/Cargo.toml" <<TOML
[package]
name = "evloop-echo"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
evloop = { path = "$repo", default-features = false }

# evloop's default features pass through, so --no-default-features here
# builds evloop without them.
[features]
default = ["evloop/default"]

[workspace]
TOML
cat >"$work/tokio-echo/Cargo.toml" <<'TOML'
[package]
name = "tokio-echo"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
tokio = { version = "1", features = ["rt", "net", "io-util", "macros"] }

[workspace]
TOML

# Normal dependencies of the scratch crate's one dependency (the runtime):
# prints "DIRECT TOTAL". With `--prefix depth`, 0 is the scratch crate, 1 the
# runtime, 2 the runtime's direct dependencies; "(*)" marks a repeat.
deps() {
    cargo tree -q "$@" -e normal --prefix depth | awk '
        { d = $0; sub(/[^0-9].*/, "", d); n = substr($0, length(d) + 1); sub(/ \(\*\)$/, "", n) }
        d == 2 { direct[n] = 1 }
        d >= 2 { total[n] = 1 }
        END { printf "%d %d\n", length(direct), length(total) }'
}

# name dir [cargo flags...]: one table row.
measure() {
    local name=$1 dir=$2
    shift 2
    local target="$work/target-$name" wall=() cpu=() t
    (cd "$dir" && cargo fetch -q)
    local direct total
    read -r direct total < <(cd "$dir" && deps "$@")
    for _ in $(seq "$runs"); do
        (cd "$dir" && CARGO_TARGET_DIR=$target cargo clean -q)
        # bash's `time`: wall, then user + system CPU of cargo and rustc.
        t=$( { TIMEFORMAT='%R %U %S'; time (cd "$dir" &&
            CARGO_TARGET_DIR=$target cargo build -q --release -j"$jobs" "$@" 2>"$target.log" ||
            { cat "$target.log" >&2; exit 1; }); } 2>&1)
        wall+=("$(echo "$t" | awk '{ printf "%.1f", $1 }')")
        cpu+=("$(echo "$t" | awk '{ printf "%.1f", $2 + $3 }')")
    done
    local bin
    bin="$target/release/$(basename "$dir")"
    cp "$bin" "$bin.stripped"
    strip "$bin.stripped"
    local IFS=/ # joins the runs' times
    printf '| %s | %s | %s | %s | %s | %s / %s |\n' "$name" "$direct" "$total" "${wall[*]}" "${cpu[*]}" \
        $(($(stat -c %s "$bin") / 1024)) $(($(stat -c %s "$bin.stripped") / 1024))
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$repo" rev-parse --short HEAD)"
echo "# $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(nproc) cpus, kernel $(uname -r)"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(cargo --version); $(rustc --version)"
row_e=$(measure "evloop" "$work/evloop-echo")
row_n=$(measure "evloop --no-default-features" "$work/evloop-echo" --no-default-features)
row_t=$(measure "tokio (rt, net, io-util, macros)" "$work/tokio-echo")
echo "# $(cd "$work/tokio-echo" && cargo tree -q -e normal --depth 1 --prefix none | grep '^tokio ')"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| | direct deps | total deps | clean build wall, s ($runs runs) | build CPU user+sys, s | binary KiB (unstripped / stripped) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "$row_e" "$row_n" "$row_t"
