//! asyncio-style streams over real loopback connections: lines, delimited
//! records and frames, EOF, the buffer limit, cancel safety, the server and
//! client helpers, and the futures-io traits.

mod util;

use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use evloop::net::{
    open_connection, start_server, start_server_on, Server, StreamReader, StreamWriter,
    TcpListener, TcpSocket, TcpStream,
};

/// Runs `f` on a fresh real-time loop, failing instead of hanging.
fn run<F: Future + 'static>(f: F) -> F::Output {
    util::watchdog_local(|| evloop::run(f)).unwrap()
}

/// A loopback connection: the client's stream, and a reader and writer on
/// the server's end.
async fn connection() -> (TcpStream, StreamReader, StreamWriter) {
    connection_with_limit(evloop::net::DEFAULT_LIMIT).await
}

async fn connection_with_limit(limit: usize) -> (TcpStream, StreamReader, StreamWriter) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(&listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let (read, write) = server.into_split();
    let reader = StreamReader::with_limit(read, limit);
    (client, reader, StreamWriter::new(write))
}

/// Writes `data` in `chunk`-byte pieces, letting the loop (and so the
/// reader) run between them, then shuts the write side down.
async fn trickle(client: TcpStream, data: Vec<u8>, chunk: usize) {
    client.set_nodelay(true).unwrap();
    for piece in data.chunks(chunk) {
        client.write_all(piece).await.unwrap();
        evloop::sleep(Duration::from_millis(1)).await;
    }
    client.shutdown(std::net::Shutdown::Write).unwrap();
}

#[test]
fn read_line_reassembles_lines_split_across_many_small_writes() {
    run(async {
        let (client, mut reader, _writer) = connection().await;
        let text: Vec<u8> = (0..40)
            .flat_map(|i| format!("line number {i}\n").into_bytes())
            .collect();
        let sender = evloop::ensure_future(trickle(client, text, 3));
        for i in 0..40 {
            let line = reader.read_line().await.unwrap();
            assert_eq!(line, format!("line number {i}\n").into_bytes());
        }
        assert_eq!(reader.read_line().await.unwrap(), b"", "EOF");
        assert!(reader.at_eof());
        sender.await.unwrap();
    });
}

#[test]
fn read_until_finds_a_multi_byte_delimiter_split_between_writes() {
    run(async {
        let (client, mut reader, _writer) = connection().await;
        // Sent a byte at a time, so every delimiter straddles reads.
        let data = b"HEAD 1\r\nA: b\r\n\r\nHEAD 2\r\n\r\ntail".to_vec();
        let sender = evloop::ensure_future(trickle(client, data, 1));
        let first = reader.read_until(b"\r\n\r\n").await.unwrap();
        assert_eq!(first, b"HEAD 1\r\nA: b\r\n\r\n");
        let second = reader.read_until(b"\r\n\r\n").await.unwrap();
        assert_eq!(second, b"HEAD 2\r\n\r\n");
        assert_eq!(reader.read_exact(4).await.unwrap(), b"tail");
        sender.await.unwrap();
    });
}

#[test]
fn at_eof_read_line_returns_the_last_partial_line_then_empty() {
    run(async {
        let (client, mut reader, _writer) = connection().await;
        client.write_all(b"one\nlast").await.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(reader.read_line().await.unwrap(), b"one\n");
        assert!(!reader.at_eof());
        assert_eq!(reader.read_line().await.unwrap(), b"last");
        assert!(reader.at_eof());
        assert_eq!(reader.read_line().await.unwrap(), b"");
        let mut buf = [0u8; 8];
        assert_eq!(reader.read(&mut buf).await.unwrap(), 0);
    });
}

#[test]
fn read_until_and_read_exact_at_eof_fail_and_keep_the_partial_data() {
    run(async {
        let (client, mut reader, _writer) = connection().await;
        client.write_all(b"abc").await.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let err = reader.read_until(b";").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        assert_eq!(reader.buffer(), b"abc", "the partial record is kept");
        let err = reader.read_exact(10).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        assert_eq!(reader.buffer(), b"abc");
        assert!(!reader.at_eof(), "data is still buffered");
        assert_eq!(reader.read_exact(3).await.unwrap(), b"abc");
        assert!(reader.at_eof());
    });
}

