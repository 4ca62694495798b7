//! `build`'s context, prepared as the docker CLI's classic builder prepares it:
//!
//! - a directory: its tar (berth-build's [`write_context`], honouring
//!   `.dockerignore` but always sending the Dockerfile and `.dockerignore`); a
//!   Dockerfile from outside it (`-f ../x`) or from stdin (`-f -`) is added under a
//!   generated name, `.dockerfile.<20 hex digits>`, which `.dockerignore` then lists so
//!   that COPY never sees it;
//! - `-`: stdin, a tar archive (plain or gzip/bzip2/xz/zstd, told by its first bytes)
//!   sent as it is, or else a Dockerfile, sent alone in a tar;
//! - an http(s) URL: left for the daemon to fetch (`remote=`).
//!
//! Everything that can be checked is checked before the request: the directory, the
//! Dockerfile, `.dockerignore`, every file to send. The tar itself is written by a
//! thread into a pipe as the request streams it; a failure there fails the read.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use berth_context::context::{check_context, dockerfile_in_context, write_context, ContextFilter};
use berth_context::ignore::Ignore;

/// The name the daemon looks for when none is given.
pub const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// Why the context could not be prepared, in the docker CLI's words.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("unable to prepare context: {0}")]
    Prepare(String),
    #[error("invalid argument: can't use stdin for both build context and dockerfile")]
    StdinTwice,
    #[error("error reading .dockerignore: {0}")]
    Ignore(String),
    #[error("error checking context: {0}")]
    Check(#[from] berth_context::context::ContextError),
    #[error("unable to open Dockerfile: {0}")]
    Dockerfile(String),
    #[error("reading standard input: {0}")]
    Stdin(io::Error),
}

/// A prepared context: what to send and what to tell the daemon about it.
pub struct Prepared {
    /// `dockerfile=`: the Dockerfile's path in the context.
    pub dockerfile: String,
    /// `remote=`: a URL the daemon fetches the context from; nothing is sent then.
    pub remote: Option<String>,
    /// The request body (None with `remote`).
    pub body: Option<ContextReader>,
}

/// `io::Error`'s text the way Go prints the common ones (`no such file or
/// directory`), without Rust's `(os error N)`.
fn os_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::NotADirectory => "not a directory".into(),
        io::ErrorKind::IsADirectory => "is a directory".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// A git repository URL, as the docker CLI tells one (`git://`, `git@`,
/// `github.com/`, or an http(s) URL whose path ends in `.git`).
pub fn is_git_url(s: &str) -> bool {
    if s.starts_with("git://") || s.starts_with("git@") || s.starts_with("github.com/") {
        return true;
    }
    if !is_url(s) {
        return false;
    }
    let path = s.split('#').next().unwrap_or(s);
    path.ends_with(".git")
}

/// An http(s) URL.
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Prepares the context named by `spec` (a directory, a URL, or `-`) with the
/// Dockerfile `file` (`-f`: relative to the working directory; `-`: stdin).
/// `stdin` is asked for only when the context or the Dockerfile comes from it.
pub fn prepare(
    spec: &str,
    file: Option<&str>,
    compress: bool,
    stdin: impl FnOnce() -> Option<Box<dyn Read + Send>>,
) -> Result<Prepared, ContextError> {
    let file = file.filter(|f| !f.is_empty());
    let dockerfile_from_stdin = file == Some("-");
    let no_stdin = || ContextError::Stdin(io::Error::other("standard input is not available"));
    if spec == "-" {
        if dockerfile_from_stdin {
            return Err(ContextError::StdinTwice);
        }
        return from_stdin(stdin().ok_or_else(no_stdin)?, file, compress);
    }
    if fs::metadata(spec).is_ok() {
        let extra = if dockerfile_from_stdin {
            let mut input = stdin().ok_or_else(no_stdin)?;
            let mut text = Vec::new();
            input.read_to_end(&mut text).map_err(ContextError::Stdin)?;
            Some(text)
        } else {
            None
        };
        return from_dir(Path::new(spec), file, extra, compress);
    }
    if is_git_url(spec) {
        return Err(ContextError::Prepare(format!(
            "{spec} is a git repository: berth does not build from git URLs; clone it and build the directory"
        )));
    }
    if is_url(spec) {
        if dockerfile_from_stdin {
            return Err(ContextError::Prepare(format!(
                "a Dockerfile from standard input cannot go with the remote context {spec}"
            )));
        }
        return Ok(Prepared {
            dockerfile: file.unwrap_or(DEFAULT_DOCKERFILE).to_string(),
            remote: Some(spec.to_string()),
            body: None,
        });
    }
    Err(ContextError::Prepare(format!("path {spec:?} not found")))
}

