//! Gigabytes of sparse padding cost neither memory nor disk: a GNU sparse entry
//! declaring 8 GiB, and a plain entry of zeros streamed from a generator, are extracted
//! with bounded memory (peak RSS from /proc/self/status) into sparse files.

use std::fs;
use std::io::{self, Cursor, Read};
use std::os::unix::fs::MetadataExt;

use berth_image::layer::apply::{apply_layer, ApplyOptions};
use tar::{EntryType, Header};

const GIB: u64 = 1 << 30;

fn peak_rss_mb() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024
}

fn end_of_archive() -> Vec<u8> {
    vec![0; 1024]
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn sparse_and_zero_padding_use_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();

    // 1. A GNU sparse entry: 8 GiB apparent size, 4 KiB of data at the very end.
    let real = 8 * GIB;
    let mut h = Header::new_gnu();
    h.set_entry_type(EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(4096);
    h.set_path("sparse").unwrap();
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.sparse[0].set_offset(real - 4096);
        gnu.sparse[0].set_length(4096);
        gnu.set_real_size(real);
    }
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend(vec![b'x'; 4096]);

    // 2. A plain entry of 512 MiB of zeros, generated as it is read.
    let zeros = 512 << 20;
    let mut z = Header::new_gnu();
    z.set_entry_type(EntryType::Regular);
    z.set_mode(0o644);
    z.set_uid(0);
    z.set_gid(0);
    z.set_mtime(0);
    z.set_size(zeros);
    z.set_path("zeros").unwrap();
    z.set_cksum();
    tar.extend_from_slice(z.as_bytes());
    let stream = Cursor::new(tar)
        .chain(io::repeat(0).take(zeros))
        .chain(Cursor::new(end_of_archive()));

    let root = tmp.path().join("root");
    let r = apply_layer(&root, stream, &ApplyOptions::default()).unwrap();
    assert_eq!(r.size, 512 + 4096 + 512 + zeros + 1024);

    let m = fs::metadata(root.join("sparse")).unwrap();
    assert_eq!(m.len(), real);
    assert!(
        m.blocks() * 512 < 64 << 20,
        "holes were written as data: {} blocks",
        m.blocks()
    );
    let mut f = fs::File::open(root.join("sparse")).unwrap();
    io::Seek::seek(&mut f, io::SeekFrom::Start(real - 4096)).unwrap();
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, vec![b'x'; 4096]);

    let m = fs::metadata(root.join("zeros")).unwrap();
    assert_eq!(m.len(), zeros);
    assert!(
        m.blocks() * 512 < 64 << 20,
        "zeros were written as data: {} blocks",
        m.blocks()
    );

    let peak = peak_rss_mb();
    assert!(peak < 200, "peak RSS {peak} MB");
}

#[test]
fn oversized_pax_header_is_rejected_without_buffering_it() {
    // A PAX header declaring 1 GiB of records must not be read into memory.
    let mut h = Header::new_ustar();
    h.set_entry_type(EntryType::XHeader);
    h.set_size(GIB);
    h.set_mode(0o644);
    h.set_path("pax").unwrap();
    h.set_cksum();
    let stream = Cursor::new(h.as_bytes().to_vec()).chain(io::repeat(b'a').take(GIB));
    let tmp = tempfile::tempdir().unwrap();
    let err = apply_layer(&tmp.path().join("r"), stream, &ApplyOptions::default()).unwrap_err();
    assert!(err.to_string().contains("exceeds"), "{err}");
    assert!(peak_rss_mb() < 200);
}
