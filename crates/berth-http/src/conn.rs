//! A connection's request side: heads (parsed with httparse) and bodies by
//! Content-Length or chunked transfer coding, read incrementally from one buffer.

use std::io::{self, Read};

use crate::query::{percent_decode, Query};
use crate::socket::Socket;

/// The longest request head accepted (docker sends a few hundred bytes; auth headers a
/// few kilobytes).
const MAX_HEAD: usize = 64 * 1024;
/// How much is read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Unread body bytes the server skips to keep a connection alive; past this it closes.
const MAX_DRAIN: u64 = 1 << 20;

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    pub query: Query,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    /// HTTP/1.0 (no keep-alive by default, no chunked responses).
    pub http10: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header holds `token` in its comma-separated list (case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the client wants the connection kept after this request.
    pub fn keep_alive(&self) -> bool {
        if self.header_has_token("connection", "close") {
            return false;
        }
        !self.http10 || self.header_has_token("connection", "keep-alive")
    }

    /// Whether the client waits for `100 Continue` before it sends the body.
    pub fn expects_continue(&self) -> bool {
        self.header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum HeadError {
    /// The bytes are not HTTP: answer 400 and close.
    Malformed(String),
    /// The socket failed or closed mid-head: just close.
    Io(io::Error),
}

/// Why a whole body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The socket failed, or the body's framing is broken.
    Read(io::Error),
    /// The body is larger than the limit given.
    TooLarge(usize),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Read(e) => write!(f, "cannot read the request body: {e}"),
            BodyError::TooLarge(limit) => write!(f, "request body larger than {limit} bytes"),
        }
    }
}

impl std::error::Error for BodyError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk, with this many bytes left.
    Data(u64),
    /// Expecting the CRLF that ends a chunk.
    DataEnd,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(ChunkState),
}

/// A connection with its read buffer: the request head parser and the body reader
/// share the buffer, so bytes read past the head are never lost (they may be the body,
/// the next request, or, after a hijack, the client's stdin).
pub struct Conn<S = Socket> {
    pub sock: S,
    buf: Vec<u8>,
    pos: usize,
    body: Body,
}

impl<S: Read> Conn<S> {
    pub fn new(sock: S) -> Conn<S> {
        Conn {
            sock,
            buf: Vec::new(),
            pos: 0,
            body: Body::Length(0),
        }
    }

