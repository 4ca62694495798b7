//! Response heads and chunked response bodies.

use std::io::{self, Write};

use crate::socket::Socket;

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    /// Hijacked or upgraded: the body runs until the connection closes.
    Raw,
}

/// The reason phrase of a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "UPGRADED",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A response head: the status line, `leading` (a server's fixed headers), `Date`,
/// `Content-Type`, the framing (`Content-Length` — left out where a status must not
/// carry one — or `Transfer-Encoding: chunked`), then `extra`.
pub fn head(
    status: u16,
    leading: &[(&str, &str)],
    content_type: Option<&str>,
    framing: Framing,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    let mut header = |k: &str, v: &str| {
        h.push_str(k);
        h.push_str(": ");
        h.push_str(v);
        h.push_str("\r\n");
    };
    for (k, v) in leading {
        header(k, v);
    }
    header("Date", &crate::date::now());
    if let Some(ct) = content_type {
        header("Content-Type", ct);
    }
    match framing {
        Framing::Length(n) => {
            // 1xx, 204 and 304 must not carry a length.
            if status != 204 && status != 304 && status >= 200 {
                header("Content-Length", &n.to_string());
            }
        }
        Framing::Chunked => header("Transfer-Encoding", "chunked"),
        Framing::Raw => {}
    }
    for (k, v) in extra {
        header(k, v);
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// A chunked response body whose head has been sent: each [`Chunked::send`] goes out
/// at once, so streamed messages reach the client as they happen.
pub struct Chunked<'a, W: Write = Socket> {
    sock: &'a mut W,
}

impl<'a, W: Write> Chunked<'a, W> {
    /// The body of a response whose head (with [`Framing::Chunked`]) is written.
    pub fn new(sock: &'a mut W) -> Chunked<'a, W> {
        Chunked { sock }
    }

    /// Sends one chunk (nothing for empty data: an empty chunk would end the body).
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        self.sock.write_all(&out)
    }

    /// Ends the body.
    pub fn finish(self) -> io::Result<()> {
        self.sock.write_all(b"0\r\n\r\n")
    }

    pub fn socket(&self) -> &W {
        self.sock
    }
}

/// Each write is one chunk: wrap it in a `BufWriter` to stream a body made of many
/// small writes (a tar archive) in chunks of a useful size.
impl<W: Write> Write for Chunked<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_carry_lengths_only_where_allowed() {
        let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
        let h = text(head(
            206,
            &[("Server", "x")],
            Some("text/plain"),
            Framing::Length(5),
            &[("Content-Range", "bytes 0-4/10")],
        ));
        assert!(h.starts_with("HTTP/1.1 206 Partial Content\r\nServer: x\r\nDate: "));
        assert!(h.contains("\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nContent-Range: bytes 0-4/10\r\n\r\n"));
        let h = text(head(204, &[], None, Framing::Length(0), &[]));
        assert!(!h.contains("Content-Length"), "{h}");
        let h = text(head(200, &[], None, Framing::Chunked, &[]));
        assert!(h.contains("Transfer-Encoding: chunked\r\n"), "{h}");
    }

    #[test]
    fn chunks_are_framed_and_empty_writes_skipped() {
        let mut out = Vec::new();
        let mut c = Chunked::new(&mut out);
        c.send(b"hello").expect("send");
        c.send(b"").expect("send");
        c.finish().expect("finish");
        assert_eq!(out, b"5\r\nhello\r\n0\r\n\r\n");
    }
}
