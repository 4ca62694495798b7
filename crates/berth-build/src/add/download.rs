//! ADD from an http(s) URL, as dockerd's classic builder downloads one
//! (`downloadSource` and `remotecontext.GetWithStatusError`): a GET that follows up to
//! 10 redirects; an answer of 400 or more is an error carrying the status and body; the
//! file is named after the last element of the URL's path, else after the answer's
//! Content-Disposition; it is written with mode 0600 and the mtime of Last-Modified
//! (the Unix epoch without one), which is what lands in the image, as with docker.
//! `--checksum` (BuildKit's; the classic builder has none) is checked on the content.

use std::fs::{File, FileTimes, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_types::{Algorithm, Digest};
use sha2::Digest as _;
use ureq::http::Uri;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::Agent;

use super::proxy::proxy_for;
use super::AddError;

/// The file's name when neither the URL nor the answer gives one (dockerd's).
const UNNAMED: &str = "__unnamed__";

/// How much of an error answer's body goes into the error.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// A downloaded ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// Where the content was written: `dir` joined with `file_name`, or with
    /// `__unnamed__` when that is empty.
    pub path: PathBuf,
    /// The name the source goes by in the image: the URL path's last element, else
    /// Content-Disposition's filename; empty when neither gives one (then ADD needs a
    /// destination that names the file: dockerd fails with `cannot determine filename
    /// for source <url>` on one ending in `/`).
    pub file_name: String,
    /// Last-Modified, when the answer had one that parses. The file's mtime is set to
    /// it (to the Unix epoch without one, or for a date before it, as dockerd does).
    pub mtime: Option<SystemTime>,
    /// The content's digest, `sha256:<hex>`.
    pub digest: String,
}

