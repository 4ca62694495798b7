//! Query strings and percent-decoding.

use std::str::FromStr;

/// Decodes `%XX` escapes (and `+` as a space in query strings).
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a query value, a
/// path segment).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query parameter that does not hold the value its handler needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub key: String,
    pub value: String,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid value for query parameter {}: {:?}",
            self.key, self.value
        )
    }
}

impl std::error::Error for QueryError {}

/// The query string, decoded, in order; repeated keys kept (`changes`).
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
                    None => (percent_decode(p, true), String::new()),
                })
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key`, None when absent or empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean as dockerd reads one: absent, empty, `0`, `no`, `false` and `none`
    /// (any case) are false; anything else is true.
    pub fn bool(&self, key: &str) -> bool {
        self.bool_or(key, false)
    }

    /// [`Query::bool`], with `default` when the key is absent.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(v) => !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }

    /// A number; None when absent or empty; an error naming the parameter when not one.
    pub fn number<T: FromStr>(&self, key: &str) -> Result<Option<T>, QueryError> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v.trim().parse::<T>().map(Some).map_err(|_| QueryError {
                key: key.to_string(),
                value: v.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_round_trips() {
        let raw = "a/b c:d+é~_.-";
        let enc = percent_encode(raw);
        assert_eq!(enc, "a%2Fb%20c%3Ad%2B%C3%A9~_.-");
        assert_eq!(percent_decode(&enc, true), raw);
    }

    #[test]
    fn query_bools_as_docker_reads_them() {
        let q = Query::parse("a=1&b=true&c=True&d=0&e=false&f=&g=no&h");
        for k in ["a", "b", "c"] {
            assert!(q.bool(k), "{k}");
        }
        for k in ["d", "e", "f", "g", "h", "missing"] {
            assert!(!q.bool(k), "{k}");
        }
        assert!(q.bool_or("missing", true));
        assert!(!q.bool_or("f", true));
        assert_eq!(q.number::<i64>("a").expect("number"), Some(1));
        assert_eq!(
            q.number::<i64>("b").unwrap_err().to_string(),
            "invalid value for query parameter b: \"true\""
        );
        assert_eq!(q.number::<i64>("f").expect("empty"), None);
    }
}
