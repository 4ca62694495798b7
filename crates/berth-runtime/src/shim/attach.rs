//! The attach stream's byte-level rules, kept pure so they are unit-tested: Docker's
//! 8-byte frame header on output when there is no tty; the detach-key sequence an
//! attacher types to leave is berth-types' `detach`.

/// Output stream ids as Docker's attach stream numbers them.
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// Append `data` to `out` framed as Docker's multiplexed stream: `[stream, 0, 0, 0,
/// len (u32 big-endian)]` then the payload.
pub fn frame(stream: u8, data: &[u8], out: &mut Vec<u8>) {
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

pub use berth_types::detach::{parse_detach_keys, DetachMatcher};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_like_docker() {
        let mut v = Vec::new();
        frame(STDERR, b"err\n", &mut v);
        assert_eq!(v, [2, 0, 0, 0, 0, 0, 0, 4, b'e', b'r', b'r', b'\n']);
    }
}
