//! A scripted Engine API server on a unix socket, for tests (feature `fake-server`).
//!
//! Every connection is served on its own thread, so a test can hold a hijacked
//! attach open while waits and starts arrive. `GET /_ping` is answered by the server
//! itself with the configured `Api-Version`; every other request goes to the
//! handler, and is recorded.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

/// A request as the server received it.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The decoded values of query parameter `key`.
    pub fn query(&self, key: &str) -> Vec<String> {
        let Some((_, q)) = self.target.split_once('?') else {
            return Vec::new();
        };
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| percent_decode(v))
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the server answers.
pub enum Reply {
    /// A complete response with Content-Length.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A chunked response, one chunk per element; `then` runs before the last chunk is
    /// sent (after the head), so a test can hold the body back (wait).
    Chunked {
        status: u16,
        chunks: Vec<Vec<u8>>,
        then: Option<Box<dyn FnOnce() -> Vec<u8> + Send>>,
    },
    /// `101 Switching Protocols`, then the socket is handed to the closure.
    Hijack(Box<dyn FnOnce(UnixStream) + Send>),
    /// These bytes exactly (head included), then the connection closes: for answers
    /// that break off.
    Raw(Vec<u8>),
}

impl Reply {
    pub fn json(status: u16, value: serde_json::Value) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply::Full {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `{"message": …}` with `status`.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::json(status, serde_json::json!({ "message": message }))
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// The running server. It stops serving when dropped (the socket file is removed;
/// threads end with their connections).
pub struct FakeServer {
    path: PathBuf,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeServer {
    /// Serves on `dir/api.sock`, announcing API `api_version` on `/_ping`.
    pub fn start(
        dir: &Path,
        api_version: &str,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> io::Result<FakeServer> {
        let path = dir.join("api.sock");
        let listener = UnixListener::bind(&path)?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let recs = Arc::clone(&requests);
        let version = api_version.to_string();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let handler = Arc::clone(&handler);
                let recs = Arc::clone(&recs);
                let version = version.clone();
                thread::spawn(move || {
                    let _ = serve(conn, &*handler, &recs, &version);
                });
            }
        });
        Ok(FakeServer { path, requests })
    }

    /// The address to give a client: `unix://…`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The requests received so far (pings excluded), in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// `METHOD path` of every request so far, without the version prefix.
    pub fn calls(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                let p = r.path();
                let p = match p.strip_prefix("/v") {
                    Some(rest) => rest.find('/').map_or(p, |i| &rest[i..]),
                    None => p,
                };
                format!("{} {}", r.method, p)
            })
            .collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        // Wake the accept loop so its thread ends.
        let _ = UnixStream::connect(&self.path);
    }
}

fn read_request(r: &mut BufReader<UnixStream>) -> io::Result<Option<Recorded>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(&head)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let mut rec = Recorded {
        method: req.method.unwrap_or("").to_string(),
        target: req.path.unwrap_or("").to_string(),
        headers: req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).to_string(),
                )
            })
            .collect(),
        body: Vec::new(),
    };
    if rec
        .header("Transfer-Encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut line = String::new();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let mut chunk = vec![0u8; size + 2];
            r.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            rec.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = rec
        .header("Content-Length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        rec.body = vec![0u8; len];
        r.read_exact(&mut rec.body)?;
    }
    Ok(Some(rec))
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Status",
    }
}

fn serve(
    conn: UnixStream,
    handler: &Handler,
    recs: &Mutex<Vec<Recorded>>,
    version: &str,
) -> io::Result<()> {
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let Some(req) = read_request(&mut r)? else {
        return Ok(());
    };
    if req.path() == "/_ping" {
        // The docker CLI pings with HEAD: a head without a body. Every answer closes
        // its connection, so a client that keeps connections alive (Go's) opens a
        // new one for its next request rather than racing the close.
        let body = if req.method == "HEAD" { "" } else { "OK" };
        let msg = format!(
            "HTTP/1.1 200 OK\r\nApi-Version: {version}\r\nOSType: linux\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{body}"
        );
        return w.write_all(msg.as_bytes());
    }
    if let Ok(mut recs) = recs.lock() {
        recs.push(req.clone());
    }
    match handler(&req) {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str(&format!(
                "Connection: close\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ));
            w.write_all(head.as_bytes())?;
            w.write_all(&body)?;
        }
        Reply::Chunked {
            status,
            chunks,
            then,
        } => {
            let head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
                reason(status)
            );
            w.write_all(head.as_bytes())?;
            w.flush()?;
            let send = |w: &mut UnixStream, c: &[u8]| -> io::Result<()> {
                if c.is_empty() {
                    return Ok(());
                }
                w.write_all(format!("{:x}\r\n", c.len()).as_bytes())?;
                w.write_all(c)?;
                w.write_all(b"\r\n")?;
                w.flush()
            };
            for c in &chunks {
                send(&mut w, c)?;
            }
            if let Some(then) = then {
                send(&mut w, &then())?;
            }
            w.write_all(b"0\r\n\r\n")?;
        }
        Reply::Raw(bytes) => w.write_all(&bytes)?,
        Reply::Hijack(f) => {
            w.write_all(
                b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
            )?;
            w.flush()?;
            // Bytes the client sent after its head are in the reader's buffer; hand
            // over the raw socket (clients write nothing before the 101 arrives).
            f(r.into_inner());
        }
    }
    Ok(())
}
