//! Time as the Engine API shows it: RFC 3339 with nanoseconds (Go's RFC3339Nano, which
//! drops trailing zeros of the fraction), parsing the json-file log's and the shim's
//! timestamps back, and Docker's human-readable durations for `docker ps`.

use berth_types::civil::{civil_from_days, days_from_civil};
use std::time::{SystemTime, UNIX_EPOCH};

/// What Docker shows for a time that never happened (Go's zero time).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Now, in unix nanoseconds.
pub fn now_nanos() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(_) => 0,
    }
}

/// Unix nanoseconds as RFC 3339 in UTC with up to nine fraction digits (none when
/// zero); 0 is the zero time.
pub fn rfc3339_nanos(nanos: i64) -> String {
    if nanos == 0 {
        return ZERO_TIME.to_string();
    }
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut s = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Parses RFC 3339 (`2026-11-22T16:00:00.123456789Z`, or with a `+hh:mm` offset) into
/// unix nanoseconds. The zero time gives 0.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if s == ZERO_TIME {
        return Some(0);
    }
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut frac = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        let mut padded = digits.chars().take(9).collect::<String>();
        while padded.len() < 9 {
            padded.push('0');
        }
        frac = padded.parse().ok()?;
    }
    let offset = match s.get(i..)? {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o.get(1..3)?.parse::<i64>().ok()? * 3600
                + o.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset;
    Some(secs * 1_000_000_000 + frac)
}

/// Docker's filter timestamps (`until`, `since`): a duration before now (`10m`, `24h`,
/// `1h30m`), unix seconds (with an optional fraction) or RFC 3339 (a date alone, or a
/// time without zone, is UTC). Unix nanoseconds.
pub fn parse_filter_timestamp(s: &str) -> Option<i64> {
    if let Some(d) = parse_go_duration(s) {
        return Some(now_nanos() - d);
    }
    if let Ok(f) = s.parse::<f64>() {
        return Some((f * 1e9) as i64);
    }
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    if s.len() == 10 {
        return parse_rfc3339(&format!("{s}T00:00:00Z"));
    }
    parse_rfc3339(&format!("{s}Z"))
}

/// `1h30m`, `10s`, `500ms` → nanoseconds.
fn parse_go_duration(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n_end = rest
            .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
            .unwrap_or(rest.len());
        if n_end == 0 {
            return None;
        }
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|ch: char| ch.is_ascii_digit() || ch == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u_end..];
        total += n * mult;
    }
    Some(total as i64)
}

/// Docker's human-readable duration (`Less than a second`, `1 second`, `About a
/// minute`, `3 hours`, `2 weeks`, …), as `docker ps` shows ages.
pub fn human_duration(nanos: i64) -> String {
    let secs = nanos / 1_000_000_000;
    let mins = secs / 60;
    // Hours are rounded to the nearest, unlike the smaller units.
    let hours = (nanos as f64 / 3.6e12 + 0.5) as i64;
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if mins == 1 {
        "About a minute".into()
    } else if mins < 60 {
        format!("{mins} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", secs / 3600 / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(rfc3339_nanos(0), ZERO_TIME);
        assert_eq!(rfc3339_nanos(1_000_000_000), "1970-01-01T00:00:01Z");
        let t = 1_795_363_200_123_456_789; // 2026-11-22T16:00:00.123456789Z
        assert_eq!(rfc3339_nanos(t), "2026-11-22T16:00:00.123456789Z");
        assert_eq!(parse_rfc3339("2026-11-22T16:00:00.123456789Z"), Some(t));
        assert_eq!(
            rfc3339_nanos(1_795_363_200_500_000_000),
            "2026-11-22T16:00:00.5Z"
        );
        assert_eq!(
            parse_rfc3339("2026-11-22T17:00:00.5+01:00"),
            Some(1_795_363_200_500_000_000)
        );
        assert_eq!(parse_rfc3339(ZERO_TIME), Some(0));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(
            rfc3339_nanos(951_782_400 * 1_000_000_000),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn human_durations() {
        let s = 1_000_000_000i64;
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(s), "1 second");
        assert_eq!(human_duration(3 * s), "3 seconds");
        assert_eq!(human_duration(90 * s), "About a minute");
        assert_eq!(human_duration(5 * 60 * s), "5 minutes");
        assert_eq!(human_duration(3600 * s), "About an hour");
        assert_eq!(human_duration(2 * 3600 * s), "2 hours");
        assert_eq!(human_duration(3 * 86_400 * s), "3 days");
        assert_eq!(human_duration(15 * 86_400 * s), "2 weeks");
    }

    #[test]
    fn filter_timestamps() {
        assert_eq!(parse_go_duration("1h30m"), Some(5400 * 1_000_000_000));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(
            parse_filter_timestamp("1700000000"),
            Some(1_700_000_000 * 1_000_000_000)
        );
        assert_eq!(
            parse_filter_timestamp("2026-11-22T16:00:00Z"),
            Some(1_795_363_200 * 1_000_000_000)
        );
        assert_eq!(
            parse_filter_timestamp("2026-11-22"),
            Some(1_795_305_600 * 1_000_000_000)
        );
        let t = parse_filter_timestamp("10m").unwrap();
        assert!((now_nanos() - t - 600_000_000_000).abs() < 5_000_000_000);
        assert_eq!(parse_filter_timestamp("yesterday"), None);
    }
}
