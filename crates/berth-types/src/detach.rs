//! Docker's detach keys: the `--detach-keys` syntax (`ctrl-p,ctrl-q`) and a matcher
//! that follows typed input through the sequence. Shared by the shim, which detaches
//! the attacher, and the CLI, which tells a detach from the container's exit.

/// Docker's default detach sequence: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// Parse Docker's detach-keys syntax: comma-separated `ctrl-<x>` or single
/// characters (`"ctrl-p,ctrl-q"`, `"ctrl-a,a"`). Empty means the default.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>, String> {
    if s.is_empty() {
        return Ok(DEFAULT_DETACH_KEYS.to_vec());
    }
    let mut keys = Vec::new();
    for part in s.split(',') {
        let b = part.as_bytes();
        if b.len() == 1 {
            keys.push(b[0]);
            continue;
        }
        let lower = part.to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix("ctrl-") else {
            return Err(format!(
                "invalid detach keys {s:?}: unknown character {part:?}"
            ));
        };
        let key = match rest.as_bytes() {
            [c @ b'a'..=b'z'] => c - b'a' + 1,
            [b'@'] => 0,
            [b'['] => 27,
            [b'\\'] => 28,
            [b']'] => 29,
            [b'^'] => 30,
            [b'_'] => 31,
            _ => return Err(format!("invalid detach keys {s:?}: unknown key {part:?}")),
        };
        keys.push(key);
    }
    Ok(keys)
}

/// Follows an attacher's input through the detach sequence. Bytes that might start the
/// sequence are held back; if the sequence completes they are swallowed, otherwise they
/// are passed on with what follows (as Docker's escape proxy does).
#[derive(Debug, Clone)]
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> DetachMatcher {
        DetachMatcher { keys, matched: 0 }
    }

    /// Feed input; bytes to forward are appended to `out`. Returns true when the whole
    /// sequence has been typed (input after it is dropped: the attacher is leaving).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return true;
                }
                continue;
            }
            if self.matched > 0 {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
            }
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return true;
                }
            } else {
                out.push(b);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_key_syntax() {
        assert_eq!(parse_detach_keys("").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(
            parse_detach_keys("ctrl-a,x,ctrl-@").unwrap(),
            vec![1, b'x', 0]
        );
        assert_eq!(parse_detach_keys("ctrl-\\").unwrap(), vec![28]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }

    #[test]
    fn detach_sequence_is_swallowed_and_false_starts_pass_through() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        let mut out = Vec::new();
        assert!(!m.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        // A false start is forwarded with the byte that broke it.
        assert!(!m.feed(b"c", &mut out));
        assert_eq!(out, b"ab\x10c");
        // ctrl-p ctrl-p ctrl-q: the first ctrl-p passes, then the sequence matches.
        out.clear();
        assert!(m.feed(b"\x10\x10\x11rest", &mut out));
        assert_eq!(out, b"\x10");
        // Split across reads.
        let mut m = DetachMatcher::new(vec![16, 17]);
        out.clear();
        assert!(!m.feed(b"\x10", &mut out));
        assert!(m.feed(b"\x11", &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn detach_is_recognised_only_for_the_whole_sequence() {
        let mut out = Vec::new();
        let mut m = DetachMatcher::new(parse_detach_keys("").unwrap());
        assert!(!m.feed(b"echo hi\r\x10", &mut out));
        assert!(m.feed(b"\x11", &mut out));
        assert!(
            !m.feed(b"\x10x\x11", &mut out),
            "a broken sequence is no detach"
        );
        let mut m = DetachMatcher::new(parse_detach_keys("ctrl-a,x").unwrap());
        assert!(!m.feed(b"\x10\x11", &mut out));
        assert!(m.feed(b"ab\x01x", &mut out));
        let mut m = DetachMatcher::new(parse_detach_keys("ctrl-@,ctrl-_").unwrap());
        assert!(m.feed(&[0, 31], &mut out));
        let mut none = DetachMatcher::new(Vec::new());
        assert!(!none.feed(b"\x10\x11", &mut out), "no keys: never a detach");
    }
}
