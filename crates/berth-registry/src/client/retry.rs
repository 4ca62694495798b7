//! When to try a request again, and how long to wait first: exponential backoff for
//! transient failures (connection trouble, resets, 5xx, 429), honouring a server's
//! `Retry-After` up to the cap. An attempt that made progress (bytes arrived) starts
//! the count again, so a flaky link slows a download down but does not fail it.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Tries in a row without progress before giving up.
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            attempts: 6,
            first: Duration::from_millis(250),
            max: Duration::from_secs(8),
        }
    }
}

impl Backoff {
    /// How long to wait before try number `failed + 1` (after `failed` failures in a
    /// row), or None when it is time to give up. `retry_after` is the server's ask.
    pub fn delay(&self, failed: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if failed >= self.attempts {
            return None;
        }
        let exp = self
            .first
            .saturating_mul(1u32 << failed.saturating_sub(1).min(16));
        let d = retry_after.map_or(exp, |r| r.max(exp));
        Some(d.min(self.max))
    }
}

/// Whether an HTTP status is worth a retry.
pub fn transient_status(status: u16) -> bool {
    status == 429 || status == 408 || (500..=599).contains(&status) && status != 501
}

/// A `Retry-After` header in seconds (the HTTP-date form is ignored).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_ends() {
        let b = Backoff::default();
        let ms = |f, ra| b.delay(f, ra).map(|d: Duration| d.as_millis());
        assert_eq!(ms(1, None), Some(250));
        assert_eq!(ms(2, None), Some(500));
        assert_eq!(ms(3, None), Some(1000));
        assert_eq!(ms(5, None), Some(4000));
        assert_eq!(ms(6, None), None);
        // The server's Retry-After wins when longer, within the cap.
        assert_eq!(ms(1, Some(Duration::from_secs(2))), Some(2000));
        assert_eq!(ms(1, Some(Duration::from_secs(600))), Some(8000));
        let short = Backoff { attempts: 40, ..b };
        assert_eq!(short.delay(39, None), Some(Duration::from_secs(8)));
        assert!(transient_status(503) && transient_status(429) && transient_status(500));
        assert!(!transient_status(404) && !transient_status(401) && !transient_status(501));
        assert_eq!(retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }
}