/// Downloads `url` into the directory `dir`, which should be new and empty (dockerd
/// makes a temporary one per URL): a file already there under the same name is an
/// error, not overwritten. `checksum` (`sha256:<hex>` or `sha512:<hex>`) must match
/// the content, or the file is removed and the download fails. `proxy_env` holds
/// HTTP_PROXY/HTTPS_PROXY/NO_PROXY (either case), applied as Go applies them; dockerd
/// reads them from its own environment, so pass the daemon's to match it, or the
/// build's proxy args to honour those. The proxy is chosen for `url`, and kept for the
/// redirects it leads to.
pub fn download(
    url: &str,
    dir: &Path,
    checksum: Option<&str>,
    proxy_env: &[(String, String)],
) -> Result<Download, AddError> {
    let invalid = |reason: String| AddError::InvalidUrl {
        url: url.to_string(),
        reason,
    };
    let uri: Uri = url.parse().map_err(|e| invalid(format!("{e}")))?;
    let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(AddError::Request {
            url: url.to_string(),
            cause: format!("unsupported protocol scheme {scheme:?}"),
        });
    }
    let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
        return Err(AddError::Request {
            url: url.to_string(),
            cause: "http: no Host in request URL".into(),
        });
    };
    let path = unescape_path(uri.path()).map_err(invalid)?;
    let expected = checksum
        .map(|c| {
            c.parse::<Digest>()
                .map_err(|source| AddError::InvalidChecksum {
                    url: url.to_string(),
                    checksum: c.to_string(),
                    source,
                })
        })
        .transpose()?;

    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let proxy = match proxy_for(&scheme, host, port, proxy_env) {
        Some(p) => Some(ureq::Proxy::new(&p).map_err(|e| AddError::InvalidProxy {
            url: url.to_string(),
            proxy: p.clone(),
            reason: e.to_string(),
        })?),
        None => None,
    };
    let response = agent(proxy)
        .get(url)
        .call()
        .map_err(|e| AddError::Request {
            url: url.to_string(),
            cause: match e {
                ureq::Error::TooManyRedirects => "stopped after 10 redirects".into(),
                e => e.to_string(),
            },
        })?;

    let status = response.status();
    if status.as_u16() >= 400 {
        let mut body = Vec::new();
        let read = response
            .into_body()
            .into_reader()
            .take(ERROR_BODY_LIMIT)
            .read_to_end(&mut body);
        let body = match read {
            Ok(_) => String::from_utf8_lossy(&body).trim().to_string(),
            Err(_) => "error reading body".to_string(),
        };
        return Err(AddError::Status {
            url: url.to_string(),
            status: match status.canonical_reason() {
                Some(reason) => format!("{} {reason}", status.as_u16()),
                None => status.as_u16().to_string(),
            },
            code: status.as_u16(),
            body,
        });
    }

    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let file_name = name_from_path(&path)
        .or_else(|| header("content-disposition").and_then(|v| disposition_filename(&v)))
        .unwrap_or_default();
    let mtime = header("last-modified").and_then(|v| parse_http_date(&v));
    let target = dir.join(if file_name.is_empty() {
        UNNAMED
    } else {
        &file_name
    });

    let write_error = |source: io::Error| AddError::Write {
        url: url.to_string(),
        path: target.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .map_err(write_error)?;
    let written = save(
        &mut response.into_body().into_reader(),
        &mut file,
        mtime,
        expected.as_ref().map(Digest::algorithm),
    );
    drop(file);
    let (digest, pinned) = match written {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&target);
            return Err(write_error(e));
        }
    };
    if let (Some(expected), Some(actual)) = (expected, pinned) {
        if expected != actual {
            let _ = std::fs::remove_file(&target);
            return Err(AddError::ChecksumMismatch {
                url: url.to_string(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    Ok(Download {
        path: target,
        file_name,
        mtime,
        digest: digest.to_string(),
    })
}

/// Copies the body to the file, hashing it; sets the file's times. The sha256 digest,
/// and the digest of the algorithm `--checksum` names.
fn save(
    body: &mut dyn Read,
    file: &mut File,
    mtime: Option<SystemTime>,
    pinned: Option<Algorithm>,
) -> io::Result<(Digest, Option<Digest>)> {
    let mut sha256 = sha2::Sha256::new();
    let mut sha512 = (pinned == Some(Algorithm::Sha512)).then(sha2::Sha512::new);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha256.update(&buf[..n]);
        if let Some(h) = sha512.as_mut() {
            h.update(&buf[..n]);
        }
        file.write_all(&buf[..n])?;
    }
    // dockerd's Chtimes puts a missing or pre-epoch time at the epoch.
    let when = mtime.filter(|t| *t >= UNIX_EPOCH).unwrap_or(UNIX_EPOCH);
    file.set_times(FileTimes::new().set_accessed(when).set_modified(when))?;
    let sha256 = Digest::sha256_from_bytes(&sha256.finalize().into());
    let pinned = match pinned {
        Some(Algorithm::Sha256) => Some(sha256.clone()),
        Some(Algorithm::Sha512) => sha512.map(|h| Digest::sha512_from_bytes(&h.finalize().into())),
        None => None,
    };
    Ok((sha256, pinned))
}

/// An agent for one download: statuses are answers (not errors), redirects followed as
/// Go's client follows them (10 at most), the system's CAs trusted, and the proxy, if
/// any, given explicitly (never ureq's own reading of the environment).
fn agent(proxy: Option<ureq::Proxy>) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(10)
        .proxy(proxy)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls_config())
        // Go's default dialer gives up after 30 s; like dockerd, no limit once the
        // body flows.
        .timeout_connect(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn tls_config() -> TlsConfig {
    static ROOTS: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();
    let system = ROOTS.get_or_init(|| {
        rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect()
    });
    let roots = if system.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::new_with_certs(system)
    };
    TlsConfig::builder().root_certs(roots).build()
}

/// A URL path with its %XX escapes decoded, as Go's `url.Parse` gives `URL.Path`.
fn unescape_path(raw: &str) -> Result<String, String> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => {
                    let bad = &raw[i..(i + 3).min(raw.len())];
                    return Err(format!("invalid URL escape {bad:?}"));
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The last element of a URL path that does not end in `/` (dockerd's first choice).
fn name_from_path(path: &str) -> Option<String> {
    if path.is_empty() || path.ends_with('/') {
        return None;
    }
    base(path)
}

/// The last element of a slash-separated name; none for `.` and `..`, which name no
/// file (dockerd would fail to create them; BuildKit renames them).
fn base(name: &str) -> Option<String> {
    let last = name.rsplit('/').next().unwrap_or(name);
    match last {
        "" | "." | ".." => None,
        s => Some(s.to_string()),
    }
}

/// The file name a Content-Disposition value gives, read as Go's
/// `mime.ParseMediaType` reads it: `type; filename="…"` (a token or a quoted string),
/// or RFC 2231's `filename*=UTF-8''…`, which wins; a value that does not parse gives
/// none, and so does a name ending in `/`.
fn disposition_filename(v: &str) -> Option<String> {
    let (kind, mut rest) = v.split_once(';').unwrap_or((v, ""));
    let kind = kind.trim();
    if kind.is_empty() || !kind.bytes().all(|c| is_token_char(c) || c == b'/') {
        return None;
    }
    let (mut plain, mut extended) = (None, None);
    let mut seen = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let key_len = rest.bytes().take_while(|&c| is_token_char(c)).count();
        let key = rest[..key_len].to_ascii_lowercase();
        rest = rest[key_len..].trim_start();
        rest = rest.strip_prefix('=')?.trim_start();
        if key.is_empty() {
            return None;
        }
        let value;
        (value, rest) = take_value(rest)?;
        rest = rest.trim_start();
        if !rest.is_empty() {
            rest = rest.strip_prefix(';')?;
        }
        if seen.contains(&key) {
            return None; // Go: duplicate parameter name
        }
        seen.push(key.clone());
        match key.as_str() {
            "filename" => plain = Some(value),
            "filename*" => extended = decode_rfc2231(&value),
            _ => {}
        }
    }
    let name = extended.or(plain).filter(|n| !n.is_empty())?;
    if name.ends_with('/') {
        return None;
    }
    base(&name)
}

/// A parameter's value, a token or a quoted string, and what follows it.
fn take_value(s: &str) -> Option<(String, &str)> {
    let Some(quoted) = s.strip_prefix('"') else {
        let n = s.bytes().take_while(|&c| is_token_char(c)).count();
        return (n > 0).then(|| (s[..n].to_string(), &s[n..]));
    };
    let mut out = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &quoted[i + 1..])),
            // A backslash escapes a special character; before anything else it is kept
            // (Go's allowance for Windows paths sent unescaped).
            '\\' => match quoted[i + 1..].chars().next() {
                Some(n) if n.is_ascii() && is_tspecial(n as u8) => {
                    out.push(n);
                    chars.next();
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    None
}

/// `charset'language'percent-encoded`, for UTF-8 and US-ASCII.
fn decode_rfc2231(v: &str) -> Option<String> {
    let mut parts = v.splitn(3, '\'');
    let (charset, _lang, encoded) = (parts.next()?, parts.next()?, parts.next()?);
    if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
        return None;
    }
    unescape_path(encoded).ok()
}

fn is_tspecial(c: u8) -> bool {
    b"()<>@,;:\\\"/[]?=".contains(&c)
}

fn is_token_char(c: u8) -> bool {
    c > b' ' && c < 0x7f && !is_tspecial(c)
}

/// An HTTP date as Go's `http.ParseTime` reads one: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) or
/// asctime (`Sun Nov  6 08:49:37 1994`), all taken as UTC.
pub(crate) fn parse_http_date(s: &str) -> Option<SystemTime> {
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    const LONG_DAYS: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    let short_day = |w: &str| DAYS.contains(&w.to_ascii_lowercase().as_str());
    let long_day = |w: &str| LONG_DAYS.contains(&w.to_ascii_lowercase().as_str());
    let digits = |s: &str, min: usize, max: usize| -> Option<i64> {
        (s.len() >= min && s.len() <= max && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let f: Vec<&str> = s.split_whitespace().collect();
    let (year, month, day, clock) = match f.as_slice() {
        [wd, d, m, y, t, "GMT"] if wd.strip_suffix(',').is_some_and(short_day) => {
            (digits(y, 4, 4)?, *m, digits(d, 2, 2)?, *t)
        }
        [wd, dmy, t, _zone] if wd.strip_suffix(',').is_some_and(long_day) => {
            let mut p = dmy.split('-');
            let (d, m, y) = (p.next()?, p.next()?, p.next()?);
            if p.next().is_some() {
                return None;
            }
            let y = digits(y, 2, 2)?;
            (
                if y >= 69 { 1900 + y } else { 2000 + y },
                m,
                digits(d, 2, 2)?,
                *t,
            )
        }
        [wd, m, d, t, y] if short_day(wd) => (digits(y, 4, 4)?, *m, digits(d, 1, 2)?, *t),
        _ => return None,
    };
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month))
        .map(|i| i as u32 + 1)?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=month_days).contains(&day) {
        return None;
    }
    let mut hms = clock.split(':');
    let (h, m, sec) = (
        digits(hms.next()?, 2, 2)?,
        digits(hms.next()?, 2, 2)?,
        digits(hms.next()?, 2, 2)?,
    );
    if hms.next().is_some() || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let days = berth_types::civil::days_from_civil(year, month, day as u32);
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    let offset = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;

    /// What a route answers: status, headers, body, and the Content-Length to claim
    /// (the body's own length when None).
    struct Answer {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        claimed_len: Option<usize>,
    }

    impl Answer {
        fn ok(body: &[u8]) -> Answer {
            Answer {
                status: 200,
                headers: Vec::new(),
                body: body.to_vec(),
                claimed_len: None,
            }
        }
        fn with(mut self, name: &'static str, value: &str) -> Answer {
            self.headers.push((name, value.to_string()));
            self
        }
    }

    type Routes = dyn Fn(&str) -> Answer + Send + Sync;

    /// A one-thread HTTP/1.1 server on 127.0.0.1 for a test, one request per
    /// connection; it also plays an HTTP CONNECT proxy. It records what it was asked
    /// (`CONNECT host:port`, `GET /path`) and stops when dropped.
    struct Server {
        addr: SocketAddr,
        seen: Arc<Mutex<Vec<String>>>,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Server {
        fn start(routes: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let stop = Arc::new(AtomicBool::new(false));
            let routes: Arc<Routes> = Arc::new(routes);
            let thread = {
                let (seen, stop) = (seen.clone(), stop.clone());
                std::thread::spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Ok(conn) = conn {
                            let _ = serve(conn, &*routes, &seen);
                        }
                    }
                })
            };
            Server {
                addr,
                seen,
                stop,
                thread: Some(thread),
            }
        }

        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.addr)
        }

        fn seen(&self) -> Vec<String> {
            self.seen.lock().unwrap().clone()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// Reads a request head: its request line.
    fn read_head(r: &mut impl BufRead) -> io::Result<String> {
        let mut first = String::new();
        r.read_line(&mut first)?;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
        }
        Ok(first.trim_end().to_string())
    }

    fn serve(conn: TcpStream, routes: &Routes, seen: &Mutex<Vec<String>>) -> io::Result<()> {
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut w = conn.try_clone()?;
        let mut r = BufReader::new(conn);
        let mut line = read_head(&mut r)?;
        let mut parts = line.split(' ');
        if parts.next() == Some("CONNECT") {
            seen.lock()
                .unwrap()
                .push(format!("CONNECT {}", parts.next().unwrap_or("")));
            w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            line = read_head(&mut r)?;
        }
        let mut parts = line.split(' ');
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        seen.lock().unwrap().push(format!("{method} {path}"));
        let a = routes(path);
        let reason = match a.status {
            200 => "OK",
            302 => "Found",
            404 => "Not Found",
            _ => "Whatever",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
            a.status,
            a.claimed_len.unwrap_or(a.body.len())
        );
        for (k, v) in &a.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        w.write_all(head.as_bytes())?;
        w.write_all(&a.body)?;
        w.flush()
    }

    fn sha256_hex(data: &[u8]) -> String {
        Digest::sha256_from_bytes(&sha2::Sha256::digest(data).into()).to_string()
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_file_is_named_after_the_url_and_dated_by_last_modified() {
        let s = Server::start(|path| match path {
            "/files/hello.txt?x=1" => {
                Answer::ok(b"hello\n").with("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            }
            "/my%20file.txt" => Answer::ok(b"spaced"),
            _ => Answer::ok(b""),
        });
        let t = tempfile::tempdir().unwrap();
        let d = download(&s.url("/files/hello.txt?x=1"), t.path(), None, &[]).unwrap();
        assert_eq!(d.file_name, "hello.txt");
        assert_eq!(d.path, t.path().join("hello.txt"));
        assert_eq!(std::fs::read(&d.path).unwrap(), b"hello\n");
        let when = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(d.mtime, Some(when));
        let meta = std::fs::metadata(&d.path).unwrap();
        assert_eq!(meta.modified().unwrap(), when);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(d.digest, sha256_hex(b"hello\n"));
        assert_eq!(
            d.digest,
            "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );

        let t = tempfile::tempdir().unwrap();
        let d = download(&s.url("/my%20file.txt"), t.path(), None, &[]).unwrap();
        assert_eq!(d.file_name, "my file.txt");
        // No Last-Modified: no mtime, and the file at the epoch.
        assert_eq!(d.mtime, None);
        let meta = std::fs::metadata(&d.path).unwrap();
        assert_eq!(meta.modified().unwrap(), UNIX_EPOCH);
    }

    #[test]
    fn content_disposition_names_a_file_the_path_does_not() {
        let s = Server::start(|path| match path {
            "/dl/" => Answer::ok(b"report").with(
                "Content-Disposition",
                "attachment; filename=\"reports/2024 q1.txt\"",
            ),
            "/named.bin" => {
                Answer::ok(b"x").with("Content-Disposition", "attachment; filename=other")
            }
            _ => Answer::ok(b"anonymous"),
        });
        let t = tempfile::tempdir().unwrap();
        let d = download(&s.url("/dl/"), t.path(), None, &[]).unwrap();
        assert_eq!(d.file_name, "2024 q1.txt");
        assert_eq!(std::fs::read(&d.path).unwrap(), b"report");
        // The path comes first.
        let t = tempfile::tempdir().unwrap();
        let d = download(&s.url("/named.bin"), t.path(), None, &[]).unwrap();
        assert_eq!(d.file_name, "named.bin");
        // Neither: no name, and the file is __unnamed__.
        let t = tempfile::tempdir().unwrap();
        let d = download(&s.url("/"), t.path(), None, &[]).unwrap();
        assert_eq!(d.file_name, "");
        assert_eq!(d.path, t.path().join("__unnamed__"));
        assert_eq!(std::fs::read(&d.path).unwrap(), b"anonymous");
    }

    #[test]
    fn an_error_status_is_dockerds_error_and_leaves_no_file() {
        let s = Server::start(|path| match path {
            "/gone" => Answer {
                status: 404,
                ..Answer::ok(b"  no such file\n")
            },
            _ => Answer {
                status: 500,
                ..Answer::ok(b"")
            },
        });
        let t = tempfile::tempdir().unwrap();
        let url = s.url("/gone");
        let e = download(&url, t.path(), None, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("failed to GET {url} with status 404 Not Found: no such file")
        );
        assert_eq!(e.http_status(), 404);
        let url = s.url("/broken");
        let e = download(&url, t.path(), None, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("failed to GET {url} with status 500 Internal Server Error: ")
        );
        assert_eq!(e.http_status(), 500);
        assert!(files_in(t.path()).is_empty());
    }

    #[test]
    fn checksum_is_verified() {
        let body = b"pinned content\n".repeat(10_000);
        let expected_body = body.clone();
        let s = Server::start(move |_| Answer::ok(&expected_body));
        let url = s.url("/pinned.txt");
        let good = sha256_hex(&body);
        let t = tempfile::tempdir().unwrap();
        let d = download(&url, t.path(), Some(&good), &[]).unwrap();
        assert_eq!(d.digest, good);
        assert_eq!(std::fs::read(&d.path).unwrap(), body);

        let sha512 = Digest::sha512_from_bytes(&sha2::Sha512::digest(&body).into()).to_string();
        let t = tempfile::tempdir().unwrap();
        let d = download(&url, t.path(), Some(&sha512), &[]).unwrap();
        assert_eq!(
            d.digest, good,
            "the digest reported is sha256 whatever was pinned"
        );

        let wrong = format!("sha256:{}", "0".repeat(64));
        let t = tempfile::tempdir().unwrap();
        let e = download(&url, t.path(), Some(&wrong), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("digest mismatch for {url}: {good} (expected: {wrong})")
        );
        assert!(
            files_in(t.path()).is_empty(),
            "the mismatching file is removed"
        );

        // A checksum that is no digest fails before anything is fetched.
        let before = s.seen().len();
        let e = download(&url, t.path(), Some("md5:abc"), &[]).unwrap_err();
        assert!(matches!(e, AddError::InvalidChecksum { .. }), "{e:?}");
        assert!(
            e.to_string().contains(&url) && e.to_string().contains("md5:abc"),
            "{e}"
        );
        assert_eq!(s.seen().len(), before);
    }

    #[test]
    fn redirects_are_followed_and_the_name_is_the_first_urls() {
        let s = Server::start(|path| match path {
            "/latest.tar.gz" => Answer {
                status: 302,
                ..Answer::ok(b"")
            }
            .with("Location", "/releases/v2/app.tar.gz"),
            "/releases/v2/app.tar.gz" => Answer::ok(b"release two"),
            _ => Answer {
                status: 404,
                ..Answer::ok(b"")
            },
        });
        let t = tempfile::tempdir().unwrap();
        let d = download(&s.url("/latest.tar.gz"), t.path(), None, &[]).unwrap();
        assert_eq!(std::fs::read(&d.path).unwrap(), b"release two");
        assert_eq!(d.file_name, "latest.tar.gz");
        assert_eq!(
            s.seen(),
            ["GET /latest.tar.gz", "GET /releases/v2/app.tar.gz"]
        );
    }

    #[test]
    fn a_body_cut_short_is_an_error_naming_the_url_and_leaves_no_file() {
        let s = Server::start(|_| Answer {
            claimed_len: Some(1000),
            ..Answer::ok(b"only part")
        });
        let t = tempfile::tempdir().unwrap();
        let url = s.url("/cut.bin");
        let e = download(&url, t.path(), None, &[]).unwrap_err();
        assert!(matches!(e, AddError::Write { .. }), "{e:?}");
        assert!(e.to_string().contains(&url), "{e}");
        assert!(files_in(t.path()).is_empty());
    }

    #[test]
    fn bad_urls_and_refused_connections_name_the_url() {
        let t = tempfile::tempdir().unwrap();
        let e = download("ftp://example.com/x", t.path(), None, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Get \"ftp://example.com/x\": unsupported protocol scheme \"ftp\""
        );
        let e = download("http://127.0.0.1:1/a%zzb", t.path(), None, &[]).unwrap_err();
        assert!(e.to_string().contains("invalid URL escape \"%zz\""), "{e}");
        // A port nothing listens on (taken, then released).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/x");
        let e = download(&url, t.path(), None, &[]).unwrap_err();
        assert!(matches!(e, AddError::Request { .. }), "{e:?}");
        assert!(
            e.to_string().starts_with(&format!("Get \"{url}\": ")),
            "{e}"
        );
        assert!(files_in(t.path()).is_empty());
    }

    #[test]
    fn the_proxy_comes_from_the_variables_given() {
        // The server is the proxy: the download of a host that does not exist goes
        // through it (CONNECT), and nothing is resolved or sent elsewhere.
        let proxy = Server::start(|path| match path {
            "/via/proxy.txt" => Answer::ok(b"proxied"),
            _ => Answer {
                status: 404,
                ..Answer::ok(b"")
            },
        });
        let env = vec![("HTTP_PROXY".to_string(), proxy.url(""))];
        let url = "http://berth-add-test.invalid/via/proxy.txt";
        assert!(proxy_for("http", "berth-add-test.invalid", 80, &env).is_some());
        let t = tempfile::tempdir().unwrap();
        let d = download(url, t.path(), None, &env).unwrap();
        assert_eq!(std::fs::read(&d.path).unwrap(), b"proxied");
        assert_eq!(
            proxy.seen(),
            ["CONNECT berth-add-test.invalid:80", "GET /via/proxy.txt"]
        );

        // Loopback is never proxied: a proxy that is not there is not used.
        let dead = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let env = vec![("http_proxy".to_string(), format!("http://127.0.0.1:{dead}"))];
        let t = tempfile::tempdir().unwrap();
        let d = download(&proxy.url("/via/proxy.txt"), t.path(), None, &env).unwrap();
        assert_eq!(std::fs::read(&d.path).unwrap(), b"proxied");
    }

    #[test]
    fn http_dates_in_the_three_forms() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        assert_eq!(
            parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT"),
            UNIX_EPOCH.checked_sub(Duration::from_secs(1))
        );
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Mon, 30 Feb 2024 00:00:00 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
        assert!(parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT").is_some());
    }

    #[test]
    fn content_disposition_values() {
        let f = disposition_filename;
        assert_eq!(f("attachment; filename=a.txt").as_deref(), Some("a.txt"));
        assert_eq!(
            f("attachment;filename=\"b c.txt\"").as_deref(),
            Some("b c.txt")
        );
        assert_eq!(f("inline; FILENAME=\"x\\\"y\"").as_deref(), Some("x\"y"));
        assert_eq!(
            f("attachment; filename=plain.txt; filename*=UTF-8''%C3%A9t%C3%A9.txt").as_deref(),
            Some("été.txt")
        );
        assert_eq!(
            f("attachment; filename=\"../../etc/passwd\"").as_deref(),
            Some("passwd")
        );
        assert_eq!(f("attachment; filename=\"dir/\""), None);
        assert_eq!(f("attachment; filename=\"..\""), None);
        assert_eq!(f("attachment"), None);
        assert_eq!(f("attachment; filename=a; filename=b"), None);
        assert_eq!(f("attachment; filename=\"unterminated"), None);
        assert_eq!(f("; filename=a"), None);
    }
}
