//! What the classic builder writes into an image's history for each step
//! (`created_by`), byte for byte: `SHELL… #(nop)  ENV A=1` for metadata, one space
//! before WORKDIR, COPY and ADD (with a trailing space after their destination), Go's
//! `%v` of a slice or of the health check.

use std::time::Duration;

/// `[shell…] #(nop)  KEYWORD args` (the comment's own trailing space plus the join's).
pub(crate) fn nop(shell: &[String], comment: &str) -> String {
    let mut parts: Vec<&str> = shell.iter().map(String::as_str).collect();
    parts.push("#(nop) ");
    parts.push(comment);
    parts.join(" ")
}

/// `[shell…] #(nop) WORKDIR /app` (one string: a single space).
pub(crate) fn nop_one(shell: &[String], comment: &str) -> String {
    let mut parts: Vec<String> = shell.to_vec();
    parts.push(format!("#(nop) {comment}"));
    parts.join(" ")
}

use berth_types::gofmt::quote as go_quote;

/// `["a" "b"]`: how the classic builder prints CMD and ENTRYPOINT.
pub(crate) fn quoted_list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| go_quote(s)).collect::<Vec<_>>().join(" ")
    )
}

/// `[a b]`: Go's `%v` of a string slice.
pub(crate) fn plain_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// Go's `time.Duration.String()`.
pub(crate) fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_frac(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_frac(ns as f64 / 1e6));
    }
    let total = ns as f64 / 1e9;
    let h = (total / 3600.0).floor() as u64;
    let m = ((total - h as f64 * 3600.0) / 60.0).floor() as u64;
    let s = total - h as f64 * 3600.0 - m as f64 * 60.0;
    let secs = format!("{}s", trim_frac(s));
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

fn trim_frac(x: f64) -> String {
    let s = format!("{x:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Go's `%q` of a rune (the health check's retries count is printed that way).
pub(crate) fn go_rune(n: u32) -> String {
    match char::from_u32(n) {
        Some('\'') => "'\\''".into(),
        Some('\\') => "'\\\\'".into(),
        Some(c) if (0x20..0x7f).contains(&n) => format!("'{c}'"),
        _ if n < 0x80 => format!("'\\x{n:02x}'"),
        Some(c) if !c.is_control() => format!("'{c}'"),
        _ => format!("'\\u{n:04x}'"),
    }
}

/// `&{["CMD" "/bin/true"] "5s" "0s" "0s" '\x02'}`.
pub(crate) fn healthcheck(
    test: &[String],
    interval: Duration,
    timeout: Duration,
    start_period: Duration,
    retries: u32,
) -> String {
    format!(
        "&{{{} {} {} {} {}}}",
        quoted_list(test),
        go_quote(&go_duration(interval)),
        go_quote(&go_duration(timeout)),
        go_quote(&go_duration(start_period)),
        go_rune(retries)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(go_duration(Duration::from_secs(5)), "5s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(20)), "20ms");
        assert_eq!(go_rune(2), "'\\x02'");
        assert_eq!(go_rune(65), "'A'");
        assert_eq!(
            healthcheck(
                &["CMD".into(), "/bin/true".into()],
                Duration::from_secs(5),
                Duration::ZERO,
                Duration::ZERO,
                2
            ),
            "&{[\"CMD\" \"/bin/true\"] \"5s\" \"0s\" \"0s\" '\\x02'}"
        );
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        assert_eq!(nop(&sh, "ENV A=1"), "/bin/sh -c #(nop)  ENV A=1");
        assert_eq!(
            nop_one(&sh, "WORKDIR /app"),
            "/bin/sh -c #(nop) WORKDIR /app"
        );
        assert_eq!(
            quoted_list(&["/bin/bash".into(), "-c".into(), "sh -c \"echo $M\"".into()]),
            "[\"/bin/bash\" \"-c\" \"sh -c \\\"echo $M\\\"\"]"
        );
    }
}
