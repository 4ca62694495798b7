//! The registry's side of HTTP (the protocol itself is berth-http's): the connection
//! stream (TCP, or TLS over it), the request body with `Expect: 100-continue`
//! answered when a handler first reads it, and replies — blobs go out with
//! `sendfile(2)` on plain TCP (the kernel copies from the page cache straight to the
//! socket) and through ordinary reads and writes over TLS.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;

use berth_http::{Conn, Framing, Request};
use rustls::{ServerConnection, StreamOwned};

use super::error::RegistryError;

/// A client connection.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The headers every registry response starts with.
const REGISTRY_HEADERS: [(&str, &str); 2] = [
    ("Docker-Distribution-API-Version", "registry/2.0"),
    (
        "Server",
        concat!("berth-registry/", env!("CARGO_PKG_VERSION")),
    ),
];

/// A request's body. The first read answers `Expect: 100-continue`, so a client that
/// waits for it sends nothing to a request refused before its body is needed.
pub struct Body<'a> {
    conn: &'a mut Conn<Stream>,
    expects_continue: bool,
    continued: bool,
}

impl<'a> Body<'a> {
    pub fn new(conn: &'a mut Conn<Stream>, req: &Request) -> Body<'a> {
        Body {
            expects_continue: req.expects_continue(),
            continued: false,
            conn,
        }
    }

    /// Whether the request carries a body.
    pub fn present(&self) -> bool {
        self.conn.has_body()
    }

    /// Whether the client may still send a body nobody read: it waited for a
    /// `100 Continue` that never came, and may or may not send it now. The
    /// connection cannot be reused then.
    pub fn left_unsent(&self) -> bool {
        self.expects_continue && !self.continued && self.conn.has_body()
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.expects_continue && !self.continued {
            self.continued = true;
            if self.conn.has_body() {
                self.conn.sock.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                self.conn.sock.flush()?;
            }
        }
        self.conn.read_body(buf)
    }
}

/// What a response carries.
pub enum Content {
    None,
    Bytes {
        content_type: String,
        data: Vec<u8>,
    },
    /// `len` bytes of a file from `offset`.
    File {
        file: File,
        offset: u64,
        len: u64,
    },
}

/// A response, before it is written.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub content: Content,
}

impl Reply {
    /// A response with no body.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content: Content::None,
        }
    }

    pub fn bytes(status: u16, content_type: &str, data: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content: Content::Bytes {
                content_type: content_type.to_string(),
                data,
            },
        }
    }

    /// A JSON body (with a newline, as registry:2 writes it).
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        let mut data = value.to_string().into_bytes();
        data.push(b'\n');
        Reply::bytes(status, "application/json", data)
    }

    pub fn file(status: u16, file: File, offset: u64, len: u64) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content: Content::File { file, offset, len },
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The content's length (what `Content-Length` announces).
    fn len(&self) -> u64 {
        match &self.content {
            Content::None => 0,
            Content::Bytes { data, .. } => data.len() as u64,
            Content::File { len, .. } => *len,
        }
    }
}

impl From<RegistryError> for Reply {
    fn from(e: RegistryError) -> Reply {
        Reply::bytes(e.status, "application/json", e.body())
    }
}

/// Writes a reply; with `head_only` (HEAD) the body is announced but left out.
/// Returns the body bytes sent.
pub fn send(stream: &mut Stream, reply: Reply, head_only: bool) -> io::Result<u64> {
    let len = reply.len();
    let content_type = match &reply.content {
        Content::Bytes { content_type, .. } => Some(content_type.as_str()),
        Content::File { .. } => Some("application/octet-stream"),
        Content::None => None,
    };
    let extra: Vec<(&str, &str)> = reply
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut out = berth_http::head(
        reply.status,
        &REGISTRY_HEADERS,
        content_type,
        Framing::Length(len),
        &extra,
    );
    let no_body = head_only || reply.status == 204 || reply.status == 304;
    let sent = match reply.content {
        _ if no_body => {
            stream.write_all(&out)?;
            0
        }
        Content::None => {
            stream.write_all(&out)?;
            0
        }
        Content::Bytes { data, .. } => {
            out.extend_from_slice(&data);
            stream.write_all(&out)?;
            data.len() as u64
        }
        Content::File { file, offset, len } => {
            stream.write_all(&out)?;
            match stream {
                Stream::Plain(tcp) => send_file(tcp, &file, offset, len)?,
                Stream::Tls(_) => copy_file(stream, &file, offset, len)?,
            }
            len
        }
    };
    stream.flush()?;
    Ok(sent)
}

/// `len` bytes of `file` from `offset` to the socket, without copying them through
/// user space.
fn send_file(sock: &TcpStream, file: &File, offset: u64, len: u64) -> io::Result<()> {
    // Linux moves at most 0x7ffff000 bytes per call.
    const MAX_PER_CALL: u64 = 0x7fff_f000;
    let mut off = offset;
    let end = offset + len;
    while off < end {
        let want = usize::try_from((end - off).min(MAX_PER_CALL)).unwrap_or(usize::MAX);
        match rustix::fs::sendfile(sock.as_fd(), file.as_fd(), Some(&mut off), want) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the blob is shorter than its size",
                ))
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The same through reads and writes (TLS must encrypt every byte in user space).
fn copy_file(out: &mut Stream, file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 256 * 1024];
    let mut off = offset;
    let end = offset + len;
    while off < end {
        let want = usize::try_from((end - off).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = file.read_at(&mut buf[..want], off)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the blob is shorter than its size",
            ));
        }
        out.write_all(&buf[..n])?;
        off += n as u64;
    }
    Ok(())
}
