//! Asking the upstream resolvers: the query as the client sent it, under a fresh id,
//! over UDP (TCP when the client used TCP or the UDP answer came truncated), each
//! upstream in turn until one answers, within a deadline. Blocking: it runs on a
//! worker thread of its own.

use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use super::answer::{id_and_is_response, is_truncated, set_id};

/// How long one upstream has to answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long all upstreams together have, so that a client's own timeout (glibc's is
/// 5 s) still sees the SERVFAIL.
pub const DEADLINE: Duration = Duration::from_secs(4);

/// The answer to `query` from the first upstream that gives one, with the client's
/// id put back; each failure is passed to `failed` first. `tcp`: the client asked
/// over TCP. `max_udp`: the largest answer the client takes over UDP.
pub fn forward(
    query: &[u8],
    upstreams: &[SocketAddr],
    tcp: bool,
    max_udp: u16,
    mut failed: impl FnMut(SocketAddr, io::Error),
) -> Option<Vec<u8>> {
    let (client_id, _) = id_and_is_response(query)?;
    let mut query = query.to_vec();
    let deadline = Instant::now() + DEADLINE;
    for &upstream in upstreams {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        let timeout = left.min(ATTEMPT_TIMEOUT);
        if timeout < Duration::from_millis(10) {
            break;
        }
        // A fresh id per upstream: an answer must match what this server sent.
        let id = random_id();
        set_id(&mut query, id);
        let answer = if tcp {
            over_tcp(&query, id, upstream, timeout)
        } else {
            over_udp(&query, id, upstream, timeout).map(|answer| {
                if !is_truncated(&answer) {
                    return answer;
                }
                // The whole answer over TCP, if it fits what the client takes;
                // otherwise the truncated one sends the client to TCP itself.
                match over_tcp(&query, id, upstream, timeout) {
                    Ok(full) if full.len() <= usize::from(max_udp) => full,
                    _ => answer,
                }
            })
        };
        match answer {
            Ok(mut answer) => {
                set_id(&mut answer, client_id);
                return Some(answer);
            }
            Err(e) => failed(upstream, e),
        }
    }
    None
}

fn random_id() -> u16 {
    // RandomState is seeded from the OS's random source; each instance hashes
    // differently, which is all an unguessable 16-bit id needs.
    RandomState::new().hash_one(Instant::now()) as u16
}

fn over_udp(query: &[u8], id: u16, upstream: SocketAddr, timeout: Duration) -> io::Result<Vec<u8>> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    // Connected: the kernel drops datagrams from anyone else and reports ICMP
    // unreachables as ECONNREFUSED.
    socket.connect(upstream)?;
    socket.send(query)?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)?;
        socket.set_read_timeout(Some(left))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock) => return Err(timed_out()),
            Err(e) => return Err(e),
        };
        // Anything but the answer to this query (a late answer to an earlier one, a
        // stray datagram) is ignored.
        if let Some(answer) = buf
            .get(..n)
            .filter(|a| id_and_is_response(a) == Some((id, true)))
        {
            return Ok(answer.to_vec());
        }
    }
}

fn over_tcp(query: &[u8], id: u16, upstream: SocketAddr, timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)
    };
    let mut stream = TcpStream::connect_timeout(&upstream, timeout)?;
    stream.set_write_timeout(Some(left()?))?;
    write_frame(&mut stream, query)?;
    stream.set_read_timeout(Some(left()?))?;
    let answer = read_frame(&mut stream).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => timed_out(),
        _ => e,
    })?;
    if id_and_is_response(&answer) != Some((id, true)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "answer over TCP does not match the query",
        ));
    }
    Ok(answer)
}

/// One length-prefixed DNS message from a TCP stream; `Ok(None)` at a clean end.
pub fn read_frame_or_end(stream: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match stream.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut msg)?;
    Ok(Some(msg))
}

fn read_frame(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    read_frame_or_end(stream)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before an answer",
        )
    })
}

/// Writes one length-prefixed DNS message.
pub fn write_frame(stream: &mut impl Write, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message over 64 KiB"))?;
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    stream.write_all(&framed)
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no answer in time")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"abc").unwrap();
        write_frame(&mut wire, b"").unwrap();
        assert_eq!(wire, b"\0\x03abc\0\0");
        let mut r = wire.as_slice();
        assert_eq!(read_frame_or_end(&mut r).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(read_frame_or_end(&mut r).unwrap(), Some(vec![]));
        assert_eq!(read_frame_or_end(&mut r).unwrap(), None);
        // A frame cut short is an error, not an end.
        let mut r: &[u8] = b"\0\x05ab";
        assert!(read_frame_or_end(&mut r).is_err());
        assert!(read_frame(&mut &b""[..]).is_err());
        assert!(write_frame(&mut Vec::new(), &vec![0; 70_000]).is_err());
    }

    #[test]
    fn nothing_to_ask_is_no_answer() {
        let mut failures = 0;
        let q = [0u8; 12];
        assert_eq!(forward(&q, &[], false, 512, |_, _| failures += 1), None);
        assert_eq!(forward(&[1], &[], false, 512, |_, _| failures += 1), None);
        assert_eq!(failures, 0);
    }
}
