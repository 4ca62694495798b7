//! HTTP/1.1 on a blocking stream: request heads (parsed with httparse), request bodies
//! by Content-Length or chunked transfer coding (read incrementally, never buffered
//! whole), query strings, and responses with a length or chunked. Every response
//! carries the headers the docker CLI looks for (`Api-Version`, `Ostype`, …).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::str::FromStr;

use crate::error::ApiError;

/// The longest request head accepted (docker sends a few hundred bytes; auth headers a
/// few kilobytes).
const MAX_HEAD: usize = 64 * 1024;
/// How much is read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Unread body bytes the server skips to keep a connection alive; past this it closes.
const MAX_DRAIN: u64 = 1 << 20;

/// A client connection: unix or TCP.
#[derive(Debug)]
pub enum Socket {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Socket {
    pub fn try_clone(&self) -> io::Result<Socket> {
        Ok(match self {
            Socket::Unix(s) => Socket::Unix(s.try_clone()?),
            Socket::Tcp(s) => Socket::Tcp(s.try_clone()?),
        })
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Socket::Unix(s) => s.shutdown(how),
            Socket::Tcp(s) => s.shutdown(how),
        }
    }

    /// True when the peer has closed its side and sent nothing more: a streaming
    /// response can stop early instead of waiting for a write to fail.
    pub fn peer_closed(&self) -> bool {
        let mut byte = [0u8; 1];
        let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
        matches!(
            rustix::net::recv(self.as_fd(), &mut byte, flags),
            Ok((_, 0))
        )
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Unix(s) => s.as_fd(),
            Socket::Tcp(s) => s.as_fd(),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Unix(s) => s.read(buf),
            Socket::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Unix(s) => s.write(buf),
            Socket::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

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
}

/// Why no request could be read.
#[derive(Debug)]
pub enum HeadError {
    /// The bytes are not HTTP: answer 400 and close.
    Malformed(String),
    /// The socket failed or closed mid-head: just close.
    Io(io::Error),
}

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
pub struct Conn {
    pub sock: Socket,
    buf: Vec<u8>,
    pos: usize,
    body: Body,
}

impl Conn {
    pub fn new(sock: Socket) -> Conn {
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
    pub fn read_body_to_end(&mut self, limit: usize) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = self
                .read_body(&mut chunk)
                .map_err(|e| ApiError::bad(format!("cannot read the request body: {e}")))?;
            if n == 0 {
                return Ok(out);
            }
            if out.len() + n > limit {
                return Err(ApiError::new(
                    413,
                    format!("request body larger than {limit} bytes"),
                ));
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

/// A reader over the request body, for engine calls that take `&mut dyn Read`.
pub struct BodyReader<'a>(pub &'a mut Conn);

impl Read for BodyReader<'_> {
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

/// Decodes `%XX` escapes (and `+` as a space in query strings).
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query string, decoded, in order; repeated keys kept (`changes`).
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
                    None => (percent_decode(p, true), String::new()),
                })
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key`, None when absent or empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean as dockerd reads one: absent, empty, `0`, `no`, `false` and `none`
    /// (any case) are false; anything else is true.
    pub fn bool(&self, key: &str) -> bool {
        self.bool_or(key, false)
    }

    /// [`Query::bool`], with `default` when the key is absent.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(v) => !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }

    /// A number; None when absent or empty; 400 naming the parameter when not one.
    pub fn number<T: FromStr>(&self, key: &str) -> Result<Option<T>, ApiError> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v.trim().parse::<T>().map(Some).map_err(|_| {
                ApiError::bad(format!("invalid value for query parameter {key}: {v:?}"))
            }),
        }
    }
}

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    Chunked,
    /// Hijacked or upgraded: the body runs until the connection closes.
    Raw,
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "UPGRADED",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A response head with the headers every berth response carries.
pub fn head(
    status: u16,
    content_type: Option<&str>,
    framing: Framing,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    h.push_str("Api-Version: 1.41\r\n");
    h.push_str("Docker-Experimental: false\r\n");
    h.push_str("Ostype: linux\r\n");
    h.push_str(concat!(
        "Server: berth/",
        env!("CARGO_PKG_VERSION"),
        " (linux)\r\n"
    ));
    h.push_str("Date: ");
    h.push_str(&crate::time::http_date(crate::time::now_nanos()));
    h.push_str("\r\n");
    if let Some(ct) = content_type {
        h.push_str("Content-Type: ");
        h.push_str(ct);
        h.push_str("\r\n");
    }
    match framing {
        Framing::Length(n) => {
            // 1xx, 204 and 304 must not carry a length.
            if status != 204 && status != 304 && status >= 200 {
                h.push_str(&format!("Content-Length: {n}\r\n"));
            }
        }
        Framing::Chunked => h.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::Raw => {}
    }
    for (k, v) in extra {
        h.push_str(k);
        h.push_str(": ");
        h.push_str(v);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// Writes a whole response (head and body) in one write. With `head_only` (HEAD) the
/// body is left out but the length is still announced.
pub fn send(
    sock: &mut Socket,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    extra: &[(&str, &str)],
    head_only: bool,
) -> io::Result<()> {
    let mut out = head(status, content_type, Framing::Length(body.len()), extra);
    if !head_only && status != 204 && status != 304 {
        out.extend_from_slice(body);
    }
    sock.write_all(&out)
}

/// Writes an error response: `{"message": …}` (304 has no body; a HEAD response
/// announces the body's length but leaves it out).
pub fn send_error(sock: &mut Socket, err: &ApiError, head_only: bool) -> io::Result<()> {
    if err.status == 304 {
        return send(sock, 304, None, b"", &[], false);
    }
    let body = serde_json::to_vec(&berth_api_types::ErrorResponse::new(err.message.clone()))
        .unwrap_or_else(|_| b"{\"message\":\"internal error\"}".to_vec());
    let mut body = body;
    body.push(b'\n');
    send(
        sock,
        err.status,
        Some("application/json"),
        &body,
        &[],
        head_only,
    )
}

/// A chunked response body: each [`Chunked::send`] goes out at once, so streamed
/// messages reach the client as they happen.
pub struct Chunked<'a> {
    sock: &'a mut Socket,
}

impl<'a> Chunked<'a> {
    /// Sends the head of a chunked response.
    pub fn start(
        sock: &'a mut Socket,
        status: u16,
        content_type: &str,
        extra: &[(&str, &str)],
    ) -> io::Result<Chunked<'a>> {
        sock.write_all(&head(status, Some(content_type), Framing::Chunked, extra))?;
        Ok(Chunked { sock })
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

    pub fn socket(&self) -> &Socket {
        self.sock
    }
}

/// Each write is one chunk: wrap it in a `BufWriter` to stream a body made of many
/// small writes (a tar archive) in chunks of a useful size.
impl Write for Chunked<'_> {
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
    fn query_bools_as_docker_reads_them() {
        let q = Query::parse("a=1&b=true&c=True&d=0&e=false&f=&g=no&h");
        for k in ["a", "b", "c"] {
            assert!(q.bool(k), "{k}");
        }
        for k in ["d", "e", "f", "g", "h", "missing"] {
            assert!(!q.bool(k), "{k}");
        }
        assert!(q.bool_or("missing", true));
        assert!(!q.bool_or("f", true));
        assert_eq!(q.number::<i64>("a").expect("number"), Some(1));
        assert!(q.number::<i64>("b").is_err());
        assert_eq!(q.number::<i64>("f").expect("empty"), None);
    }
}