/// The Dockerfile of a directory context: `-f` (relative to the working directory),
/// else `Dockerfile` in it, else `dockerfile` if only that one exists.
fn locate_dockerfile(root: &Path, file: Option<&str>) -> Result<PathBuf, ContextError> {
    let given = match file {
        Some(f) => std::path::absolute(f).map_err(|e| {
            ContextError::Prepare(format!(
                "unable to get absolute path to Dockerfile: {}",
                os_text(&e)
            ))
        })?,
        None => {
            let default = root.join(DEFAULT_DOCKERFILE);
            let lower = root.join(DEFAULT_DOCKERFILE.to_lowercase());
            if fs::symlink_metadata(&default).is_err() && fs::symlink_metadata(&lower).is_ok() {
                lower
            } else {
                default
            }
        }
    };
    fs::canonicalize(&given).map_err(|e| {
        ContextError::Prepare(format!(
            "unable to evaluate symlinks in Dockerfile path: lstat {}: {}",
            given.display(),
            os_text(&e)
        ))
    })
}

fn from_dir(
    spec: &Path,
    file: Option<&str>,
    stdin_dockerfile: Option<Vec<u8>>,
    compress: bool,
) -> Result<Prepared, ContextError> {
    let root = fs::canonicalize(spec).map_err(|e| {
        ContextError::Prepare(format!(
            "unable to evaluate symlinks in context path: lstat {}: {}",
            spec.display(),
            os_text(&e)
        ))
    })?;
    if !root.is_dir() {
        return Err(ContextError::Prepare(format!(
            "context must be a directory: {}",
            root.display()
        )));
    }
    // The Dockerfile: its path in the context, or its text to add to it.
    let (inside, outside) = match stdin_dockerfile {
        Some(text) => (None, Some(text)),
        None => {
            let path = locate_dockerfile(&root, file)?;
            match dockerfile_in_context(&root, &path) {
                Some(rel) if !rel.is_empty() && rel != "." => (Some(rel), None),
                _ => {
                    let text = fs::read(&path).map_err(|e| {
                        ContextError::Dockerfile(format!(
                            "open {}: {}",
                            path.display(),
                            os_text(&e)
                        ))
                    })?;
                    (None, Some(text))
                }
            }
        }
    };
    let ignore_path = root.join(".dockerignore");
    let ignore_file = match fs::read(&ignore_path) {
        Ok(text) => Some((text, fs::metadata(&ignore_path).ok())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(ContextError::Ignore(format!(
                "{}: {}",
                ignore_path.display(),
                os_text(&e)
            )))
        }
    };
    let ignore_text = ignore_file
        .as_ref()
        .map(|(t, _)| String::from_utf8_lossy(t).into_owned())
        .unwrap_or_default();
    let mut keep = vec![".dockerignore".to_string()];
    keep.extend(inside.clone());
    let ignore = Ignore::parse(&ignore_text).map_err(|e| ContextError::Ignore(e.to_string()))?;
    check_context(
        &root,
        &ContextFilter {
            ignore: &ignore,
            keep: keep.clone(),
        },
    )?;

    let Some(dockerfile_text) = outside else {
        let dockerfile = inside.unwrap_or_else(|| DEFAULT_DOCKERFILE.to_string());
        let body = ContextReader::spawn(compress, move |w| {
            let filter = ContextFilter {
                ignore: &ignore,
                keep,
            };
            write_context(&root, &filter, w).map_err(|e| e.to_string())?;
            Ok(())
        })?;
        return Ok(Prepared {
            dockerfile,
            remote: None,
            body: Some(body),
        });
    };

    // As the docker CLI's AddDockerfileToBuildContext: the Dockerfile under a
    // random name, and that name appended to `.dockerignore` (made if missing).
    let name = format!(".dockerfile.{}", random_hex(10));
    let now = now_secs();
    let (ignore_mode, ignore_mtime, mut ignore_content) = match ignore_file {
        Some((text, meta)) => {
            use std::os::unix::fs::MetadataExt;
            let (mode, mtime) = meta
                .map(|m| (m.mode() & 0o7777, u64::try_from(m.mtime()).unwrap_or(0)))
                .unwrap_or((0o600, now));
            (mode, mtime, text)
        }
        None => (0o600, now, b".dockerignore".to_vec()),
    };
    ignore_content.extend_from_slice(format!("\n{name}\n").as_bytes());
    // The original `.dockerignore` stays out of the walk; its new text goes last.
    let without_ignore = Ignore::parse(&format!("{ignore_text}\n.dockerignore\n"))
        .map_err(|e| ContextError::Ignore(e.to_string()))?;
    let dockerfile = name.clone();
    let body = ContextReader::spawn(compress, move |w| {
        let filter = ContextFilter {
            ignore: &without_ignore,
            keep: Vec::new(),
        };
        let mut held = HoldBack::new(w);
        write_context(&root, &filter, &mut held).map_err(|e| e.to_string())?;
        let w = held.finish().map_err(|e| e.to_string())?;
        let mut tar = tar::Builder::new(w);
        let io = |e: io::Error| format!("adding the Dockerfile to the context: {e}");
        let mut h = file_header(ignore_mode, ignore_mtime, ignore_content.len());
        tar.append_data(&mut h, ".dockerignore", &ignore_content[..])
            .map_err(io)?;
        let mut h = file_header(0o600, now, dockerfile_text.len());
        tar.append_data(&mut h, &name, &dockerfile_text[..])
            .map_err(io)?;
        tar.into_inner().map_err(io)?;
        Ok(())
    })?;
    Ok(Prepared {
        dockerfile,
        remote: None,
        body: Some(body),
    })
}

