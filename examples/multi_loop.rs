//! Scaling past one core, shared-nothing: N event loops on N threads serve
//! one TCP echo port (see docs/scaling.md).
//!
//! - default: every loop binds the same address with its own listener,
//!   made by `TcpSocket` with `set_reuseport(true)`; `SO_REUSEPORT` lets
//!   the kernel spread incoming connections over the listeners. (Port
//!   sharing is opt-in: a plain `TcpListener::bind` of a port in use fails
//!   with `AddrInUse`, so no other server can join by accident);
//! - `--acceptor`: one thread accepts with blocking std and hands each
//!   `std::net::TcpStream` to a loop, round-robin, through
//!   `LoopHandle::call_soon_threadsafe`; the loop wraps it with
//!   `TcpStream::from_std` and serves it in a task.
//!
//! `--bench SECONDS` runs a built-in loopback client (one thread, blocking
//! std sockets, 32 connections with one 64-byte message in flight on each)
//! for that long and prints the round trips per second.
//!
//! ```text
//! cargo run --release --example multi_loop -- [N] [--acceptor] [--addr ADDR] [--bench SECONDS]
//! cargo run --release --example multi_loop -- 1 --bench 5
//! cargo run --release --example multi_loop -- 2 --acceptor --bench 5
//! ```

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use evloop::net::{TcpListener, TcpSocket, TcpStream};
use evloop::{EventLoop, LoopHandle};

/// Client connections in `--bench` mode.
const CONNECTIONS: usize = 32;
/// Bytes per round trip in `--bench` mode.
const MESSAGE: usize = 64;

struct Args {
    loops: usize,
    acceptor: bool,
    addr: String,
    bench: Option<Duration>,
}

fn parse_args() -> Args {
    let mut args = Args {
        loops: std::thread::available_parallelism().map_or(1, |n| n.get()),
        acceptor: false,
        addr: String::new(),
        bench: None,
    };
    let mut addr = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--acceptor" => args.acceptor = true,
            "--addr" => addr = Some(it.next().unwrap_or_else(|| usage("--addr needs a value"))),
            "--bench" => {
                let secs: f64 = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage("--bench needs a number of seconds"));
                args.bench = Some(Duration::from_secs_f64(secs));
            }
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => args.loops = n,
                _ => usage(&format!("unexpected argument {n:?}")),
            },
        }
    }
    // A benchmark picks a free port; a server defaults to a fixed one.
    args.addr = addr.unwrap_or_else(|| {
        if args.bench.is_some() {
            "127.0.0.1:0"
        } else {
            "127.0.0.1:7001"
        }
        .to_string()
    });
    args
}

fn usage(problem: &str) -> ! {
    eprintln!("multi_loop: {problem}");
    eprintln!("usage: multi_loop [N] [--acceptor] [--addr ADDR] [--bench SECONDS]");
    std::process::exit(2);
}

/// Echoes until the peer closes (or an error).
async fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A listener on `addr` that shares its port with the other loops'
/// listeners: every one of them sets `SO_REUSEPORT` before binding.
/// `SO_REUSEADDR` too, as `TcpListener::bind` sets it, so that a restarted
/// server can bind a port its old connections hold in `TIME_WAIT`.
fn listen_shared(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_for_addr(addr)?;
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// What each loop thread reports back once it is up.
struct Started {
    handle: LoopHandle,
    addr: Option<SocketAddr>,
}

/// Starts loop thread `index`; with `listen`, it binds that address with
/// `SO_REUSEPORT` (`listen_shared`) and accepts on its own listener. It
/// counts the connections it serves in `served[index]` and reports its
/// handle (and bound address) on `started`.
fn spawn_loop(
    index: usize,
    listen: Option<SocketAddr>,
    served: Arc<Vec<AtomicUsize>>,
    started: mpsc::Sender<std::io::Result<Started>>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("loop-{index}"))
        .spawn(move || {
            let lp = EventLoop::new();
            let handle = lp.handle();
            let Some(addr) = listen else {
                // Acceptor mode: connections arrive as threadsafe jobs.
                let _ = started.send(Ok(Started { handle, addr: None }));
                lp.run_forever().unwrap();
                return;
            };
            // Detached: dropping the `Task` leaves it running.
            drop(lp.ensure_future(async move {
                let listener = match listen_shared(addr) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = started.send(Err(e));
                        return;
                    }
                };
                let local = listener.local_addr().ok();
                let _ = started.send(Ok(Started {
                    handle,
                    addr: local,
                }));
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => {
                            served[index].fetch_add(1, Ordering::Relaxed);
                            drop(evloop::ensure_future(serve(stream)));
                        }
                        Err(e) => eprintln!("loop-{index}: accept: {e}"),
                    }
                }
            }));
            lp.run_forever().unwrap();
        })
        .expect("spawn a loop thread")
}

