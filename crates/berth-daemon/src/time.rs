//! Time as the Engine API spells it: the `since`/`until` query syntax (unix seconds with
//! an optional fraction, or RFC 3339). RFC 3339 itself is written and read by
//! `berth_types::time`.

use std::time::{SystemTime, UNIX_EPOCH};

const NANOS: i64 = 1_000_000_000;

/// Now, in unix nanoseconds.
pub fn now_nanos() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// Parses a `since`/`until` value as dockerd accepts it: unix seconds with an optional
/// fraction of up to nine digits (`1700000000`, `1700000000.123456789`), or an RFC 3339
/// time (`2026-11-22T17:00:00Z`, `2026-11-22T18:00:00.5+01:00`). The docker CLI turns
/// durations (`10m`) into the first form before sending them. Returns unix nanoseconds.
pub fn parse_timestamp(value: &str) -> Result<i64, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err("empty time".into());
    }
    if v.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return parse_unix(v);
    }
    berth_types::time::parse_rfc3339(v)
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| format!("{v:?} is neither unix seconds nor an RFC 3339 time"))
}

fn parse_unix(v: &str) -> Result<i64, String> {
    let bad = || format!("{v:?} is neither unix seconds nor an RFC 3339 time");
    let (neg, digits) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (secs, frac) = match digits.split_once('.') {
        Some((s, f)) => (s, f),
        None => (digits, ""),
    };
    if secs.is_empty() || frac.len() > 9 || !all_digits(secs) || !all_digits(frac) {
        return Err(bad());
    }
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let mut nanos: i64 = 0;
    for (i, b) in frac.bytes().enumerate() {
        nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    let total = secs
        .checked_mul(NANOS)
        .and_then(|s| s.checked_add(nanos))
        .ok_or_else(bad)?;
    Ok(if neg { -total } else { total })
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::time::{format_rfc3339, Precision};

    fn rfc3339_nanos_fixed(unix_nanos: i64) -> String {
        format_rfc3339(i128::from(unix_nanos), Precision::NanosFixed)
    }

    #[test]
    fn parses_unix_seconds_and_fractions() {
        assert_eq!(
            parse_timestamp("1700000000").unwrap(),
            1_700_000_000 * NANOS
        );
        assert_eq!(
            parse_timestamp("1700000000.123456789").unwrap(),
            1_700_000_000 * NANOS + 123_456_789
        );
        assert_eq!(
            parse_timestamp("1700000000.5").unwrap(),
            1_700_000_000 * NANOS + 500_000_000
        );
        assert!(parse_timestamp("1700000000.1234567891").is_err());
        assert!(parse_timestamp("17a").is_err());
        assert!(parse_timestamp("").is_err());
    }

    #[test]
    fn parses_rfc3339_with_zones() {
        let t = 1_795_366_800 * NANOS;
        assert_eq!(parse_timestamp("2026-11-22T17:00:00Z").unwrap(), t);
        assert_eq!(
            parse_timestamp("2026-11-22T18:00:00.25+01:00").unwrap(),
            t + 250_000_000
        );
        assert_eq!(parse_timestamp("2026-11-22T12:00:00-05:00").unwrap(), t);
        for s in [
            rfc3339_nanos_fixed(t + 7),
            rfc3339_nanos_fixed(-NANOS * 86_400 * 365),
        ] {
            assert_eq!(rfc3339_nanos_fixed(parse_timestamp(&s).unwrap()), s);
        }
        assert!(parse_timestamp("2026-13-22T17:00:00Z").is_err());
        assert!(parse_timestamp("2026-11-22T17:00:00").is_err());
        assert!(parse_timestamp("yesterday").is_err());
    }
}
