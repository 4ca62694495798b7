//! Time as the Engine API spells it: RFC 3339 with nanoseconds for log timestamps, the
//! `since`/`until` query syntax (unix seconds with an optional fraction, or RFC 3339),
//! and the HTTP `Date` header. Calendar arithmetic is done here on integers so the
//! daemon needs no time-zone database.

use berth_types::civil::{civil_from_days, days_from_civil};
use std::time::{SystemTime, UNIX_EPOCH};

const NANOS: i64 = 1_000_000_000;

/// Now, in unix nanoseconds.
pub fn now_nanos() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
    weekday: usize,
}

fn split(unix_nanos: i64) -> Parts {
    let secs = unix_nanos.div_euclid(NANOS);
    let nanos = unix_nanos.rem_euclid(NANOS);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        nanos,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
    }
}

/// `2026-11-22T17:00:00.123456789Z`: always nine fraction digits, as docker's log
/// timestamps are, so that they line up.
pub fn rfc3339_nanos_fixed(unix_nanos: i64) -> String {
    let p = split(unix_nanos);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.nanos
    )
}

/// `2026-11-22T17:00:00.123Z` for the log: milliseconds are enough there.
pub fn rfc3339_millis(unix_nanos: i64) -> String {
    let p = split(unix_nanos);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.year,
        p.month,
        p.day,
        p.hour,
        p.minute,
        p.second,
        p.nanos / 1_000_000
    )
}

/// The HTTP `Date` header: `Sun, 22 Nov 2026 17:00:00 GMT`.
pub fn http_date(unix_nanos: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p = split(unix_nanos);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS.get(p.weekday).copied().unwrap_or("Sun"),
        p.day,
        MONTHS
            .get((p.month as usize).wrapping_sub(1))
            .copied()
            .unwrap_or("Jan"),
        p.year,
        p.hour,
        p.minute,
        p.second
    )
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
    parse_rfc3339(v)
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

fn parse_rfc3339(v: &str) -> Result<i64, String> {
    let bad = || format!("{v:?} is neither unix seconds nor an RFC 3339 time");
    let b = v.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let s = v.get(from..from + len).ok_or_else(bad)?;
        if !all_digits(s) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let sep = |at: usize, want: &[u8]| b.get(at).is_some_and(|c| want.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return Err(bad());
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(bad());
    }
    if second > 60 {
        return Err(bad());
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos += i64::from(b[at] - b'0') * 10i64.pow(8 - (at - start) as u32);
            }
            at += 1;
        }
        if at == start {
            return Err(bad());
        }
    }
    let offset_secs = match v.get(at..) {
        Some("Z") | Some("z") => 0,
        Some(zone) if zone.len() == 6 && (zone.starts_with('+') || zone.starts_with('-')) => {
            if !sep(at + 3, b":") {
                return Err(bad());
            }
            let h = num(at + 1, 2)?;
            let m = num(at + 4, 2)?;
            let off = h * 3600 + m * 60;
            if zone.starts_with('-') {
                -off
            } else {
                off
            }
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    secs.checked_mul(NANOS)
        .and_then(|s| s.checked_add(nanos))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_nanos_fixed(0), "1970-01-01T00:00:00.000000000Z");
        // 2026-11-22T17:00:00Z
        let t = 1_795_366_800 * NANOS + 123_456_789;
        assert_eq!(rfc3339_nanos_fixed(t), "2026-11-22T17:00:00.123456789Z");
        assert_eq!(rfc3339_millis(t), "2026-11-22T17:00:00.123Z");
        assert_eq!(http_date(t), "Sun, 22 Nov 2026 17:00:00 GMT");
        // A leap day.
        assert_eq!(
            rfc3339_nanos_fixed(951_782_400 * NANOS),
            "2000-02-29T00:00:00.000000000Z"
        );
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
