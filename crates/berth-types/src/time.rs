//! RFC 3339 times in UTC, formatted and parsed on integers (unix nanoseconds, `i128` so
//! that Go's zero time, year 1, fits). One copy for the whole project: the CLI, the
//! daemon, the engine, the image store and the runtime all write the layouts below.

use crate::civil::{civil_from_days, days_from_civil};

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// How many fraction digits [`format_rfc3339`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// None: `2026-11-22T17:00:00Z` (Go's `time.RFC3339`).
    Seconds,
    /// Always three, truncated: `2026-11-22T17:00:00.120Z`.
    Millis,
    /// Up to nine, trailing zeros dropped and no `.` when zero:
    /// `2026-11-22T17:00:00.12Z` (Go's `time.RFC3339Nano`).
    Nanos,
    /// Always nine, so that columns line up: `2026-11-22T17:00:00.120000000Z` (docker's
    /// log timestamps and the OCI state's `created`).
    NanosFixed,
}

/// Unix nanoseconds as RFC 3339 in UTC (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`).
pub fn format_rfc3339(unix_nanos: i128, precision: Precision) -> String {
    let secs = unix_nanos.div_euclid(NANOS_PER_SEC);
    let nanos = unix_nanos.rem_euclid(NANOS_PER_SEC);
    // Days since 1970 of any i128 nanosecond count fit an i64 (|n| / 86 400e9 < 2^64).
    let days = secs.div_euclid(86_400) as i64;
    let sod = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    match precision {
        Precision::Seconds => {}
        Precision::Millis => out.push_str(&format!(".{:03}", nanos / 1_000_000)),
        Precision::NanosFixed => out.push_str(&format!(".{nanos:09}")),
        Precision::Nanos if nanos == 0 => {}
        Precision::Nanos => {
            let frac = format!("{nanos:09}");
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
    }
    out.push('Z');
    out
}

/// Parses RFC 3339 into unix nanoseconds: `YYYY-MM-DD` and `HH:MM:SS` joined by `T`, `t`
/// or a space, an optional fraction of any length (digits past the ninth are dropped),
/// then `Z`, `z` or a `±hh:mm` offset. None for anything else.
pub fn parse_rfc3339(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i128> {
        let part = s.get(from..from + len)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let sep = |at: usize, want: &[u8]| b.get(at).is_some_and(|c| want.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    // 60: a leap second, as the earlier parsers took it.
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut nanos: i128 = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            let place = at - start;
            if place < 9 {
                nanos += i128::from(b[at] - b'0') * 10i128.pow(8 - place as u32);
            }
            at += 1;
        }
        if at == start {
            return None;
        }
    }
    let offset = match s.get(at..)? {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && (zone.starts_with('+') || zone.starts_with('-')) => {
            if !sep(at + 3, b":") {
                return None;
            }
            let off = num(at + 1, 2)? * 3600 + num(at + 4, 2)? * 60;
            if zone.starts_with('-') {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    // The checks above keep month and day in range of u32.
    let days = i128::from(days_from_civil(year as i64, month as u32, day as u32));
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(secs * NANOS_PER_SEC + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = NANOS_PER_SEC;
    /// 2026-11-22T17:00:00Z.
    const T: i128 = 1_795_366_800 * S;

    fn all(n: i128) -> [String; 4] {
        [
            format_rfc3339(n, Precision::Seconds),
            format_rfc3339(n, Precision::Millis),
            format_rfc3339(n, Precision::Nanos),
            format_rfc3339(n, Precision::NanosFixed),
        ]
    }

    #[test]
    fn formats_each_precision() {
        assert_eq!(
            all(0),
            [
                "1970-01-01T00:00:00Z",
                "1970-01-01T00:00:00.000Z",
                "1970-01-01T00:00:00Z",
                "1970-01-01T00:00:00.000000000Z",
            ]
        );
        assert_eq!(
            all(T + 123_456_789),
            [
                "2026-11-22T17:00:00Z",
                "2026-11-22T17:00:00.123Z",
                "2026-11-22T17:00:00.123456789Z",
                "2026-11-22T17:00:00.123456789Z",
            ]
        );
        // RFC3339Nano drops trailing zeros only; the fixed forms keep them.
        assert_eq!(
            all(T + 500_000_000),
            [
                "2026-11-22T17:00:00Z",
                "2026-11-22T17:00:00.500Z",
                "2026-11-22T17:00:00.5Z",
                "2026-11-22T17:00:00.500000000Z",
            ]
        );
        assert_eq!(
            format_rfc3339(T + 5, Precision::Nanos),
            "2026-11-22T17:00:00.000000005Z"
        );
        assert_eq!(
            format_rfc3339(T + 999_999, Precision::Millis),
            "2026-11-22T17:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339(1_700_000_000 * S, Precision::Seconds),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            format_rfc3339(1_795_000_000 * S, Precision::NanosFixed),
            "2026-11-18T11:06:40.000000000Z"
        );
    }

    #[test]
    fn formats_leap_days_and_times_before_1970() {
        assert_eq!(
            format_rfc3339(951_782_400 * S, Precision::Seconds),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            format_rfc3339(1_709_164_800 * S, Precision::Seconds),
            "2024-02-29T00:00:00Z"
        );
        // 1900 is not a leap year: 28 February is followed by 1 March.
        assert_eq!(
            format_rfc3339(-2_203_891_200 * S, Precision::Seconds),
            "1900-03-01T00:00:00Z"
        );
        assert_eq!(
            format_rfc3339((-2_203_891_200 - 86_400) * S, Precision::Seconds),
            "1900-02-28T00:00:00Z"
        );
        // Half a second before the epoch: the fraction counts forward from the second.
        assert_eq!(
            all(-S / 2),
            [
                "1969-12-31T23:59:59Z",
                "1969-12-31T23:59:59.500Z",
                "1969-12-31T23:59:59.5Z",
                "1969-12-31T23:59:59.500000000Z",
            ]
        );
        // Go's zero time.
        assert_eq!(
            format_rfc3339(-62_135_596_800 * S, Precision::Nanos),
            "0001-01-01T00:00:00Z"
        );
    }

    #[test]
    fn parses_zones_and_fractions() {
        assert_eq!(parse_rfc3339("2026-11-22T17:00:00Z"), Some(T));
        assert_eq!(parse_rfc3339("2026-11-22t17:00:00z"), Some(T));
        assert_eq!(parse_rfc3339("2026-11-22 17:00:00Z"), Some(T));
        assert_eq!(parse_rfc3339("2026-11-22T19:00:00+02:00"), Some(T));
        assert_eq!(parse_rfc3339("2026-11-22T12:00:00-05:00"), Some(T));
        assert_eq!(parse_rfc3339("2026-11-22T17:00:00.5Z"), Some(T + S / 2));
        assert_eq!(
            parse_rfc3339("2026-11-22T18:00:00.25+01:00"),
            Some(T + 250_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-22T17:00:00.123456789Z"),
            Some(T + 123_456_789)
        );
        // Past nine digits the fraction is cut, not rounded.
        assert_eq!(
            parse_rfc3339("2026-11-22T19:00:00.123456789999+02:00"),
            Some(T + 123_456_789)
        );
        assert_eq!(
            parse_rfc3339("0001-01-01T00:00:00Z"),
            Some(-62_135_596_800 * S)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Some(-S / 2));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400 * S));
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for s in [
            "",
            "yesterday",
            "2026-11-22",
            "2026-11-22T17:00:00",
            "2026-11-22T17:00Z",
            "2026-11-22T17:00:00.Z",
            "2026-13-22T17:00:00Z",
            "2026-11-32T17:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T17:60:00Z",
            "2026-11-22T17:00:61Z",
            "2026-11-22X17:00:00Z",
            "2026-11-22T17:00:00+0200",
            "2026-11-22T17:00:00+02:00 ",
            "2026-11-22T+7:00:00Z",
            "2026-11-22T17:00:00UTC",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s:?}");
        }
    }

    #[test]
    fn round_trips() {
        for n in [
            0,
            1,
            -1,
            T + 7,
            -S * 86_400 * 365,
            951_782_399 * S + 999_999_999,
            4_102_444_800 * S,
            -62_135_596_800 * S,
        ] {
            let s = format_rfc3339(n, Precision::NanosFixed);
            assert_eq!(parse_rfc3339(&s), Some(n), "{s}");
            let s = format_rfc3339(n, Precision::Nanos);
            assert_eq!(parse_rfc3339(&s), Some(n), "{s}");
        }
    }
}

/// Go's `time.ParseDuration`, in nanoseconds: `1h30m`, `1.5s`, `300ms`, `-2m`, `0`;
/// an error in Go's words (`time: invalid duration "x"`, `time: missing unit in
/// duration "10"`, `time: unknown unit "d" in duration "3d"`). One copy for the
/// project: the CLI's flags, the engine's `since`/`until`, the Dockerfile parser.
pub fn parse_go_duration(s: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration \"{s}\"");
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
        };
        total += value * nanos;
        rest = &rest[unit_len..];
    }
    let total = total.round() as i128;
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
mod go_duration_tests {
    use super::parse_go_duration as p;

    #[test]
    fn go_durations() {
        assert_eq!(p("1h30m"), Ok(5400 * 1_000_000_000));
        assert_eq!(p("1.5s"), Ok(1_500_000_000));
        assert_eq!(p("300ms"), Ok(300_000_000));
        assert_eq!(p("-2m"), Ok(-120 * 1_000_000_000));
        assert_eq!(p("+1us"), Ok(1000));
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("10"), Err("time: missing unit in duration \"10\"".into()));
        assert_eq!(
            p("3d"),
            Err("time: unknown unit \"d\" in duration \"3d\"".into())
        );
        assert_eq!(p(""), Err("time: invalid duration \"\"".into()));
        assert_eq!(p(".s"), Err("time: invalid duration \".s\"".into()));
    }
}