#[test]
fn a_line_longer_than_the_limit_is_invalid_data_and_the_buffer_stays_bounded() {
    const LIMIT: usize = 1024;
    const TOTAL: usize = 256 * 1024;
    run(async {
        let (client, mut reader, _writer) = connection_with_limit(LIMIT).await;
        // A line of exactly the limit (newline included) is fine.
        let mut fits = vec![b'x'; LIMIT - 1];
        fits.push(b'\n');
        client.write_all(&fits).await.unwrap();
        assert_eq!(reader.read_line().await.unwrap(), fits);
        // Then one that never ends.
        let sender = evloop::ensure_future(async move {
            client.write_all(&vec![b'y'; TOTAL]).await.unwrap();
            client.shutdown(std::net::Shutdown::Write).unwrap();
        });
        for _ in 0..2 {
            let err = reader.read_line().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidData);
            assert_eq!(
                reader.buffer().len(),
                LIMIT,
                "no more than the limit is buffered"
            );
        }
        // Nothing was lost: the rest is still there to read.
        let mut total = reader.buffer().len();
        reader.consume(total);
        let mut buf = vec![0u8; 4096];
        loop {
            match reader.read(&mut buf).await.unwrap() {
                0 => break,
                n => total += n,
            }
        }
        assert_eq!(total, TOTAL);
        sender.await.unwrap();
    });
}

#[test]
fn read_exact_reads_frames_larger_than_the_limit() {
    run(async {
        let (client, mut reader, _writer) = connection_with_limit(1024).await;
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut framed = (payload.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&payload);
        framed.extend_from_slice(b"after\n");
        let sender = evloop::ensure_future(trickle(client, framed, 7000));
        let len = reader.read_exact(4).await.unwrap();
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        assert_eq!(reader.read_exact(len).await.unwrap(), payload);
        assert_eq!(reader.read_line().await.unwrap(), b"after\n");
        assert_eq!(reader.read_exact(0).await.unwrap(), b"");
        sender.await.unwrap();
    });
}

#[test]
fn a_read_line_dropped_mid_line_loses_no_bytes() {
    run(async {
        let (client, mut reader, _writer) = connection().await;
        for i in 0..5 {
            let line = format!("line {i} arrives in three pieces\n");
            let mut sent = 0;
            // Two pieces without the newline: each read_line times out
            // part-way through the line, and its future is dropped.
            for end in [6, 20] {
                client.write_all(&line.as_bytes()[sent..end]).await.unwrap();
                sent = end;
                // (Until the piece has arrived: the loopback may lag.)
                while reader.buffer().len() < sent {
                    let timed_out =
                        evloop::wait_for(Duration::from_millis(5), reader.read_line()).await;
                    assert!(timed_out.is_err(), "no newline yet");
                }
                assert_eq!(reader.buffer(), &line.as_bytes()[..sent], "nothing lost");
            }
            client.write_all(&line.as_bytes()[sent..]).await.unwrap();
            assert_eq!(reader.read_line().await.unwrap(), line.as_bytes());
        }
    });
}

#[test]
fn readers_and_writers_also_wrap_a_whole_tcp_stream() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(&listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut writer = StreamWriter::new(client);
        let mut reader = StreamReader::new(server);
        writer.write_all(b"whole\n").await.unwrap();
        writer.shutdown().unwrap();
        assert_eq!(reader.read_line().await.unwrap(), b"whole\n");
        assert_eq!(reader.read_line().await.unwrap(), b"");
    });
}

/// A line echo handler for `start_server`.
async fn echo_lines(mut reader: StreamReader, mut writer: StreamWriter) {
    loop {
        let line = reader.read_line().await.unwrap();
        if line.is_empty() {
            writer.close().unwrap();
            return;
        }
        writer.write_all(&line).await.unwrap();
    }
}

