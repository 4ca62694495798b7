//! HTTP/1.1 by hand over a unix or TCP socket: one request per connection, request
//! bodies with Content-Length or chunked from a reader, response heads parsed with
//! `httparse`, response bodies by length, chunked, or up to the close.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;

use crate::{ClientError, Host};

/// A connected socket.
#[derive(Debug)]
pub(crate) enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    pub(crate) fn connect(host: &Host) -> Result<Conn, ClientError> {
        let connect_err = |source| ClientError::Connect {
            addr: host.to_string(),
            source,
        };
        match host {
            Host::Unix(path) => UnixStream::connect(path)
                .map(Conn::Unix)
                .map_err(connect_err),
            Host::Tcp(addr) => TcpStream::connect(addr.as_str())
                .map(Conn::Tcp)
                .map_err(connect_err),
        }
    }

    pub(crate) fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
        })
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.shutdown(how),
            Conn::Tcp(s) => s.shutdown(how),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
        }
    }
}

/// Bytes read past the response head, served before the socket's own.
#[derive(Debug)]
pub(crate) struct Prefixed {
    pub(crate) buf: Vec<u8>,
    pub(crate) pos: usize,
    pub(crate) inner: Conn,
}

impl Read for Prefixed {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.buf.len() {
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(out)
    }
}

/// A request body.
pub enum Body<'a> {
    Empty,
    /// Sent with Content-Length.
    Bytes {
        data: Vec<u8>,
        content_type: &'static str,
    },
    /// Streamed with chunked transfer encoding (image tarballs).
    Stream {
        reader: &'a mut dyn Read,
        content_type: &'static str,
    },
}

impl Body<'_> {
    pub(crate) fn json<T: serde::Serialize>(value: &T) -> Body<'static> {
        Body::Bytes {
            data: serde_json::to_vec(value).expect("API models always serialise"),
            content_type: "application/json",
        }
    }
}

/// A parsed response head.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn io_err(host: &Host, what: &str, source: io::Error) -> ClientError {
    ClientError::Io {
        addr: host.to_string(),
        what: what.to_string(),
        source,
    }
}

/// Writes a request head and its body. `upgrade` asks for a hijacked stream.
pub(crate) fn write_request(
    conn: &mut Conn,
    host: &Host,
    method: &str,
    path: &str,
    extra_headers: &[(&str, String)],
    body: Body<'_>,
    upgrade: bool,
) -> Result<(), ClientError> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: berth/{}\r\n",
        host.header_value(),
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in extra_headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if upgrade {
        head.push_str("Connection: Upgrade\r\nUpgrade: tcp\r\n");
    } else {
        head.push_str("Connection: close\r\n");
    }
    let w = |e| io_err(host, &format!("sending {method} {path}"), e);
    match body {
        Body::Empty => {
            if matches!(method, "POST" | "PUT") {
                head.push_str("Content-Length: 0\r\n");
            }
            head.push_str("\r\n");
            conn.write_all(head.as_bytes()).map_err(w)?;
        }
        Body::Bytes { data, content_type } => {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                data.len()
            ));
            conn.write_all(head.as_bytes()).map_err(w)?;
            conn.write_all(&data).map_err(w)?;
        }
        Body::Stream {
            reader,
            content_type,
        } => {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
            ));
            conn.write_all(head.as_bytes()).map_err(w)?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(ClientError::Body {
                            what: format!("reading the body of {method} {path}"),
                            source: e,
                        })
                    }
                };
                conn.write_all(format!("{n:x}\r\n").as_bytes()).map_err(w)?;
                conn.write_all(&buf[..n]).map_err(w)?;
                conn.write_all(b"\r\n").map_err(w)?;
            }
            conn.write_all(b"0\r\n\r\n").map_err(w)?;
        }
    }
    conn.flush().map_err(w)
}

/// The largest response head accepted.
const MAX_HEAD: usize = 1 << 20;

