//! gzip for layers that are stored uncompressed (commits, imports, `docker load`ed
//! archives) and leave by a push: compressed on the way out, on every core.
//!
//! The tar is cut into blocks; each block is deflated by one of the worker threads as
//! a raw deflate run primed with the previous block's last 32 KiB (so matches reach
//! back across the cut, and the ratio is that of one stream) and ended with a sync
//! flush — or, for the last block, a final block. The runs concatenate into a single
//! deflate stream, framed by one gzip header and a trailer carrying the CRC-32 of the
//! whole (each block's CRC, combined in order). The result is one ordinary gzip
//! member, which any gzip reader takes, and the same input always gives the same
//! bytes, so a layer pushed twice has one digest. flate2 (over zlib-rs) does the
//! deflating; the framing is what is ours.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Input bytes per block.
pub const BLOCK: usize = 1 << 20;
/// The deflate window: what a block is primed with from the one before.
const WINDOW: usize = 32 << 10;
/// The gzip header: magic, deflate, no flags, no mtime, no extra flags, unknown OS —
/// constant, so the output depends on the input only.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

struct Job {
    seq: u64,
    dict: Vec<u8>,
    data: Vec<u8>,
    last: bool,
}

struct Done {
    seq: u64,
    out: Vec<u8>,
    crc: Crc,
    last: bool,
}

/// A reader of `src` gzip-compressed at `level` by `threads` workers.
pub struct ParallelGzip {
    results: Receiver<io::Result<Done>>,
    pending: BTreeMap<u64, Done>,
    next: u64,
    crc: Crc,
    buf: Vec<u8>,
    pos: usize,
    finished: bool,
}

impl ParallelGzip {
    pub fn new(src: impl Read + Send + 'static, level: u32, threads: usize) -> ParallelGzip {
        let threads = threads.max(1);
        let (job_tx, job_rx) = sync_channel::<Job>(threads);
        let (res_tx, res_rx) = sync_channel::<io::Result<Done>>(threads * 2);
        let jobs = Arc::new(Mutex::new(job_rx));
        for _ in 0..threads {
            let jobs = jobs.clone();
            let res = res_tx.clone();
            std::thread::spawn(move || worker(&jobs, &res, level));
        }
        std::thread::spawn(move || reader(src, &job_tx, &res_tx));
        ParallelGzip {
            results: res_rx,
            pending: BTreeMap::new(),
            next: 0,
            crc: Crc::new(),
            buf: HEADER.to_vec(),
            pos: 0,
            finished: false,
        }
    }

    /// Fills `buf` with the next compressed bytes; false at the end.
    fn refill(&mut self) -> io::Result<bool> {
        if self.finished {
            return Ok(false);
        }
        let done = loop {
            if let Some(d) = self.pending.remove(&self.next) {
                break d;
            }
            match self.results.recv() {
                Ok(Ok(d)) => {
                    self.pending.insert(d.seq, d);
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::other(
                        "the gzip workers stopped before the end of the layer",
                    ))
                }
            }
        };
        self.next += 1;
        self.crc.combine(&done.crc);
        self.buf = done.out;
        self.pos = 0;
        if done.last {
            self.finished = true;
            self.buf.extend_from_slice(&self.crc.sum().to_le_bytes());
            self.buf.extend_from_slice(&self.crc.amount().to_le_bytes());
        }
        Ok(true)
    }
}