fn file_header(mode: u32, mtime: u64, size: usize) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size as u64);
    h
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `n` random bytes as hex, from the kernel's generator (the time and pid if it
/// cannot be read: the name only has to be unlikely to clash with a file).
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_err()
    {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i * 8) % 128)) as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How an archive on stdin is compressed, told by its first bytes as the docker CLI
/// tells it; None for anything else.
pub fn compression(header: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| header.starts_with(magic);
    if starts(&[0x1f, 0x8b, 0x08]) {
        Some("gzip")
    } else if starts(b"BZh") {
        Some("bzip2")
    } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some("xz")
    } else if starts(&[0x28, 0xb5, 0x2f, 0xfd])
        || (header.len() >= 4
            && u32::from_le_bytes([header[0], header[1], header[2], header[3]]) & 0xffff_fff0
                == 0x184d_2a50)
    {
        Some("zstd")
    } else {
        None
    }
}

/// Whether `header` (the first 512 bytes, or fewer if that is all) starts an
/// archive: a compressed stream, or a tar header with a valid checksum.
pub fn is_archive(header: &[u8]) -> bool {
    if compression(header).is_some() {
        return true;
    }
    if header.len() < 512 || header[..512].iter().all(|&b| b == 0) {
        return false;
    }
    let field = String::from_utf8_lossy(&header[148..156]);
    let Ok(want) = i64::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in header[..512].iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    want == unsigned || want == signed
}

