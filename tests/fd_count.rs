//! No fd leaks: thousands of connections opened and dropped leave the
//! process with the fds it had before. A test binary of its own, with one
//! test, so no other test opens or closes fds meanwhile.

mod util;

use evloop::net::{TcpListener, TcpStream, UnixStream};
use evloop::EventLoop;

const TCP_CYCLES: usize = 10_000;
const UNIX_CYCLES: usize = 1_000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// One TCP connection: accepted on the loop while the client connects,
/// a byte each way, then both ends dropped.
async fn tcp_cycle(listener: &TcpListener, addr: std::net::SocketAddr) {
    let client = evloop::ensure_future(async move {
        let stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(b"c").await.unwrap();
        let mut buf = [0u8; 1];
        stream.read_exact(&mut buf).await.unwrap();
    });
    let (server, _) = listener.accept().await.unwrap();
    let mut buf = [0u8; 1];
    server.read_exact(&mut buf).await.unwrap();
    server.write_all(b"s").await.unwrap();
    client.await.unwrap();
}

async fn unix_cycle() {
    let (a, b) = UnixStream::pair().unwrap();
    a.write_all(b"x").await.unwrap();
    let mut buf = [0u8; 1];
    b.read_exact(&mut buf).await.unwrap();
}

#[test]
fn connect_close_cycles_leak_no_fds() {
    let before = open_fds();
    {
        let lp = EventLoop::new();
        let done = util::watchdog_local(|| {
            lp.run_until_complete(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                for _ in 0..TCP_CYCLES {
                    tcp_cycle(&listener, addr).await;
                }
                for _ in 0..UNIX_CYCLES {
                    unix_cycle().await;
                }
                true
            })
        });
        assert!(done.unwrap());
        lp.close().unwrap();
    }
    assert_eq!(
        open_fds(),
        before,
        "every socket (and the loop's own fds) closed"
    );
}