impl Read for ParallelGzip {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads `r` until `buf` is full or the input ends.
fn fill(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut filled = 0;
    buf.resize(BLOCK, 0);
    while filled < BLOCK {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(())
}

/// Cuts the input into jobs; a block is sent once the next one is read, so the last
/// one is known. A read error goes to the consumer.
fn reader(mut src: impl Read, jobs: &SyncSender<Job>, results: &SyncSender<io::Result<Done>>) {
    let mut cur = Vec::new();
    if let Err(e) = fill(&mut src, &mut cur) {
        let _ = results.send(Err(e));
        return;
    }
    let mut seq = 0;
    let mut dict = Vec::new();
    loop {
        let mut next = Vec::new();
        if !cur.is_empty() {
            if let Err(e) = fill(&mut src, &mut next) {
                let _ = results.send(Err(e));
                return;
            }
        }
        let last = next.is_empty();
        let next_dict = cur[cur.len().saturating_sub(WINDOW)..].to_vec();
        let job = Job {
            seq,
            dict: std::mem::replace(&mut dict, next_dict),
            data: std::mem::replace(&mut cur, next),
            last,
        };
        if jobs.send(job).is_err() || last {
            return;
        }
        seq += 1;
    }
}

fn worker(jobs: &Mutex<Receiver<Job>>, results: &SyncSender<io::Result<Done>>, level: u32) {
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|p| p.into_inner());
            match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let done = deflate_block(&job, level).map(|out| {
            let mut crc = Crc::new();
            crc.update(&job.data);
            Done {
                seq: job.seq,
                out,
                crc,
                last: job.last,
            }
        });
        if results.send(done).is_err() {
            return;
        }
    }
}

/// One block as a raw deflate run: primed with `dict`, ended by a sync flush (or the
/// final block).
fn deflate_block(job: &Job, level: u32) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    if !job.dict.is_empty() {
        c.set_dictionary(&job.dict)
            .map_err(|e| io::Error::other(format!("priming the deflate window: {e}")))?;
    }
    let flush = if job.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(job.data.len() / 2 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 << 10));
        }
        let status = c
            .compress_vec(&job.data[consumed..], &mut out, flush)
            .map_err(|e| io::Error::other(format!("deflating a layer block: {e}")))?;
        let all_in = c.total_in() as usize == job.data.len();
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once all input is in and room was left over.
            _ if !job.last && all_in && out.len() < out.capacity() => return Ok(out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: text-like runs with a pseudo-random walk.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 7 == 0 {
                    b'a' + (x % 26) as u8
                } else {
                    b"the quick brown fox "[i % 20]
                }
            })
            .collect()
    }

    fn gz(data: Vec<u8>, threads: usize) -> Vec<u8> {
        let mut out = Vec::new();
        ParallelGzip::new(io::Cursor::new(data), 6, threads)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn one_gzip_member_that_decompresses_to_the_input() {
        for len in [0, 1, 1000, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 12_345] {
            let data = sample(len);
            let z = gz(data.clone(), 3);
            // A single-member decoder reads it whole: one member, not several.
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&z[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back.len(), data.len(), "length {len}");
            assert!(back == data, "content of length {len}");
            let mut rest = Vec::new();
            let mut d = flate2::read::GzDecoder::new(&z[..]);
            d.read_to_end(&mut rest).unwrap();
            assert!(d.into_inner().is_empty(), "trailing bytes after the member");
        }
    }

    #[test]
    fn deterministic_whatever_the_thread_count() {
        let data = sample(2 * BLOCK + 777);
        let a = gz(data.clone(), 1);
        assert_eq!(a, gz(data.clone(), 2));
        assert_eq!(a, gz(data, 4));
    }

    #[test]
    fn priming_keeps_the_ratio_of_one_stream() {
        let data = sample(4 * BLOCK);
        let ours = gz(data.clone(), 2).len();
        let mut one = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        std::io::Write::write_all(&mut one, &data).unwrap();
        let one = one.finish().unwrap().len();
        assert!(ours <= one + one / 100, "{ours} vs {one}");
    }

    #[test]
    fn a_read_error_reaches_the_consumer() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(7);
                self.0 -= n;
                Ok(n)
            }
        }
        let mut out = Vec::new();
        let e = ParallelGzip::new(Broken(BLOCK + 5), 6, 2)
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(e.to_string().contains("disk on fire"), "{e}");
    }
}
