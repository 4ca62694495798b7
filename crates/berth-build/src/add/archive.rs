//! Whether a local ADD source is a tar archive (plain or compressed), and its tar
//! stream when it is. dockerd decides as `archive.IsArchivePath` does: the compression
//! is told by the first bytes (bzip2, gzip, xz, zstd, in that order), and the
//! decompressed data is a tar when its first header reads (a good checksum and
//! numeric fields that parse). A file named `x.tar.gz` that is not one is copied as a
//! file; a tarball named `data.bin` is extracted.

use berth_image::read_full;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A tar block, and so the size of a header.
const BLOCK: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    Plain,
    Bzip2,
    Gzip,
    Xz,
    Zstd,
}

/// The compression the first bytes announce (moby's go-archive `Detect`).
fn detect(head: &[u8]) -> Compression {
    const ZSTD_SKIPPABLE: u32 = 0x184D_2A50;
    if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Compression::Gzip
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        // A skippable frame (magic 0x184D2A50 to 0x184D2A5F) may come first.
        || (head.len() >= 8
            && u32::from_le_bytes([head[0], head[1], head[2], head[3]]) & 0xffff_fff0
                == ZSTD_SKIPPABLE)
    {
        Compression::Zstd
    } else {
        Compression::Plain
    }
}

/// A reader of `r` decompressed by what its first bytes announce (gzip, bzip2, xz,
/// zstd; anything else passes through), for a stream that cannot be read twice (a
/// build context arriving as a request body).
pub fn decompressed<'a, R: Read + Send + 'a>(mut r: R) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut magic = [0u8; 8];
    let n = read_full(&mut r, &mut magic)?;
    let c = detect(&magic[..n]);
    decoder(c, Cursor::new(magic[..n].to_vec()).chain(r))
}

/// The decompressing reader for `c` over `r`. The Multi decoders read concatenated
/// members/streams to the end, as Go's gzip and bzip2 readers do (and xz and zstd do
/// by design).
fn decoder<'a, R: Read + Send + 'a>(c: Compression, r: R) -> io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match c {
        Compression::Plain => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Compression::Xz => Box::new(lzma_rust2::XzReader::new(BufReader::new(r), true)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
    })
}

/// ADD's rule for a local file: when `path` is a tar archive, plain or compressed with
/// gzip, bzip2, xz or zstd, a reader of its uncompressed tar stream (from the first
/// byte: the header that was checked is read again); `None` when it is anything else
/// (not a regular file, too short, not compressed in a way ADD knows, or not a tar
/// once decompressed), which ADD copies as a file.
///
/// Errors (the file cannot be opened or read), and errors of the returned reader (a
/// truncated or corrupt archive found while extracting), name `path`.
pub fn open_archive(path: &Path) -> io::Result<Option<Box<dyn Read + Send>>> {
    let named = |e: io::Error| name_error(path, e);
    let meta = std::fs::metadata(path).map_err(named)?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut file = File::open(path).map_err(named)?;
    let mut magic = [0u8; 8];
    let n = read_full(&mut file, &mut magic).map_err(named)?;
    file.seek(SeekFrom::Start(0)).map_err(named)?;
    let mut stream = decoder(detect(&magic[..n]), file).map_err(named)?;
    let mut head = vec![0u8; BLOCK];
    let got = match read_full(&mut stream, &mut head) {
        Ok(got) => got,
        // The disk failed: that is an error, not a verdict on the file.
        Err(e) if e.raw_os_error().is_some() => return Err(named(e)),
        // The decompressor refused the data: dockerd then copies the file as it is.
        Err(_) => return Ok(None),
    };
    if got < BLOCK || !is_tar_header(&head) {
        return Ok(None);
    }
    Ok(Some(Box::new(Named {
        inner: Cursor::new(head).chain(stream),
        path: path.to_path_buf(),
    })))
}