fn from_stdin(
    mut input: Box<dyn Read + Send>,
    file: Option<&str>,
    compress: bool,
) -> Result<Prepared, ContextError> {
    let mut head = Vec::with_capacity(512);
    (&mut input)
        .take(512)
        .read_to_end(&mut head)
        .map_err(ContextError::Stdin)?;
    if is_archive(&head) {
        let body = ContextReader::spawn(compress, move |w| {
            w.write_all(&head).map_err(|e| e.to_string())?;
            io::copy(&mut input, w).map_err(|e| format!("reading standard input: {e}"))?;
            Ok(())
        })?;
        return Ok(Prepared {
            dockerfile: file.unwrap_or(DEFAULT_DOCKERFILE).to_string(),
            remote: None,
            body: Some(body),
        });
    }
    // A Dockerfile: sent alone, as the docker CLI sends the temporary directory it
    // writes it to (whatever `-f` said).
    let mut text = head;
    input.read_to_end(&mut text).map_err(ContextError::Stdin)?;
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let body = ContextReader::spawn(compress, move |w| {
        let mut tar = tar::Builder::new(w);
        let mut h = file_header(0o644, now_secs(), text.len());
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        let io = |e: io::Error| format!("writing the Dockerfile's context: {e}");
        tar.append_data(&mut h, DEFAULT_DOCKERFILE, &text[..])
            .map_err(io)?;
        tar.into_inner().map_err(io)?;
        Ok(())
    })?;
    Ok(Prepared {
        dockerfile: DEFAULT_DOCKERFILE.to_string(),
        remote: None,
        body: Some(body),
    })
}

/// A writer that keeps back the last 1024 bytes written: the end-of-archive blocks
/// of a finished tar, dropped by [`HoldBack::finish`] so that entries can follow.
struct HoldBack<W: Write> {
    inner: W,
    held: Vec<u8>,
}

const TAR_END: usize = 1024;

impl<W: Write> HoldBack<W> {
    fn new(inner: W) -> Self {
        HoldBack {
            inner,
            held: Vec::with_capacity(2 * TAR_END),
        }
    }

