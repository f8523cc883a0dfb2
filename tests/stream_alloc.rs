//! A `StreamReader` allocates its buffer when the first data arrives, not
//! when it starts waiting: a server's connections that have sent nothing
//! yet hold no read buffer. A binary of its own: it watches every
//! allocation of the process with a counting global allocator.

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use evloop::net::{StreamReader, TcpListener, TcpStream};
use evloop::EventLoop;

/// Allocations of at least this many bytes are counted: the reader's
/// first buffer is 8 KiB, and nothing else the loop does while a task
/// waits on a socket allocates as much.
const BIG: usize = 4 * 1024;

static BIG_ALLOCS: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= BIG {
            BIG_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn big_allocs() -> usize {
    BIG_ALLOCS.load(Ordering::Relaxed)
}

#[test]
fn a_reader_waiting_for_its_first_bytes_holds_no_buffer() {
    let lp = EventLoop::new();
    util::watchdog_local(|| {
        lp.run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(&listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let (read, _write) = server.into_split();
            let waiting = Rc::new(Cell::new(false));
            let before = big_allocs();
            let reader = evloop::ensure_future({
                let waiting = waiting.clone();
                async move {
                    let mut reader = StreamReader::new(read);
                    waiting.set(true);
                    let n = reader.fill().await.unwrap();
                    (n, reader.buffer().to_vec())
                }
            });
            while !waiting.get() {
                evloop::yield_now().await;
            }
            evloop::yield_now().await; // one more turn for the reader, still waiting
            assert!(!reader.done(), "no data was sent: the reader waits");
            assert_eq!(big_allocs() - before, 0, "no buffer before the first byte");

            client.write_all(b"hello").await.unwrap();
            let (n, data) = reader.await.unwrap();
            assert_eq!((n, &data[..]), (5, &b"hello"[..]));
            assert_eq!(big_allocs() - before, 1, "the buffer came with the data");
        })
    })
    .unwrap();
}