/// Reads a response head; returns it with the bytes read past it.
pub(crate) fn read_head(conn: &mut Conn, host: &Host) -> Result<(Head, Vec<u8>), ClientError> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match conn.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(host, "reading a response", e)),
        };
        if n == 0 {
            return Err(ClientError::Protocol {
                addr: host.to_string(),
                message: if buf.is_empty() {
                    "the daemon closed the connection without answering".into()
                } else {
                    "the connection closed inside a response head".into()
                },
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 96];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let head = Head {
                    status: resp.code.unwrap_or(0),
                    headers: resp
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).trim().to_string(),
                            )
                        })
                        .collect(),
                };
                let rest = buf[len..].to_vec();
                return Ok((head, rest));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(ClientError::Protocol {
                    addr: host.to_string(),
                    message: "response head larger than 1 MiB".into(),
                })
            }
            Err(e) => {
                return Err(ClientError::Protocol {
                    addr: host.to_string(),
                    message: format!("bad response head: {e}"),
                })
            }
        }
    }
}

#[derive(Debug)]
enum Framing {
    Length(u64),
    /// Bytes left in the current chunk; `None` before a size line.
    Chunked(Option<u64>),
    UntilClose,
    Done,
}

/// A response body, decoded as it is read.
#[derive(Debug)]
pub struct BodyReader {
    src: BufReader<Prefixed>,
    framing: Framing,
}

impl BodyReader {
    pub(crate) fn new(head: &Head, method: &str, rest: Vec<u8>, conn: Conn) -> BodyReader {
        let chunked = head
            .header("Transfer-Encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let framing = if method == "HEAD" || head.status == 204 || head.status == 304 {
            Framing::Done
        } else if chunked {
            Framing::Chunked(None)
        } else if let Some(len) = head
            .header("Content-Length")
            .and_then(|v| v.parse::<u64>().ok())
        {
            Framing::Length(len)
        } else {
            Framing::UntilClose
        };
        BodyReader {
            src: BufReader::with_capacity(
                16 * 1024,
                Prefixed {
                    buf: rest,
                    pos: 0,
                    inner: conn,
                },
            ),
            framing,
        }
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        self.src.read_line(&mut line)?;
        if line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed inside a chunked body",
            ));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match self.framing {
                Framing::Done => return Ok(0),
                Framing::UntilClose => return self.src.read(out),
                Framing::Length(0) => {
                    self.framing = Framing::Done;
                }
                Framing::Length(left) => {
                    let want = out.len().min(left.min(usize::MAX as u64) as usize);
                    let n = self.src.read(&mut out[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the connection closed before the end of the body",
                        ));
                    }
                    self.framing = Framing::Length(left - n as u64);
                    return Ok(n);
                }
                Framing::Chunked(None) => {
                    let line = self.read_line()?;
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("bad chunk size line {line:?}"),
                        )
                    })?;
                    if size == 0 {
                        // Trailers, up to the empty line.
                        while !self.read_line()?.is_empty() {}
                        self.framing = Framing::Done;
                    } else {
                        self.framing = Framing::Chunked(Some(size));
                    }
                }
                Framing::Chunked(Some(left)) => {
                    let want = out.len().min(left.min(usize::MAX as u64) as usize);
                    let n = self.src.read(&mut out[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the connection closed inside a chunk",
                        ));
                    }
                    if left - n as u64 == 0 {
                        let crlf = self.read_line()?;
                        if !crlf.is_empty() {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "a chunk is not followed by CRLF",
                            ));
                        }
                        self.framing = Framing::Chunked(None);
                    } else {
                        self.framing = Framing::Chunked(Some(left - n as u64));
                    }
                    return Ok(n);
                }
            }
        }
    }
}

/// A response: its head and a reader over its body.
#[derive(Debug)]
pub struct Response {
    pub head: Head,
    pub body: BodyReader,
    pub(crate) what: String,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The whole body.
    pub fn bytes(mut self) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        self.body
            .read_to_end(&mut out)
            .map_err(|source| ClientError::Body {
                what: self.what.clone(),
                source,
            })?;
        Ok(out)
    }

    /// The body decoded as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, ClientError> {
        let what = self.what.clone();
        let bytes = self.bytes()?;
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Json { what, source })
    }
}
