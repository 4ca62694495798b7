//! Byte ranges: the `Range` header of a blob GET (`bytes=0-99`, `bytes=100-`,
//! `bytes=-100`) and the `Content-Range` of an upload chunk (`0-99`, as the spec
//! writes it, or `bytes 0-99/1000`, as some clients do).

/// What a `Range` header asks of a body of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range (absent, malformed or several ranges): the whole body, 200.
    Whole,
    /// Bytes `start..=end`: 206.
    Part { start: u64, end: u64 },
    /// Nothing of the body is in the range: 416.
    Unsatisfiable,
}

/// Reads a blob GET's `Range` header against a body of `size` bytes. A header this
/// does not understand is ignored, as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match num(b) {
            Some(n) if n > 0 && size > 0 => RangeRequest::Part {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Whole,
        },
        // bytes=N-: from N to the end.
        (false, true) => match num(a) {
            Some(start) if start < size => RangeRequest::Part {
                start,
                end: size - 1,
            },
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Whole,
        },
        (false, false) => match (num(a), num(b)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    RangeRequest::Unsatisfiable
                } else {
                    RangeRequest::Part {
                        start,
                        end: end.min(size - 1),
                    }
                }
            }
            _ => RangeRequest::Whole,
        },
        (true, true) => RangeRequest::Whole,
    }
}

/// Reads an upload chunk's `Content-Range`: the first and last byte offsets
/// (inclusive). None when malformed.
pub fn parse_content_range(header: &str) -> Option<(u64, u64)> {
    let s = header.trim();
    let s = s
        .strip_prefix("bytes=")
        .or_else(|| s.strip_prefix("bytes "))
        .unwrap_or(s);
    let s = s.split('/').next().unwrap_or("").trim();
    let (a, b) = s.split_once('-')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    let (start, end) = (a.parse().ok()?, b.parse().ok()?);
    (start <= end).then_some((start, end))
}

/// The `Range` header of an upload's status: the bytes received so far, `0-(n-1)`
/// (and `0-0` for none, as registry:2 writes it and clients expect).
pub fn upload_range(received: u64) -> String {
    format!("0-{}", received.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    #[test]
    fn blob_ranges() {
        assert_eq!(parse_range(None, 10), Whole);
        assert_eq!(
            parse_range(Some("bytes=0-4"), 10),
            Part { start: 0, end: 4 }
        );
        assert_eq!(parse_range(Some("bytes=5-"), 10), Part { start: 5, end: 9 });
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part { start: 7, end: 9 });
        assert_eq!(
            parse_range(Some("bytes=-30"), 10),
            Part { start: 0, end: 9 }
        );
        // An end past the body is cut to the body.
        assert_eq!(
            parse_range(Some("bytes=8-100"), 10),
            Part { start: 8, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=10-20"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Unsatisfiable);
        // What is not understood is ignored.
        for h in [
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=-",
        ] {
            assert_eq!(parse_range(Some(h), 10), Whole, "{h}");
        }
    }

    #[test]
    fn upload_content_ranges() {
        assert_eq!(parse_content_range("0-20"), Some((0, 20)));
        assert_eq!(parse_content_range("bytes 21-41/42"), Some((21, 41)));
        assert_eq!(parse_content_range("bytes=21-41"), Some((21, 41)));
        assert_eq!(parse_content_range("21-41/*"), Some((21, 41)));
        for bad in ["", "5", "5-", "-5", "9-3", "a-b", "0x1-2"] {
            assert_eq!(parse_content_range(bad), None, "{bad:?}");
        }
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(21), "0-20");
    }
}
