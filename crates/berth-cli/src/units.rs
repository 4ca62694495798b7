//! docker's units and times: sizes as `4.26MB` and `1.5GiB`, `512m` parsed as bytes,
//! humanized durations (`2 minutes ago`), Go durations (`1h30m`), and the timestamps
//! `--since`/`--until` accept.

use berth_types::civil::{civil_from_days, days_from_civil};
use std::time::{SystemTime, UNIX_EPOCH};

/// Go's `%.{prec}g` for the sizes docker prints (always a plain decimal here: the
/// values are below 1000 or 1024 after scaling).
fn g(value: f64, prec: usize) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let digits_before = (value.abs().log10().floor() as i64 + 1).max(1) as usize;
    let decimals = prec.saturating_sub(digits_before);
    let s = format!("{value:.decimals$}");
    // %g drops trailing zeros; a rounding carry can add a digit (999.95 → 1000).
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s.split('.')
        .next()
        .map_or(0, |i| i.trim_start_matches('-').len())
        > prec
    {
        return format!("{:.*e}", prec.saturating_sub(1), value).replace("e", "e+0");
    }
    s
}

fn scaled(size: f64, base: f64, units: &[&str], prec: usize) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= base && i + 1 < units.len() {
        size /= base;
        i += 1;
    }
    format!("{}{}", g(size, prec), units[i])
}

const DECIMAL: &[&str] = &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// docker's `HumanSizeWithPrecision`: decimal units (`4.26MB` with precision 3).
pub fn human_size_prec(size: f64, prec: usize) -> String {
    scaled(size, 1000.0, DECIMAL, prec)
}

/// docker's `HumanSize`: precision 4.
pub fn human_size(size: f64) -> String {
    human_size_prec(size, 4)
}

/// docker's `BytesSize`: binary units (`1.5GiB`).
pub fn bytes_size(size: f64) -> String {
    scaled(size, 1024.0, BINARY, 4)
}

/// A size that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size: '{0}'")]
pub struct SizeError(pub String);

/// docker's `RAMInBytes`: `512m`, `1.5g`, `64MiB`, `1024` — binary multipliers.
pub fn ram_in_bytes(s: &str) -> Result<i64, SizeError> {
    let err = || SizeError(s.to_string());
    let t = s.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, rest) = t.split_at(num_end);
    if num.is_empty() || num.starts_with('.') {
        return Err(err());
    }
    let value: f64 = num.parse().map_err(|_| err())?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest).to_ascii_lowercase();
    let mut chars = rest.chars();
    let mult: f64 = match chars.next() {
        None => 1.0,
        Some('b') if rest.len() == 1 => 1.0,
        Some(c) => {
            let m = match c {
                'k' => 1024f64,
                'm' => 1024f64.powi(2),
                'g' => 1024f64.powi(3),
                't' => 1024f64.powi(4),
                'p' => 1024f64.powi(5),
                _ => return Err(err()),
            };
            let suffix: String = chars.collect();
            if !matches!(suffix.as_str(), "" | "b" | "i" | "ib") {
                return Err(err());
            }
            m
        }
    };
    Ok((value * mult) as i64)
}

/// docker's `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let minutes = secs / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (secs as f64 / 3600.0 + 0.5) as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (secs as f64 / 3600.0 / 24.0 / 365.0) as i64)
}

/// Seconds since the epoch now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Nanoseconds since the epoch now.
pub fn now_unix_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// A duration or timestamp that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("time: invalid duration \"{0}\"")]
    Duration(String),
    #[error("failed to parse value as time or duration: \"{0}\"")]
    Timestamp(String),
}

/// Go's `time.ParseDuration`, in nanoseconds: `1h30m`, `1.5s`, `300ms`, `-2m`.
pub fn parse_go_duration(s: &str) -> Result<i128, TimeError> {
    berth_types::time::parse_go_duration(s).map_err(|_| TimeError::Duration(s.to_string()))
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix time (UTC).
fn ymdhms(secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Go's `time.Time.String()` in UTC, as `ps`'s `CreatedAt` shows it:
/// `2026-11-22 17:00:00 +0000 UTC`.
pub fn go_time_string(secs: i64) -> String {
    let (y, m, d, hh, mm, ss) = ymdhms(secs);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} +0000 UTC")
}

/// Parses the date-time forms docker's `GetTimestamp` accepts. Without a zone the
/// time is local; berth takes local time as UTC.
fn parse_time_parts(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let mo: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, mo, d) * 86400;
    let mut rest = &s[10..];
    let mut nanos: i128 = 0;
    if rest.is_empty() {
        return Some(secs as i128 * 1_000_000_000);
    }
    rest = rest.strip_prefix(['T', 't', ' '])?;
    // Hours, then optional :MM and :SS.
    let mut fields = [0i64; 3];
    for (i, f) in fields.iter_mut().enumerate() {
        if i > 0 {
            match rest.strip_prefix(':') {
                Some(r) if r.len() >= 2 && r.as_bytes()[..2].iter().all(u8::is_ascii_digit) => {
                    rest = r
                }
                _ => break,
            }
        }
        *f = rest.get(0..2)?.parse().ok()?;
        rest = &rest[2..];
    }
    secs += fields[0] * 3600 + fields[1] * 60 + fields[2];
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        let digits = &r[..n.min(9)];
        nanos = format!("{digits:0<9}").parse().ok()?;
        rest = &r[n..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let z = &rest[1..];
            let (h, m) = z
                .split_once(':')
                .unwrap_or((z.get(0..2)?, z.get(2..).unwrap_or("0")));
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().unwrap_or(0) * 60)
        }
    };
    Some((secs - offset) as i128 * 1_000_000_000 + nanos)
}

