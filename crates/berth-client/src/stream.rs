//! Streams: hijacked connections (attach, exec start), docker's 8-byte multiplexing
//! header on non-tty output, and JSON messages one after another (events, stats,
//! progress).

use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::net::Shutdown;

use serde::de::DeserializeOwned;

use crate::http::{BodyReader, Conn, Prefixed};
use crate::ClientError;

/// A hijacked connection: raw bytes both ways once the daemon has answered the
/// upgrade. Bytes the daemon sent right after its head are read first.
#[derive(Debug)]
pub struct HijackedStream {
    reader: Prefixed,
    writer: Conn,
}

impl HijackedStream {
    pub(crate) fn new(conn: Conn, rest: Vec<u8>) -> io::Result<HijackedStream> {
        let writer = conn.try_clone()?;
        Ok(HijackedStream {
            reader: Prefixed {
                buf: rest,
                pos: 0,
                inner: conn,
            },
            writer,
        })
    }

    /// Ends the input side (the container's stdin sees EOF) and keeps reading.
    pub fn close_write(&self) -> io::Result<()> {
        self.writer.shutdown(Shutdown::Write)
    }

    /// Splits into a reading half and a writing half, for two threads.
    pub fn split(self) -> (HijackedReader, HijackedWriter) {
        (HijackedReader(self.reader), HijackedWriter(self.writer))
    }
}

impl Read for HijackedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Write for HijackedStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// The reading half of a [`HijackedStream`].
#[derive(Debug)]
pub struct HijackedReader(Prefixed);

impl Read for HijackedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// The writing half of a [`HijackedStream`].
#[derive(Debug)]
pub struct HijackedWriter(Conn);

impl HijackedWriter {
    /// Ends the input side; the container's stdin sees EOF.
    pub fn close_write(&self) -> io::Result<()> {
        self.0.shutdown(Shutdown::Write)
    }
}

impl Write for HijackedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Which standard stream a multiplexed frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdin,
    Stdout,
    Stderr,
}

/// Frames of a multiplexed stream: each is an 8-byte header (stream, 0, 0, 0, and a
/// big-endian u32 length) and its payload.
pub struct Demux<R> {
    inner: R,
}

impl<R: Read> Demux<R> {
    pub fn new(inner: R) -> Self {
        Demux { inner }
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on EOF before the first byte.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the stream ended inside a frame",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

impl<R: Read> Iterator for Demux<R> {
    type Item = io::Result<(StdStream, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut header = [0u8; 8];
        match read_full(&mut self.inner, &mut header) {
            Ok(false) => return None,
            Ok(true) => {}
            Err(e) => return Some(Err(e)),
        }
        let stream = match header[0] {
            0 => StdStream::Stdin,
            1 => StdStream::Stdout,
            2 => StdStream::Stderr,
            other => {
                return Some(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown stream {other} in a multiplexed frame header"),
                )))
            }
        };
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut payload = vec![0u8; len];
        match read_full(&mut self.inner, &mut payload) {
            Ok(true) => Some(Ok((stream, payload))),
            Ok(false) if len == 0 => Some(Ok((stream, payload))),
            Ok(false) => Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stream ended inside a frame",
            ))),
            Err(e) => Some(Err(e)),
        }
    }
}

/// Copies a multiplexed stream to `stdout` and `stderr` (stdin frames go to stdout, as
/// docker does), flushing after every frame so interactive output shows at once.
pub fn demux_to(
    reader: impl Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> io::Result<()> {
    for frame in Demux::new(reader) {
        let (stream, data) = frame?;
        let out: &mut dyn Write = match stream {
            StdStream::Stderr => &mut *stderr,
            _ => &mut *stdout,
        };
        out.write_all(&data)?;
        out.flush()?;
    }
    Ok(())
}

/// Copies a raw (tty) stream, flushing after every read.
pub fn copy_raw(mut reader: impl Read, out: &mut dyn Write) -> io::Result<()> {
    let mut buf = [0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
}

/// JSON values one after another (newline-separated, or not separated at all), read
/// as they arrive.
pub struct JsonStream<T> {
    inner: serde_json::StreamDeserializer<'static, serde_json::de::IoRead<BodyReader>, T>,
    what: String,
    _t: PhantomData<T>,
}

impl<T: DeserializeOwned> JsonStream<T> {
    pub(crate) fn new(body: BodyReader, what: String) -> Self {
        JsonStream {
            inner: serde_json::Deserializer::from_reader(body).into_iter::<T>(),
            what,
            _t: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> Iterator for JsonStream<T> {
    type Item = Result<T, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|r| {
            r.map_err(|source| ClientError::Json {
                what: self.what.clone(),
                source,
            })
        })
    }
}
