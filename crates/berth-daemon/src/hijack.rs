//! Hijacked connections for attach and exec: after the response head the connection
//! stops being HTTP and carries the process's stdio both ways. Client → engine runs on
//! a small thread of its own; engine → client on the connection's thread. A client
//! half-close (the docker CLI's stdin ended) half-closes the engine side, output keeps
//! flowing; the engine side's EOF (the process is gone) closes the client connection.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

use berth_engine::api::AttachStream;

use crate::http::{self, Conn, Framing, Request, Socket};

/// Docker's content type for attach and exec streams.
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";

const COPY_BUF: usize = 32 * 1024;
/// The stdin copier needs little stack: its buffer is on the heap.
const COPIER_STACK: usize = 64 * 1024;

/// Whether the client asked to upgrade (`Connection: Upgrade`, `Upgrade: tcp`).
pub fn wants_upgrade(req: &Request) -> bool {
    req.header_has_token("connection", "upgrade")
        && req
            .header("upgrade")
            .is_some_and(|u| u.trim().eq_ignore_ascii_case("tcp"))
}

/// Answers the request (101 or 200) and copies both ways until the engine side ends.
/// The connection is unusable for HTTP afterwards.
pub fn hijack(conn: &mut Conn, req: &Request, attach: AttachStream) {
    if send_head(conn, req) {
        pump(conn, attach);
    }
}

/// Writes the response head that turns the connection into a raw stream; false when
/// the client is gone.
pub fn send_head(conn: &mut Conn, req: &Request) -> bool {
    let head = if wants_upgrade(req) {
        http::head(
            101,
            Some(RAW_STREAM),
            Framing::Raw,
            &[("Connection", "Upgrade"), ("Upgrade", "tcp")],
        )
    } else {
        http::head(200, Some(RAW_STREAM), Framing::Raw, &[])
    };
    conn.sock
        .write_all(&head)
        .and_then(|_| conn.sock.flush())
        .is_ok()
}

/// Copies both ways between the hijacked connection and the engine's stream until the
/// engine side ends.
pub fn pump(conn: &mut Conn, attach: AttachStream) {
    // Bytes the client sent right behind the request head are already its stdin.
    let early = conn.take_buffered();
    let engine = attach.stream;
    let copier = match (conn.sock.try_clone(), engine.try_clone()) {
        (Ok(client_r), Ok(engine_w)) => std::thread::Builder::new()
            .name("berth-stdin".into())
            .stack_size(COPIER_STACK)
            .spawn(move || client_to_engine(client_r, engine_w, early))
            .map_err(|e| crate::error!("cannot start the stdin copier: {e}"))
            .ok(),
        (Err(e), _) | (_, Err(e)) => {
            crate::error!("cannot clone a hijacked stream: {e}");
            None
        }
    };
    if copier.is_none() {
        // Without stdin the output still flows; tell the engine there is no input.
        let _ = engine.shutdown(Shutdown::Write);
    }
    engine_to_client(&engine, &mut conn.sock);
    // Closing both sides wakes the copier if it is blocked on either.
    let _ = conn.sock.shutdown(Shutdown::Both);
    let _ = engine.shutdown(Shutdown::Both);
    if let Some(t) = copier {
        let _ = t.join();
    }
}

fn client_to_engine(mut client: Socket, mut engine: UnixStream, early: Vec<u8>) {
    if early.is_empty() || engine.write_all(&early).is_ok() {
        let mut buf = vec![0u8; COPY_BUF];
        loop {
            match client.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if engine.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    }
    // The client is done sending: the process sees EOF on its stdin.
    let _ = engine.shutdown(Shutdown::Write);
}

fn engine_to_client(mut engine: &UnixStream, client: &mut Socket) {
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        match engine.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if client.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}