#[test]
fn start_server_echoes_for_concurrent_open_connection_clients() {
    const CLIENTS: usize = 20;
    const LINES: usize = 50;
    run(async {
        let server = start_server("127.0.0.1:0", echo_lines).await.unwrap();
        let addr = server.local_addr();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                evloop::ensure_future(async move {
                    let (mut reader, mut writer) = open_connection(&addr).await.unwrap();
                    assert!(writer.get_ref().peer_addr().unwrap() == addr);
                    for i in 0..LINES {
                        let line = format!("client {c} line {i}\n");
                        writer.write_all(line.as_bytes()).await.unwrap();
                        assert_eq!(reader.read_line().await.unwrap(), line.as_bytes());
                    }
                    writer.shutdown().unwrap();
                    assert_eq!(reader.read_line().await.unwrap(), b"", "server closed");
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
        assert!(server.is_serving());
    });
}

#[test]
fn a_closed_server_stops_accepting_and_serve_forever_returns() {
    run(async {
        let server = Rc::new(start_server("127.0.0.1:0", echo_lines).await.unwrap());
        let addr = server.local_addr();
        let (mut reader, mut writer) = open_connection(&addr).await.unwrap();
        let closer = evloop::ensure_future({
            let server = server.clone();
            async move { server.close() }
        });
        server.serve_forever().await;
        closer.await.unwrap();
        assert!(!server.is_serving());
        // The listener goes when the cancelled accept task next runs.
        evloop::yield_now().await;
        let err = open_connection(&addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        // The connection accepted before the close is still served.
        writer.write_all(b"still here\n").await.unwrap();
        assert_eq!(reader.read_line().await.unwrap(), b"still here\n");
    });
}

#[test]
fn dropping_the_server_stops_accepting() {
    run(async {
        let server = start_server("127.0.0.1:0", echo_lines).await.unwrap();
        let addr = server.local_addr();
        drop(server);
        evloop::yield_now().await;
        let err = open_connection(&addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn two_servers_share_a_port_through_start_server_on() {
    /// A server on a listener with `SO_REUSEPORT` that answers each
    /// connection with its `name` and a newline.
    fn named_server(addr: SocketAddr, name: &'static [u8]) -> Server {
        let socket = TcpSocket::new_for_addr(addr).unwrap();
        socket.set_reuseport(true).unwrap();
        socket.bind(addr).unwrap();
        let listener = socket.listen(64).unwrap();
        start_server_on(listener, move |_reader, mut writer| async move {
            let _ = writer.write_all(name).await;
        })
        .unwrap()
    }
    async fn who_answers(addr: SocketAddr) -> Vec<u8> {
        let (mut reader, _writer) = open_connection(&addr).await.unwrap();
        reader.read_line().await.unwrap()
    }
    run(async {
        let a = named_server("127.0.0.1:0".parse().unwrap(), b"a\n");
        let addr = a.local_addr();
        assert_eq!(who_answers(addr).await, b"a\n");
        let b = named_server(addr, b"b\n");
        assert_eq!(b.local_addr(), addr);
        for _ in 0..8 {
            let name = who_answers(addr).await;
            assert!(name == b"a\n" || name == b"b\n", "{name:?}");
        }
        // With `a` closed, the port is still served, by `b`.
        a.close();
        evloop::yield_now().await;
        for _ in 0..8 {
            assert_eq!(who_answers(addr).await, b"b\n");
        }
    });
}

#[cfg(feature = "futures-io")]
#[test]
fn futures_io_helpers_work_on_the_reader_and_writer() {
    use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    run(async {
        // The server echoes with `futures::io::copy_buf` (AsyncBufRead in,
        // AsyncWrite out), then closes through `AsyncWriteExt::close`.
        let server = start_server("127.0.0.1:0", |mut reader, mut writer| async move {
            futures_util::io::copy_buf(&mut reader, &mut writer)
                .await
                .unwrap();
            AsyncWriteExt::close(&mut writer).await.unwrap();
        })
        .await
        .unwrap();
        let (mut reader, mut writer) = open_connection(&server.local_addr()).await.unwrap();
        AsyncWriteExt::write_all(&mut writer, b"first line\nsecond line\nthe rest")
            .await
            .unwrap();
        AsyncWriteExt::flush(&mut writer).await.unwrap();
        writer.shutdown().unwrap();
        // futures' read_line, then this type's own: one shared buffer.
        let mut line = String::new();
        AsyncBufReadExt::read_line(&mut reader, &mut line)
            .await
            .unwrap();
        assert_eq!(line, "first line\n");
        assert_eq!(reader.read_line().await.unwrap(), b"second line\n");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"the rest");
        assert!(reader.at_eof());
    });
}