    /// The inner writer, the held-back end blocks dropped.
    fn finish(self) -> io::Result<W> {
        if self.held.len() != TAR_END || self.held.iter().any(|&b| b != 0) {
            return Err(io::Error::other(
                "the context tar did not end as a tar ends",
            ));
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for HoldBack<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.held.extend_from_slice(buf);
        if self.held.len() > TAR_END {
            let n = self.held.len() - TAR_END;
            self.inner.write_all(&self.held[..n])?;
            self.held.drain(..n);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The context as a reader: a thread writes it (gzip-compressed with `--compress`)
/// into a pipe; its failure is this reader's error once the pipe runs dry, so a
/// broken context is never sent as a short one.
pub struct ContextReader {
    pipe: io::PipeReader,
    writer: Option<JoinHandle<Result<(), String>>>,
}

impl ContextReader {
    fn spawn(
        compress: bool,
        produce: impl FnOnce(&mut dyn Write) -> Result<(), String> + Send + 'static,
    ) -> Result<ContextReader, ContextError> {
        let (pipe, w) = io::pipe()
            .map_err(|e| ContextError::Prepare(format!("creating a pipe for the context: {e}")))?;
        let writer = std::thread::spawn(move || {
            let mut w = io::BufWriter::with_capacity(64 * 1024, w);
            if compress {
                let mut gz = flate2::write::GzEncoder::new(&mut w, flate2::Compression::default());
                produce(&mut gz)?;
                gz.finish()
                    .map_err(|e| format!("compressing the context: {e}"))?;
            } else {
                produce(&mut w)?;
            }
            w.flush().map_err(|e| e.to_string())
        });
        Ok(ContextReader {
            pipe,
            writer: Some(writer),
        })
    }
}

impl Read for ContextReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.pipe.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if let Some(w) = self.writer.take() {
                match w.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(io::Error::other(e)),
                    Err(_) => return Err(io::Error::other("the context's writer panicked")),
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries as (name, mode, size, content).
    fn entries(mut body: impl Read) -> Vec<(String, u32, u64, Vec<u8>)> {
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes).unwrap();
        let mut a = tar::Archive::new(&bytes[..]);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mode = e.header().mode().unwrap();
                let size = e.header().size().unwrap();
                let mut content = Vec::new();
                e.read_to_end(&mut content).unwrap();
                (name, mode, size, content)
            })
            .collect()
    }

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("ctx/sub")).unwrap();
        fs::write(r.join("ctx/Dockerfile"), "FROM busybox\n").unwrap();
        fs::write(r.join("ctx/sub/a"), "a\n").unwrap();
        fs::write(r.join("ctx/secret"), "s\n").unwrap();
        fs::write(r.join("ctx/.dockerignore"), "secret\nDockerfile\n").unwrap();
        fs::write(r.join("outside.Dockerfile"), "FROM scratch\n").unwrap();
        t
    }

    fn no_stdin() -> Option<Box<dyn Read + Send>> {
        None
    }

    #[test]
    fn a_directory_sends_its_tar_with_the_build_files_kept() {
        let t = tree();
        let ctx = t.path().join("ctx");
        let p = prepare(ctx.to_str().unwrap(), None, false, no_stdin).unwrap();
        assert_eq!(p.dockerfile, "Dockerfile");
        assert!(p.remote.is_none());
        let names: Vec<String> = entries(p.body.unwrap()).into_iter().map(|e| e.0).collect();
        assert_eq!(names, [".dockerignore", "Dockerfile", "sub/", "sub/a"]);
    }

    #[test]
    fn an_outside_dockerfile_goes_in_under_a_generated_name_listed_in_dockerignore() {
        let t = tree();
        let ctx = t.path().join("ctx");
        let df = t.path().join("outside.Dockerfile");
        let p = prepare(
            ctx.to_str().unwrap(),
            Some(df.to_str().unwrap()),
            false,
            no_stdin,
        )
        .unwrap();
        let name = p.dockerfile.clone();
        let hex = name.strip_prefix(".dockerfile.").unwrap();
        assert_eq!(hex.len(), 20);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        let got = entries(p.body.unwrap());
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        // The context's own Dockerfile is ignored (it is not the one used).
        assert_eq!(names, ["sub/", "sub/a", ".dockerignore", name.as_str()]);
        assert_eq!(
            got[2].3,
            format!("secret\nDockerfile\n\n{name}\n").into_bytes()
        );
        assert_eq!(got[2].1, 0o644);
        assert_eq!(
            (got[3].1, got[3].3.as_slice()),
            (0o600, &b"FROM scratch\n"[..])
        );
    }

    #[test]
    fn a_dockerfile_from_stdin_goes_with_the_directory_and_a_new_dockerignore() {
        let t = tree();
        let ctx = t.path().join("ctx");
        fs::remove_file(ctx.join(".dockerignore")).unwrap();
        let stdin = || -> Option<Box<dyn Read + Send>> { Some(Box::new(&b"FROM x\n"[..])) };
        let p = prepare(ctx.to_str().unwrap(), Some("-"), false, stdin).unwrap();
        let got = entries(p.body.unwrap());
        let ignore = got.iter().find(|e| e.0 == ".dockerignore").unwrap();
        assert_eq!(
            ignore.3,
            format!(".dockerignore\n{}\n", p.dockerfile).into_bytes()
        );
        assert_eq!(ignore.1, 0o600);
        let df = got.iter().find(|e| e.0 == p.dockerfile).unwrap();
        assert_eq!(df.3, b"FROM x\n");
        // The directory's Dockerfile and secret are sent: nothing ignores them now.
        assert!(got.iter().any(|e| e.0 == "Dockerfile"));
        assert!(got.iter().any(|e| e.0 == "secret"));
    }

    #[test]
    fn stdin_is_an_archive_when_it_starts_as_one_else_a_dockerfile() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = file_header(0o640, 1, 2);
        b.append_data(&mut h, "x", &b"hi"[..]).unwrap();
        let tar_bytes = b.into_inner().unwrap();
        assert!(is_archive(&tar_bytes[..512]));
        let gz = [0x1f, 0x8b, 0x08, 0, 0];
        assert_eq!(compression(&gz), Some("gzip"));
        assert_eq!(compression(b"BZh91AY"), Some("bzip2"));
        assert_eq!(
            compression(&[0xfd, b'7', b'z', b'X', b'Z', 0, 1]),
            Some("xz")
        );
        assert_eq!(compression(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some("zstd"));
        assert_eq!(compression(b"FROM busybox"), None);
        assert!(!is_archive(b"FROM busybox\n"));
        assert!(!is_archive(&[0u8; 512]));
        let mut bad = tar_bytes[..512].to_vec();
        bad[0] ^= 1;
        assert!(!is_archive(&bad), "a wrong checksum is not a tar");

        let sent = tar_bytes.clone();
        let p = prepare("-", Some("sub/Dockerfile"), false, move || {
            Some(Box::new(io::Cursor::new(sent)) as Box<dyn Read + Send>)
        })
        .unwrap();
        assert_eq!(p.dockerfile, "sub/Dockerfile");
        let mut body = Vec::new();
        p.body.unwrap().read_to_end(&mut body).unwrap();
        assert_eq!(body, tar_bytes, "an archive goes as it came");

        let p = prepare("-", Some("ignored"), false, || {
            Some(Box::new(&b"FROM busybox\nRUN true\n"[..]) as Box<dyn Read + Send>)
        })
        .unwrap();
        assert_eq!(p.dockerfile, "Dockerfile");
        let got = entries(p.body.unwrap());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "Dockerfile");
        assert_eq!(got[0].3, b"FROM busybox\nRUN true\n");
    }

    #[test]
    fn urls_are_left_to_the_daemon_and_git_is_refused() {
        let p = prepare("https://example.com/ctx.tar.gz", None, false, no_stdin).unwrap();
        assert_eq!(p.remote.as_deref(), Some("https://example.com/ctx.tar.gz"));
        assert!(p.body.is_none());
        for git in [
            "https://github.com/a/b.git",
            "https://example.com/a/b.git#main:dir",
            "git@github.com:a/b",
            "github.com/a/b",
            "git://example.com/x",
        ] {
            let e = prepare(git, None, false, no_stdin).err().unwrap();
            assert!(e.to_string().contains("git"), "{git}: {e}");
        }
    }

    #[test]
    fn errors_name_what_is_at_fault_before_anything_is_written() {
        let t = tree();
        let ctx = t.path().join("ctx");
        let e = prepare("/nonexistent/ctx", None, false, no_stdin)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "unable to prepare context: path \"/nonexistent/ctx\" not found"
        );
        let e = prepare(
            t.path().join("outside.Dockerfile").to_str().unwrap(),
            None,
            false,
            no_stdin,
        )
        .err()
        .unwrap();
        assert!(
            e.to_string()
                .starts_with("unable to prepare context: context must be a directory: "),
            "{e}"
        );
        let missing = t.path().join("nope");
        let e = prepare(
            ctx.to_str().unwrap(),
            Some(missing.to_str().unwrap()),
            false,
            no_stdin,
        )
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                missing.display()
            )
        );
        let e = prepare("-", Some("-"), false, no_stdin).err().unwrap();
        assert!(matches!(e, ContextError::StdinTwice), "{e}");
        fs::remove_file(ctx.join("Dockerfile")).unwrap();
        fs::write(ctx.join("dockerfile"), "FROM x\n").unwrap();
        let p = prepare(ctx.to_str().unwrap(), None, false, no_stdin).unwrap();
        assert_eq!(
            p.dockerfile, "dockerfile",
            "the lower-case name is found too"
        );
    }

    #[test]
    fn a_failure_while_writing_fails_the_read() {
        let mut r = ContextReader::spawn(false, |w| {
            w.write_all(b"partial").map_err(|e| e.to_string())?;
            Err("reading /ctx/file: gone".into())
        })
        .unwrap();
        let mut got = Vec::new();
        let e = r.read_to_end(&mut got).unwrap_err();
        assert!(e.to_string().contains("/ctx/file"), "{e}");
        assert_eq!(got, b"partial");
    }

    #[test]
    fn compressed_contexts_are_gzip() {
        let t = tree();
        let ctx = t.path().join("ctx");
        let p = prepare(ctx.to_str().unwrap(), None, true, no_stdin).unwrap();
        let mut body = Vec::new();
        p.body.unwrap().read_to_end(&mut body).unwrap();
        assert_eq!(compression(&body), Some("gzip"));
        let names: Vec<String> = entries(flate2::read::GzDecoder::new(&body[..]))
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(names, [".dockerignore", "Dockerfile", "sub/", "sub/a"]);
    }
}
