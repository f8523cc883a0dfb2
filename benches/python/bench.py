"""evloop's `cargo compare` workloads on Python's asyncio and on uvloop.

The same workloads as benches/src/ (tasks.rs, timers.rs, xthread.rs,
net.rs), written as a performance-minded asyncio user would write them:
callbacks with loop.call_soon / call_later / call_soon_threadsafe, tasks
with loop.create_task, and protocols (not streams) for the echo. Each
repetition builds a fresh loop and times the work inside it; the two loops
alternate, asyncio first in even repetitions and uvloop first in odd ones.

    benches/python/setup.sh                        # .venv with uvloop
    benches/python/.venv/bin/python benches/python/bench.py [--quick]
        [--reps N] [--json PATH] [--list] [FILTER...]

Without uvloop installed, only asyncio runs. Results: docs/benchmarks-log.md,
section "Against Python (asyncio, uvloop)".
"""

import argparse
import asyncio
import datetime
import gc
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time

try:
    import uvloop
except ImportError:
    uvloop = None

# Counts: (full, quick). The full ones are the Rust tool's (`cargo compare`),
# and so are the quick ones (`--quick`) except for the timers: 20,000 here
# against 100,000 there, which keeps this --quick run well under a minute.
COUNTS = {
    "call_soon": (1_000_000, 200_000),
    "spawn_join": (1_000_000, 100_000),
    "timers_random": (1_000_000, 20_000),
    "threadsafe_1p": (1_000_000, 200_000),
    "tcp_echo_1": (100_000, 10_000),
}
TIMERS_MAX_MS = 100  # longest random timer, as in the Rust tool
SEED = 0x5EED_0F71_13E5  # the Rust tool's seed: the same delays
MSG = b"\x07" * 64  # one echo message
MASK64 = (1 << 64) - 1


def random_delays(n, max_ms=TIMERS_MAX_MS, seed=SEED):
    """The Rust tool's `random_delays`: n delays uniform in 0..=max_ms ms at
    microsecond resolution (xorshift64*), in seconds."""
    x, top, out = seed, max_ms * 1000 + 1, []
    for _ in range(n):
        x ^= x >> 12
        x ^= (x << 25) & MASK64
        x ^= x >> 27
        out.append(((x * 0x2545_F491_4F6C_DD1D) & MASK64) % top / 1e6)
    return out


# ---- the workloads ---------------------------------------------------------
# Each takes a fresh loop and a count (the timer ones: the delays) and returns
# the seconds the work took.


def call_soon(loop, n):
    """n callbacks bumping a counter, queued with call_soon before the loop
    runs, then run_forever until a final loop.stop callback."""
    count = 0

    def bump():
        nonlocal count
        count += 1

    start = time.perf_counter()
    for _ in range(n):
        loop.call_soon(bump)
    loop.call_soon(loop.stop)
    loop.run_forever()
    elapsed = time.perf_counter() - start
    assert count == n
    return elapsed


async def _nothing():
    """The trivial task of spawn_join."""


def spawn_join(loop, n):
    """n trivial tasks made with loop.create_task, then each awaited."""

    async def main():
        start = time.perf_counter()
        tasks = [loop.create_task(_nothing()) for _ in range(n)]
        for task in tasks:
            await task
        return time.perf_counter() - start

    return loop.run_until_complete(main())


def timers_random_cb(loop, delays):
    """A loop.call_later callback per delay, bumping a counter; the last
    one to run stops the loop."""
    n, count = len(delays), 0

    def bump():
        nonlocal count
        count += 1
        if count == n:
            loop.stop()

    start = time.perf_counter()
    for d in delays:
        loop.call_later(d, bump)
    loop.run_forever()
    return time.perf_counter() - start


def timers_random(loop, delays):
    """A task per delay sleeping in asyncio.sleep(d); each awaited."""

    async def main():
        start = time.perf_counter()
        tasks = [loop.create_task(asyncio.sleep(d)) for d in delays]
        for task in tasks:
            await task
        return time.perf_counter() - start

    return loop.run_until_complete(main())


def threadsafe_1p(loop, n):
    """n jobs from one producer thread via call_soon_threadsafe, each
    counting itself on the loop's thread; the last stops the loop. Timed
    from the barrier both threads pass until run_forever returns."""
    count = 0
    barrier = threading.Barrier(2)

    def job(payload):
        nonlocal count
        count += 1
        if count == n:
            loop.stop()

    def produce():
        barrier.wait()
        for i in range(n):
            loop.call_soon_threadsafe(job, i)

    producer = threading.Thread(target=produce)
    producer.start()
    barrier.wait()
    start = time.perf_counter()
    loop.run_forever()
    elapsed = time.perf_counter() - start
    producer.join()
    assert count == n
    return elapsed