fn name_error(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Whether a block is a tar header as Go's `tar.Reader.Next` accepts one: the stored
/// checksum matches the unsigned or the signed sum of the block (its own field
/// counted as spaces), and mode, uid, gid, size and mtime parse, the size not
/// negative. The magic is not required: a pre-POSIX (v7) header is a tar to Go too.
/// A block of zeros fails the checksum, so an empty archive is not one.
fn is_tar_header(b: &[u8]) -> bool {
    if b.len() < BLOCK {
        return false;
    }
    let Some(stored) = octal(&b[148..156]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &x) in b[..BLOCK].iter().enumerate() {
        let x = if (148..156).contains(&i) { b' ' } else { x };
        unsigned += u64::from(x);
        signed += i64::from(x as i8);
    }
    if stored != unsigned && i64::try_from(stored) != Ok(signed) {
        return false;
    }
    let fields = [(100, 108), (108, 116), (116, 124), (136, 148)];
    fields.iter().all(|&(s, e)| numeric(&b[s..e]).is_some())
        && numeric(&b[124..136]).is_some_and(|size| size >= 0)
}

/// A numeric header field: base-256 when the high bit of its first byte is set (GNU's
/// form for large values; the next bit is the sign), octal otherwise.
fn numeric(f: &[u8]) -> Option<i128> {
    match f.first() {
        Some(&first) if first & 0x80 != 0 => {
            let negative = first & 0x40 != 0;
            let mut v: i128 = i128::from(first & 0x3f) - if negative { 0x40 } else { 0 };
            for &x in &f[1..] {
                v = v.checked_mul(256)?.checked_add(i128::from(x))?;
            }
            Some(v)
        }
        _ => octal(f).map(i128::from),
    }
}

/// An octal field as Go's tar reader reads one: spaces and NULs trimmed from both
/// ends, cut at a NUL inside, empty meaning 0.
fn octal(f: &[u8]) -> Option<u64> {
    let blank = |c: &u8| *c == b' ' || *c == 0;
    let Some(start) = f.iter().position(|c| !blank(c)) else {
        return Some(0);
    };
    let end = f.iter().rposition(|c| !blank(c)).map_or(f.len(), |e| e + 1);
    let t = &f[start..end];
    let t = &t[..t.iter().position(|&c| c == 0).unwrap_or(t.len())];
    t.iter().try_fold(0u64, |v, &c| {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v.checked_mul(8)?.checked_add(u64::from(c - b'0'))
    })
}

/// A reader whose errors name the archive they come from.
struct Named<R> {
    inner: R,
    path: PathBuf,
}

impl<R: Read> Read for Named<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                e
            } else {
                name_error(&self.path, e)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Bytes that do not compress (a xorshift sequence), so a compressed archive is
    /// long enough to cut in the middle of its content.
    fn noise(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// A tar with a directory, a small file and a 64 KiB one, with headers of `kind`.
    fn tar_of(kind: &str) -> Vec<u8> {
        tar_sized(kind, 64 * 1024)
    }

    fn tar_sized(kind: &str, big: usize) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let entries: [(&str, Vec<u8>); 3] = [
            ("dir/", Vec::new()),
            ("dir/hello.txt", b"hello\n".to_vec()),
            ("big.bin", noise(big)),
        ];
        for (name, data) in entries {
            let mut h = match kind {
                "gnu" => tar::Header::new_gnu(),
                "ustar" => tar::Header::new_ustar(),
                _ => tar::Header::new_old(),
            };
            if name.ends_with('/') {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
            } else {
                h.set_mode(0o644);
            }
            h.set_size(data.len() as u64);
            h.set_mtime(1_700_000_000);
            b.append_data(&mut h, name, data.as_slice()).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn bzip2(data: &[u8]) -> Vec<u8> {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut e =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::encode_all(data, 1).unwrap()
    }

    fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    /// The entries of the tar stream `open_archive` gives: (path, content).
    fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
        let r = open_archive(path)
            .unwrap()
            .unwrap_or_else(|| panic!("{} not taken for an archive", path.display()));
        let mut a = tar::Archive::new(r);
        let mut out = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.push((name, data));
        }
        out
    }

    fn assert_whole(got: &[(String, Vec<u8>)]) {
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["dir/", "dir/hello.txt", "big.bin"]);
        assert_eq!(got[1].1, b"hello\n");
        assert_eq!(got[2].1, noise(64 * 1024));
    }

    #[test]
    fn every_form_is_extracted_whatever_its_name() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of("gnu");
        // Names that say nothing (or lie): only the bytes count.
        let forms: [(&str, Vec<u8>); 5] = [
            ("plain.bin", tar.clone()),
            ("gzip.txt", gzip(&tar)),
            ("bzip2", bzip2(&tar)),
            ("xz.zip", xz(&tar)),
            ("zstd.tar.gz", zstd(&tar)),
        ];
        for (name, data) in forms {
            let p = write(t.path(), name, &data);
            assert_whole(&entries(&p));
        }
    }

    #[test]
    fn ustar_and_v7_headers_are_tars_too() {
        let t = tempfile::tempdir().unwrap();
        for kind in ["ustar", "v7"] {
            let p = write(t.path(), kind, &gzip(&tar_of(kind)));
            assert_whole(&entries(&p));
        }
    }

    #[test]
    fn concatenated_members_and_a_skippable_zstd_frame_are_read() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of("gnu");
        let (a, b) = tar.split_at(tar.len() / 2 + 7);
        let two = [gzip(a), gzip(b)].concat();
        assert_whole(&entries(&write(t.path(), "two.gz", &two)));
        let two = [bzip2(a), bzip2(b)].concat();
        assert_whole(&entries(&write(t.path(), "two.bz2", &two)));
        // A skippable frame: magic 0x184D2A5E, 4 bytes of length, that many bytes.
        let mut skip = vec![0x5e, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3];
        skip.extend(zstd(&tar));
        assert_whole(&entries(&write(t.path(), "skip.zst", &skip)));
    }

    #[test]
    fn what_is_not_a_tar_is_copied() {
        let t = tempfile::tempdir().unwrap();
        let text = b"just some text, not an archive\n".repeat(40);
        let cases: [(&str, Vec<u8>); 8] = [
            ("text.tar", text.clone()),
            ("text.tar.gz", gzip(&text)),
            ("text.tar.bz2", bzip2(&text)),
            ("text.tar.xz", xz(&text)),
            ("text.tar.zst", zstd(&text)),
            ("empty.tar", Vec::new()),
            ("tiny.tar", b"BZh".to_vec()),
            // An empty archive is two zero blocks: Go's reader finds no entry.
            (
                "none.tar",
                tar::Builder::new(Vec::new()).into_inner().unwrap(),
            ),
        ];
        for (name, data) in cases {
            let p = write(t.path(), name, &data);
            assert!(
                open_archive(&p).unwrap().is_none(),
                "{name} taken for an archive"
            );
        }
        assert!(open_archive(t.path()).unwrap().is_none(), "a directory");
    }

    #[test]
    fn a_bad_checksum_or_field_is_no_tar() {
        let t = tempfile::tempdir().unwrap();
        let good = tar_of("gnu");
        let mut renamed = good.clone();
        renamed[0] = b'X';
        assert!(open_archive(&write(t.path(), "sum", &renamed))
            .unwrap()
            .is_none());
        // A size field that is not octal, with the checksum made right again.
        let mut bad = good.clone();
        bad[124] = b'9';
        let sum: u32 = bad[..512]
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(x)
                }
            })
            .sum();
        bad[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        assert!(open_archive(&write(t.path(), "size", &bad))
            .unwrap()
            .is_none());
        // The same rewrite of the checksum, on a good size, keeps it a tar.
        let mut same = good.clone();
        let sum: u32 = same[..512]
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(x)
                }
            })
            .sum();
        same[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        assert!(open_archive(&write(t.path(), "same", &same))
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_truncated_archive_fails_while_extracting_and_names_the_file() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of("gnu");
        // bzip2, xz and zstd give nothing before a whole block (100 KiB here), LZMA2
        // chunk (up to 64 KiB) or zstd block (up to 128 KiB) is read: these are cut
        // after the first.
        let blocks = tar_sized("gnu", 300 * 1024);
        for (name, data) in [
            ("cut.tar", tar.clone()),
            ("cut.tar.gz", gzip(&tar)),
            ("cut.tar.bz2", bzip2(&blocks)),
            ("cut.tar.xz", xz(&blocks)),
            ("cut.tar.zst", zstd(&blocks)),
        ] {
            // Cut in the middle of big.bin: the first header is whole, so this is an
            // archive (as to dockerd), and extracting it must fail, not stop early.
            let p = write(t.path(), name, &data[..data.len() / 2]);
            let r = open_archive(&p).unwrap().expect(name);
            let mut a = tar::Archive::new(r);
            let err = (|| -> io::Result<()> {
                for e in a.entries()? {
                    io::copy(&mut e?, &mut io::sink())?;
                }
                Ok(())
            })()
            .expect_err(name)
            .to_string();
            if name != "cut.tar" {
                // The decompressor's complaint, named (the tar crate words a plain
                // tar's short read itself).
                assert!(err.contains(&p.display().to_string()), "{name}: {err}");
            }
        }
        // Cut before the first header is whole: not a tar, copied as a file.
        let p = write(t.path(), "short.tar", &tar[..300]);
        assert!(open_archive(&p).unwrap().is_none());
        let gz = gzip(&tar);
        let p = write(t.path(), "short.tar.gz", &gz[..20]);
        assert!(open_archive(&p).unwrap().is_none());
        // Cut inside the first block or chunk: nothing to read a header from.
        for (name, data) in [
            ("short.tar.bz2", bzip2(&tar)),
            ("short.tar.xz", xz(&tar)),
            ("short.tar.zst", zstd(&tar)),
        ] {
            let p = write(t.path(), name, &data[..data.len() / 2]);
            assert!(open_archive(&p).unwrap().is_none(), "{name}");
        }
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("absent.tar");
        let e = open_archive(&p).err().expect("an error");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");
    }

    #[test]
    fn detection_follows_the_magic_bytes() {
        assert_eq!(detect(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(detect(&[0x1f, 0x8b, 0x08, 0]), Compression::Gzip);
        // gzip's magic with another method is not gzip to Go.
        assert_eq!(detect(&[0x1f, 0x8b, 0x07, 0]), Compression::Plain);
        assert_eq!(detect(&[0xfd, b'7', b'z', b'X', b'Z', 0]), Compression::Xz);
        assert_eq!(detect(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(
            detect(&[0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]),
            Compression::Zstd
        );
        assert_eq!(detect(&[0x50, 0x2a, 0x4d, 0x18]), Compression::Plain);
        assert_eq!(detect(b""), Compression::Plain);
    }
}
