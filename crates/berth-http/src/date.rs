//! The HTTP `Date` header, computed on integers (no time-zone database needed).

use berth_types::civil::civil_from_days;

const NANOS: i64 = 1_000_000_000;

/// The HTTP `Date` header for a time in unix nanoseconds: `Sun, 22 Nov 2026 17:00:00 GMT`.
pub fn http_date(unix_nanos: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = unix_nanos.div_euclid(NANOS);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = (days + 4).rem_euclid(7) as usize;
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS.get(weekday).copied().unwrap_or("Sun"),
        day,
        MONTHS
            .get((month as usize).wrapping_sub(1))
            .copied()
            .unwrap_or("Jan"),
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Now, as a `Date` header value.
pub(crate) fn now() -> String {
    let nanos = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    http_date(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_http_dates() {
        // 2026-11-22T17:00:00Z
        let t = 1_795_366_800 * NANOS + 123_456_789;
        assert_eq!(http_date(t), "Sun, 22 Nov 2026 17:00:00 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // A leap day.
        assert_eq!(
            http_date(951_782_400 * NANOS),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
    }
}