class EchoServer(asyncio.Protocol):
    """Writes back whatever it receives."""

    def __init__(self, accepted):
        """accepted: a future set once the connection is made."""
        self.accepted = accepted

    def connection_made(self, transport):
        """Keeps the transport, turns TCP_NODELAY on, reports the accept."""
        self.transport = transport
        _nodelay(transport)
        self.accepted.set_result(None)

    def data_received(self, data):
        """Echoes data."""
        self.transport.write(data)


class EchoClient(asyncio.Protocol):
    """Sends MSG, waits for its 64 bytes back, n times; then sets done."""

    def __init__(self, n, done):
        """n round trips; done: the future set after the last one."""
        self.left, self.done, self.got = n, done, 0

    def connection_made(self, transport):
        """Keeps the transport and turns TCP_NODELAY on."""
        self.transport = transport
        _nodelay(transport)

    def send(self):
        """Starts the next round trip."""
        self.transport.write(MSG)

    def data_received(self, data):
        """Counts echoed bytes; a full message ends a round trip."""
        self.got += len(data)
        if self.got < len(MSG):
            return
        self.got -= len(MSG)
        self.left -= 1
        if self.left:
            self.send()
        else:
            self.done.set_result(None)


def _nodelay(transport):
    """TCP_NODELAY on the transport's socket (asyncio and uvloop set it on
    TCP transports already; the Rust side sets it explicitly, so do we)."""
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def tcp_echo_1(loop, n):
    """n sequential 64-byte round trips on one loopback connection to an
    echo server on the same loop; protocols on both sides. The connection
    is made before the clock starts."""

    async def main():
        accepted, done = loop.create_future(), loop.create_future()
        server = await loop.create_server(
            lambda: EchoServer(accepted), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        transport, client = await loop.create_connection(
            lambda: EchoClient(n, done), "127.0.0.1", port
        )
        await accepted
        start = time.perf_counter()
        client.send()
        await done
        elapsed = time.perf_counter() - start
        transport.close()
        server.close()
        await server.wait_closed()
        return elapsed

    return loop.run_until_complete(main())


# ---- the table of workloads -------------------------------------------------

# name: (unit, better, count key, run(loop, count) -> value)
WORKLOADS = {
    "spawn_join": (
        "ns/task", "lower", "spawn_join",
        lambda loop, n: spawn_join(loop, n) / n * 1e9,
    ),
    "call_soon": (
        "ns/callback", "lower", "call_soon",
        lambda loop, n: call_soon(loop, n) / n * 1e9,
    ),
    "timers_random": (
        "ms overhead", "lower", "timers_random",
        lambda loop, n: _overhead_ms(timers_random, loop, n),
    ),
    "timers_random_cb": (
        "ms overhead", "lower", "timers_random",
        lambda loop, n: _overhead_ms(timers_random_cb, loop, n),
    ),
    "threadsafe_1p": (
        "ns/job", "lower", "threadsafe_1p",
        lambda loop, n: threadsafe_1p(loop, n) / n * 1e9,
    ),
    "tcp_echo_1": (
        "round trips/s", "higher", "tcp_echo_1",
        lambda loop, n: n / tcp_echo_1(loop, n),
    ),
}

_delays = {}


def _overhead_ms(workload, loop, n):
    """Runs a timer workload on n random delays (made once per n) and
    returns its time beyond the longest delay, in milliseconds."""
    if n not in _delays:
        _delays[n] = random_delays(n)
    delays = _delays[n]
    return (workload(loop, delays) - max(delays)) * 1e3


def loop_factories():
    """The loops to compare: name -> a function making a fresh one."""
    loops = {"asyncio": asyncio.new_event_loop}
    if uvloop is not None:
        loops["uvloop"] = uvloop.new_event_loop
    return loops


def measure(run, new_loop, n, no_gc=False):
    """One repetition on a fresh loop (set as the current one, closed
    after); garbage collected before, outside the clock. no_gc: the cyclic
    garbage collector is off during the repetition."""
    gc.collect()
    loop = new_loop()
    asyncio.set_event_loop(loop)
    if no_gc:
        gc.disable()
    try:
        return run(loop, n)
    finally:
        gc.enable()
        asyncio.set_event_loop(None)
        loop.close()


def run_all(names, quick, reps, no_gc=False):
    """Every workload in names, reps times per loop, alternating the loops;
    returns a record per workload, as the Rust tool's JSON has them."""
    loops = loop_factories()
    records = []
    for name in names:
        unit, better, key, run = WORKLOADS[name]
        n = COUNTS[key][1 if quick else 0]
        values = {impl: [] for impl in loops}
        started = time.perf_counter()
        for rep in range(reps):
            order = list(loops) if rep % 2 == 0 else list(loops)[::-1]
            for impl in order:
                values[impl].append(measure(run, loops[impl], n, no_gc))
        record = {"workload": name, "unit": unit, "better": better,
                  "count": n, "gc": "off" if no_gc else "on"}
        for impl, vals in values.items():
            record[impl] = vals
        for impl, vals in values.items():
            record[impl + "_median"] = statistics.median(vals)
        if "uvloop" in values:
            a, u = record["asyncio_median"], record["uvloop_median"]
            record["ratio"] = a / u if better == "lower" else u / a
        record["extra"] = {}
        records.append(record)
        medians = "  ".join(
            f"{impl} {fmt(record[impl + '_median'])}" for impl in loops
        )
        print(
            f"{name:<18} {medians} {unit}  (n = {n:,}, "
            f"{time.perf_counter() - started:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    return records


# ---- output ---------------------------------------------------------------


def fmt(v):
    """A figure with about three significant digits, thousands separated."""
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def table(records):
    """The records as a Markdown table: medians, min-max, uvloop's ratio."""
    impls = [i for i in ("asyncio", "uvloop") if records and i in records[0]]
    head = ["workload", "unit", "count"] + impls
    head += [f"{i} min–max" for i in impls]
    if "uvloop" in impls:
        head.append("uvloop vs asyncio")
    rows = []
    for r in records:
        arrow = "↓" if r["better"] == "lower" else "↑"
        row = [f"`{r['workload']}`", f"{r['unit']} {arrow}", f"{r['count']:,}"]
        row += [fmt(r[i + "_median"]) for i in impls]
        row += [f"{fmt(min(r[i]))}–{fmt(max(r[i]))}" for i in impls]
        if "ratio" in r:
            row.append(f"{r['ratio']:.2f}")
        rows.append(row)
    widths = [max(len(c) for c in col) for col in zip(head, *rows)]
    lines = []
    for cells in [head, None] + rows:
        if cells is None:
            cells = ["-" * w if i < 2 else "-" * (w - 1) + ":"
                     for i, w in enumerate(widths)]
        else:
            cells = [c.ljust(w) if i < 2 else c.rjust(w)
                     for i, (c, w) in enumerate(zip(cells, widths))]
        lines.append("| " + " | ".join(cells) + " |")
    note = "\n\nMedians; ↓ lower is better, ↑ higher is better"
    if "uvloop" in impls:
        note += "; uvloop vs asyncio > 1: uvloop better"
    return "\n".join(lines) + note + "."


def machine():
    """CPU model, cores, kernel, Python and uvloop versions, date."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    date = datetime.datetime.now(datetime.timezone.utc)
    return "\n".join([
        f"machine: {cpu} ({os.cpu_count()} cores), kernel {platform.release()}",
        f"python: {platform.python_implementation()} "
        f"{platform.python_version()} ({sys.executable})",
        f"uvloop: {uvloop.__version__ if uvloop else 'not installed'}",
        f"date: {date:%Y-%m-%d %H:%M} UTC",
    ])


def main():
    """Parses the command line, runs, prints, writes the JSON."""
    p = argparse.ArgumentParser(
        description="evloop's compare workloads on asyncio and uvloop."
    )
    p.add_argument("--quick", action="store_true",
                   help="small counts (the whole run well under a minute)")
    p.add_argument("--reps", type=int, default=5,
                   help="repetitions per loop (default 5)")
    p.add_argument("--no-gc", action="store_true",
                   help="turn the cyclic garbage collector off while a "
                   "repetition runs (default: on, as Python runs)")
    p.add_argument("--json", metavar="PATH",
                   help="write every repetition's value as a JSON array")
    p.add_argument("--list", action="store_true",
                   help="list the workloads and exit")
    p.add_argument("filters", nargs="*", metavar="FILTER",
                   help="run only workloads whose name contains a FILTER")
    args = p.parse_args()
    if args.list:
        for name, (unit, *_rest) in WORKLOADS.items():
            print(f"{name:<18} {unit}")
        return 0
    if args.reps < 1:
        p.error("--reps must be at least 1")
    names = [w for w in WORKLOADS
             if not args.filters or any(f in w for f in args.filters)]
    if not names:
        p.error(f"no workload matches {args.filters}; --list lists them")
    print(machine())
    print(f"size: {'quick' if args.quick else 'full'}, {args.reps} "
          "repetitions per loop, alternating, fresh loop each; garbage "
          f"collector {'off' if args.no_gc else 'on'}\n", flush=True)
    records = run_all(names, args.quick, args.reps, args.no_gc)
    print(table(records))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
            f.write("\n")
        print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