/// docker's `GetTimestamp`: a duration (`10m`, relative to `now`) becomes Unix
/// seconds; a date-time becomes `seconds.nanoseconds`; a Unix timestamp passes as is.
pub fn get_timestamp(value: &str, now: i64) -> Result<String, TimeError> {
    if value != "0" {
        if let Ok(d) = parse_go_duration(value) {
            let secs = now as i128 * 1_000_000_000 - d;
            return Ok(secs.div_euclid(1_000_000_000).to_string());
        }
    }
    if value.contains('-') && value.len() >= 10 {
        let nanos =
            parse_time_parts(value).ok_or_else(|| TimeError::Timestamp(value.to_string()))?;
        return Ok(format!(
            "{}.{:09}",
            nanos.div_euclid(1_000_000_000),
            nanos.rem_euclid(1_000_000_000)
        ));
    }
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Ok(value.to_string());
    }
    Err(TimeError::Timestamp(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_docker_prints_them() {
        assert_eq!(human_size_prec(4_260_000.0, 3), "4.26MB");
        assert_eq!(human_size_prec(1_234_567.0, 3), "1.23MB");
        assert_eq!(human_size_prec(0.0, 3), "0B");
        assert_eq!(human_size_prec(999.0, 3), "999B");
        assert_eq!(human_size_prec(1000.0, 3), "1kB");
        assert_eq!(human_size(12_345_678.0), "12.35MB");
        assert_eq!(bytes_size(1536.0 * 1024.0 * 1024.0), "1.5GiB");
        assert_eq!(bytes_size(512.0), "512B");
        assert_eq!(bytes_size(7_654_321.0), "7.3MiB");
    }

    #[test]
    fn ram_sizes_parse_with_binary_units() {
        assert_eq!(ram_in_bytes("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(ram_in_bytes("1.5g").unwrap(), 1536 * 1024 * 1024);
        assert_eq!(ram_in_bytes("64MiB").unwrap(), 64 * 1024 * 1024);
        assert_eq!(ram_in_bytes("64mb").unwrap(), 64 * 1024 * 1024);
        assert_eq!(ram_in_bytes("100").unwrap(), 100);
        assert_eq!(ram_in_bytes("100b").unwrap(), 100);
        assert_eq!(ram_in_bytes("4k").unwrap(), 4096);
        assert!(ram_in_bytes("lots").is_err());
        assert!(ram_in_bytes("12x").is_err());
        assert_eq!(
            ram_in_bytes("-1").unwrap_err().to_string(),
            "invalid size: '-1'"
        );
    }

    #[test]
    fn durations_humanize_as_docker_does() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(150), "2 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("10m").unwrap(), 600_000_000_000);
        assert_eq!(parse_go_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_go_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_go_duration("300ms").unwrap(), 300_000_000);
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("abc").is_err());
    }

    #[test]
    fn times_format_and_parse() {
        let t = days_from_civil(2026, 11, 22) * 86400 + 17 * 3600;
        assert_eq!(go_time_string(t), "2026-11-22 17:00:00 +0000 UTC");
    }

    #[test]
    fn since_and_until_convert_as_docker_does() {
        let now = 1_800_000_000;
        assert_eq!(get_timestamp("10m", now).unwrap(), "1799999400");
        assert_eq!(get_timestamp("1700000000", now).unwrap(), "1700000000");
        assert_eq!(get_timestamp("1700000000.5", now).unwrap(), "1700000000.5");
        let day = days_from_civil(2026, 11, 22) * 86400;
        assert_eq!(
            get_timestamp("2026-11-22", now).unwrap(),
            format!("{day}.000000000")
        );
        assert_eq!(
            get_timestamp("2026-11-22T17:00:00Z", now).unwrap(),
            format!("{}.000000000", day + 17 * 3600)
        );
        assert_eq!(
            get_timestamp("2026-11-22T17:30", now).unwrap(),
            format!("{}.000000000", day + 17 * 3600 + 1800)
        );
        assert!(get_timestamp("yesterday", now).is_err());
    }
}
