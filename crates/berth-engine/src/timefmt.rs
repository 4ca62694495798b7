//! Time as the Engine API shows it: RFC 3339 with nanoseconds (Go's RFC3339Nano, which
//! drops trailing zeros of the fraction) with the engine's conventions on top of
//! `berth_types::time` (0 is Go's zero time; image configs' times normalised), filter
//! timestamps, and Docker's human-readable durations for `docker ps`.

use berth_types::time::{format_rfc3339, Precision};
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
    format_rfc3339(i128::from(nanos), Precision::Nanos)
}

/// Now in RFC 3339 with nanoseconds (the epoch, not the zero time, if the clock is
/// before 1970).
pub fn now_rfc3339_nano() -> String {
    format_rfc3339(i128::from(now_nanos()), Precision::Nanos)
}

/// Parses RFC 3339 (`2026-11-22T16:00:00.123456789Z`, or with a `+hh:mm` offset) into
/// unix nanoseconds. The zero time gives 0; so does nothing else that fits an i64.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if s == ZERO_TIME {
        return Some(0);
    }
    berth_types::time::parse_rfc3339(s).and_then(|n| i64::try_from(n).ok())
}

/// An RFC 3339 time (an image config's `created`) as seconds and nanoseconds since the
/// epoch; years before 1678 and after 2261 included, which unix nanoseconds in an i64
/// cannot hold.
pub fn parse_rfc3339_secs(s: &str) -> Option<(i64, u32)> {
    let n = berth_types::time::parse_rfc3339(s)?;
    let secs = i64::try_from(n.div_euclid(1_000_000_000)).ok()?;
    Some((secs, n.rem_euclid(1_000_000_000) as u32))
}

/// Normalises an RFC 3339 time to what Go prints for it in UTC (`RFC3339Nano`); an
/// unparsable input is returned as is.
pub fn normalise(s: &str) -> String {
    match berth_types::time::parse_rfc3339(s) {
        Some(n) => format_rfc3339(n, Precision::Nanos),
        None => s.to_string(),
    }
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
    berth_types::time::parse_go_duration(s)
        .ok()
        .and_then(|n| i64::try_from(n).ok())
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
        assert!(parse_rfc3339(&now_rfc3339_nano()).is_some());
    }

    #[test]
    fn image_config_times() {
        assert_eq!(parse_rfc3339_secs("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339_secs("2023-11-15T00:13:20.123456789123+02:00"),
            Some((1_700_000_000, 123_456_789))
        );
        assert_eq!(parse_rfc3339_secs(ZERO_TIME), Some((-62_135_596_800, 0)));
        assert_eq!(parse_rfc3339_secs("2023-11-14T22:13:20"), None);
        assert_eq!(
            normalise("2023-11-15T00:13:20.50+02:00"),
            "2023-11-14T22:13:20.5Z"
        );
        assert_eq!(normalise(ZERO_TIME), ZERO_TIME);
        assert_eq!(normalise("yesterday"), "yesterday");
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
