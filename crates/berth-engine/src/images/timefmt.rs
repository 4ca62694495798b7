//! Timestamps as the Engine API writes them: RFC 3339 with nanoseconds in UTC, Go's
//! `RFC3339Nano` layout (trailing zeros of the fraction dropped), and the parse of the
//! RFC 3339 times image configs carry. Kept here, small and dependency-free, because
//! the image, stats and system services all need the same two conversions.

use std::time::{SystemTime, UNIX_EPOCH};

use berth_types::civil::{civil_from_days, days_from_civil};

/// Go's zero time, which the API sends for "never" (`preread` of a first sample).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Now, as seconds and nanoseconds since the Unix epoch.
pub fn now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        // A clock before 1970 is a broken clock; the epoch is as good an answer as any.
        Err(_) => (0, 0),
    }
}

/// Now in `RFC3339Nano`.
pub fn now_rfc3339_nano() -> String {
    let (s, n) = now();
    rfc3339_nano(s, n)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the fraction without trailing zeros.
pub fn rfc3339_nano(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parses RFC 3339 (`2024-01-02T03:04:05.123Z`, `…+02:00`) into seconds and
/// nanoseconds since the epoch. None for anything else.
pub fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() {
            return None;
        }
        let mut padded: String = digits.chars().take(9).collect();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().ok()?;
    }
    let offset = match &s[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6
            && matches!(tz.as_bytes()[0], b'+' | b'-')
            && tz.as_bytes()[3] == b':' =>
        {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if tz.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - offset, nanos))
}

/// Normalises an RFC 3339 time to what Go prints for it in UTC (`RFC3339Nano`); an
/// unparsable input is returned as is.
pub fn normalise(s: &str) -> String {
    match parse_rfc3339(s) {
        Some((secs, nanos)) => rfc3339_nano(secs, nanos),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(1_700_000_000, 500_000_000),
            "2023-11-14T22:13:20.5Z"
        );
        assert_eq!(
            rfc3339_nano(951_782_400, 1),
            "2000-02-29T00:00:00.000000001Z"
        );
    }

    #[test]
    fn parses_what_configs_carry() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.5Z"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20.123456789123+02:00"),
            Some((1_700_000_000, 123_456_789))
        );
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(
            normalise("2023-11-15T00:13:20.50+02:00"),
            "2023-11-14T22:13:20.5Z"
        );
        for secs in [-86_400 * 800, 0, 951_782_399, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339_nano(secs, 7)), Some((secs, 7)));
        }
    }
}