fn main() {
    let args = parse_args();
    let served: Arc<Vec<AtomicUsize>> =
        Arc::new((0..args.loops).map(|_| AtomicUsize::new(0)).collect());
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    let mut handles = Vec::new();
    let addr: SocketAddr;
    let mut acceptor = None;

    if args.acceptor {
        for i in 0..args.loops {
            threads.push(spawn_loop(i, None, served.clone(), tx.clone()));
            handles.push(rx.recv().unwrap().unwrap().handle);
        }
        let listener = std::net::TcpListener::bind(&args.addr).unwrap_or_else(|e| fail(&e));
        addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s, st) = (handles.clone(), served.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || accept_round_robin(listener, h, s, st))
            .unwrap();
        acceptor = Some((thread, stop));
    } else {
        // The first loop binds (port 0 becomes a real port); the others bind
        // that same address, next to it. A host name is looked up here, on
        // the main thread, before any loop runs.
        let first_addr = resolve(&args.addr).unwrap_or_else(|e| fail(&e));
        threads.push(spawn_loop(0, Some(first_addr), served.clone(), tx.clone()));
        let first = rx.recv().unwrap().unwrap_or_else(|e| fail(&e));
        addr = first.addr.unwrap();
        handles.push(first.handle);
        for i in 1..args.loops {
            threads.push(spawn_loop(i, Some(addr), served.clone(), tx.clone()));
            handles.push(rx.recv().unwrap().unwrap_or_else(|e| fail(&e)).handle);
        }
    }
    let mode = if args.acceptor {
        "one acceptor thread"
    } else {
        "SO_REUSEPORT"
    };
    println!("{} loop(s), {mode}, echo on {addr}", args.loops);

    let Some(duration) = args.bench else {
        for t in threads {
            let _ = t.join(); // serve until killed
        }
        return;
    };

    let (trips, elapsed) = bench_client(addr, duration);
    let rate = trips as f64 / elapsed.as_secs_f64();
    let spread: Vec<usize> = served.iter().map(|n| n.load(Ordering::Relaxed)).collect();
    println!(
        "{} loop(s), {mode}: {trips} round trips of {MESSAGE} B in {:.2} s over {CONNECTIONS} connections = {rate:.0} round trips/s; connections per loop {spread:?}",
        args.loops,
        elapsed.as_secs_f64(),
    );

    if let Some((thread, stop)) = acceptor {
        stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(addr); // wake the blocking accept
        thread.join().unwrap();
    }
    for h in &handles {
        let _ = h.stop();
    }
    for t in threads {
        t.join().unwrap();
    }
}

/// The first address `addr` (an `IP:PORT` or a `HOST:PORT`) names.
fn resolve(addr: &str) -> std::io::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("no address for {addr}"),
        )
    })
}

/// The `--acceptor` thread: blocking accepts, each connection handed to the
/// next loop.
fn accept_round_robin(
    listener: std::net::TcpListener,
    handles: Vec<LoopHandle>,
    served: Arc<Vec<AtomicUsize>>,
    stop: Arc<AtomicBool>,
) {
    for (i, conn) in listener.incoming().enumerate() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let std_stream = match conn {
            Ok(s) => s,
            Err(e) => {
                eprintln!("acceptor: {e}");
                continue;
            }
        };
        let index = i % handles.len();
        served[index].fetch_add(1, Ordering::Relaxed);
        // Runs on loop `index`'s thread, inside its iteration: there the
        // std stream becomes an evloop stream registered with that loop.
        let sent =
            handles[index].call_soon_threadsafe(move || match TcpStream::from_std(std_stream) {
                Ok(stream) => drop(evloop::ensure_future(serve(stream))),
                Err(e) => eprintln!("loop-{index}: from_std: {e}"),
            });
        if sent.is_err() {
            return; // the loop is closed: shutting down
        }
    }
}

/// The loopback client: one thread, `CONNECTIONS` blocking sockets, one
/// `MESSAGE`-byte message in flight on each (write to all, then read all
/// back). Returns the round trips done and the time taken.
fn bench_client(addr: SocketAddr, duration: Duration) -> (u64, Duration) {
    std::thread::spawn(move || {
        let mut conns: Vec<std::net::TcpStream> = (0..CONNECTIONS)
            .map(|_| {
                let s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| fail(&e));
                s.set_nodelay(true).unwrap();
                s
            })
            .collect();
        let msg = [0x5au8; MESSAGE];
        let mut back = [0u8; MESSAGE];
        // Warm up (connections accepted and registered everywhere).
        let mut round = |conns: &mut [std::net::TcpStream]| {
            for c in conns.iter_mut() {
                c.write_all(&msg).unwrap();
            }
            for c in conns.iter_mut() {
                c.read_exact(&mut back).unwrap();
                assert_eq!(back, msg);
            }
        };
        for _ in 0..100 {
            round(&mut conns);
        }
        let start = Instant::now();
        let mut trips = 0u64;
        while start.elapsed() < duration {
            round(&mut conns);
            trips += CONNECTIONS as u64;
        }
        (trips, start.elapsed())
    })
    .join()
    .unwrap()
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("multi_loop: {e}");
    std::process::exit(1);
}