    fn buffered(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Reads more from the socket into the buffer; returns how many bytes came (0: EOF).
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let got = loop {
            match self.sock.read(&mut self.buf[old..]) {
                Ok(n) => break Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
        };
        self.buf.truncate(old + *got.as_ref().unwrap_or(&0));
        got
    }

    /// Reads the next request head. `Ok(None)`: the client closed the connection
    /// cleanly between requests.
    pub fn read_head(&mut self) -> Result<Option<Request>, HeadError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            let status = req
                .parse(self.buffered())
                .map_err(|e| HeadError::Malformed(format!("malformed HTTP request: {e}")))?;
            if let httparse::Status::Complete(len) = status {
                let request = build_request(&req)?;
                self.pos += len;
                self.body = body_framing(&request)?;
                return Ok(Some(request));
            }
            if self.buffered().len() > MAX_HEAD {
                return Err(HeadError::Malformed("request head too large".into()));
            }
            let had = self.buffered().len();
            match self.fill() {
                Ok(0) if had == 0 => return Ok(None),
                Ok(0) => {
                    return Err(HeadError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed in the middle of a request head",
                    )))
                }
                Ok(_) => {}
                Err(e) => return Err(HeadError::Io(e)),
            }
        }
    }

    /// Whether this request carries a body at all.
    pub fn has_body(&self) -> bool {
        !matches!(self.body, Body::Length(0) | Body::Chunked(ChunkState::Done))
    }

    /// Reads raw bytes: buffered ones first, then from the socket.
    fn read_raw(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.buffered().is_empty() {
            if out.len() >= READ_CHUNK {
                return self.sock.read(out);
            }
            if self.fill()? == 0 {
                return Ok(0);
            }
        }
        let have = self.buffered();
        let n = have.len().min(out.len());
        out[..n].copy_from_slice(&have[..n]);
        self.pos += n;
        Ok(n)
    }

    /// One line of the chunked coding (a size line, a chunk's CRLF, a trailer).
    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buffered().iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&self.buffered()[..i]).into_owned();
                self.pos += i + 1;
                return Ok(line);
            }
            if self.buffered().len() > 4096 {
                return Err(invalid("chunk line too long"));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "request body ended in the middle of a chunk",
                ));
            }
        }
    }

    /// Reads the request body (decoded); 0 at its end.
    pub fn read_body(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match self.body {
                Body::Length(0) => return Ok(0),
                Body::Length(left) => {
                    let want = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.read_raw(&mut out[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "request body shorter than its Content-Length",
                        ));
                    }
                    self.body = Body::Length(left - n as u64);
                    return Ok(n);
                }
                Body::Chunked(ChunkState::Done) => return Ok(0),
                Body::Chunked(ChunkState::Size) => {
                    let line = self.read_line()?;
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16)
                        .map_err(|_| invalid(&format!("bad chunk size {size:?}")))?;
                    if size == 0 {
                        // Trailers, up to the empty line.
                        while !self.read_line()?.trim().is_empty() {}
                        self.body = Body::Chunked(ChunkState::Done);
                    } else {
                        self.body = Body::Chunked(ChunkState::Data(size));
                    }
                }
                Body::Chunked(ChunkState::Data(left)) => {
                    let want = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.read_raw(&mut out[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "request body ended in the middle of a chunk",
                        ));
                    }
                    let left = left - n as u64;
                    self.body = Body::Chunked(if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    });
                    return Ok(n);
                }
                Body::Chunked(ChunkState::DataEnd) => {
                    if !self.read_line()?.trim().is_empty() {
                        return Err(invalid("chunk not followed by CRLF"));
                    }
                    self.body = Body::Chunked(ChunkState::Size);
                }
            }
        }
    }

    /// Reads a whole (small) body: for JSON request bodies.
    pub fn read_body_to_end(&mut self, limit: usize) -> Result<Vec<u8>, BodyError> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = self.read_body(&mut chunk).map_err(BodyError::Read)?;
            if n == 0 {
                return Ok(out);
            }
            if out.len() + n > limit {
                return Err(BodyError::TooLarge(limit));
            }
            out.extend_from_slice(&chunk[..n]);
        }
    }

    /// Skips what the handler left of the body so the next request can be read.
    /// False when that is too much or fails: then the connection must close.
    pub fn skip_body(&mut self) -> bool {
        let mut skipped = 0u64;
        let mut chunk = [0u8; 8192];
        loop {
            match self.read_body(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => {
                    skipped += n as u64;
                    if skipped > MAX_DRAIN {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Takes the bytes read from the socket but not consumed: after a hijack they are
    /// the first bytes of the client's stream.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buffered().to_vec();
        self.buf = Vec::new();
        self.pos = 0;
        rest
    }
}

/// A reader over the request body, for calls that take `&mut dyn Read`.
pub struct BodyReader<'a, S = Socket>(pub &'a mut Conn<S>);

impl<S: Read> Read for BodyReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_body(buf)
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn build_request(req: &httparse::Request<'_, '_>) -> Result<Request, HeadError> {
    let method = req.method.unwrap_or("GET").to_string();
    let target = req.path.unwrap_or("/");
    let (raw_path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    let headers = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    Ok(Request {
        method,
        path: percent_decode(raw_path, false),
        query: Query::parse(raw_query),
        headers,
        http10: req.version == Some(0),
    })
}

fn body_framing(req: &Request) -> Result<Body, HeadError> {
    if req.header_has_token("transfer-encoding", "chunked") {
        return Ok(Body::Chunked(ChunkState::Size));
    }
    match req.header("content-length") {
        None => Ok(Body::Length(0)),
        Some(v) => v
            .parse::<u64>()
            .map(Body::Length)
            .map_err(|_| HeadError::Malformed(format!("invalid Content-Length {v:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    fn conn_with(bytes: &[u8]) -> Conn {
        let (a, mut b) = UnixStream::pair().expect("socketpair");
        b.write_all(bytes).expect("write");
        drop(b);
        Conn::new(Socket::Unix(a))
    }

    #[test]
    fn chunked_body_and_the_next_request() {
        let mut c = conn_with(
            b"POST /x?a=1&b=%2Fy+z HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n\
              GET /_ping HTTP/1.1\r\n\r\n",
        );
        let req = c.read_head().expect("head").expect("request");
        assert_eq!(req.method, "POST");
        assert_eq!(req.query.get("b"), Some("/y z"));
        let mut body = Vec::new();
        BodyReader(&mut c).read_to_end(&mut body).expect("body");
        assert_eq!(body, b"hello world");
        let next = c.read_head().expect("head").expect("request");
        assert_eq!(next.path, "/_ping");
        assert!(c.read_head().expect("eof").is_none());
    }

    #[test]
    fn content_length_body_leaves_the_rest() {
        let mut c = conn_with(b"PUT /a%20b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcdef");
        let req = c.read_head().expect("head").expect("request");
        assert_eq!(req.path, "/a b");
        let mut body = Vec::new();
        BodyReader(&mut c).read_to_end(&mut body).expect("body");
        assert_eq!(body, b"abc");
        assert_eq!(c.take_buffered(), b"def");
    }

    #[test]
    fn bad_chunk_size_is_an_error() {
        let mut c = conn_with(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        c.read_head().expect("head").expect("request");
        let mut body = Vec::new();
        assert!(BodyReader(&mut c).read_to_end(&mut body).is_err());
    }

    #[test]
    fn body_limit_and_expect_continue() {
        let mut c =
            conn_with(b"PUT / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\nhello");
        let req = c.read_head().expect("head").expect("request");
        assert!(req.expects_continue());
        assert!(c.has_body());
        let e = c.read_body_to_end(4).unwrap_err();
        assert_eq!(e.to_string(), "request body larger than 4 bytes");
    }
}
