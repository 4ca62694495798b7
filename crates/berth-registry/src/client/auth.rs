//! Registry authentication: the `WWW-Authenticate` challenge of a 401 (RFC 7235
//! syntax), basic credentials, and bearer tokens per the Docker token spec — GET the
//! realm with `service` and `scope` (`repository:NAME:pull`), with basic credentials
//! when given, or POST an OAuth2 refresh-token grant when the credentials carry an
//! identity token — cached until they expire (`expires_in`, 60 s when absent). A login
//! asks for no scope, names the account and asks for a refresh token
//! (`offline_token=true`), which it hands back as the identity token.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// Credentials for one registry, as `X-Registry-Auth` carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// An OAuth2 refresh token (`docker login` with a token server that issues one).
    pub identity_token: String,
    /// A bearer token to send as it is.
    pub registry_token: String,
}

impl Credentials {
    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identity_token.is_empty()
            && self.registry_token.is_empty()
    }

    pub(crate) fn basic(&self) -> Option<String> {
        (!self.username.is_empty()).then(|| {
            let raw = format!("{}:{}", self.username, self.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        })
    }
}

/// One challenge: its scheme (lower case) and parameters (names lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Parses a `WWW-Authenticate` value: `Bearer realm="…",service="…",scope="…"`, or
/// several challenges separated by commas. Malformed parts end the parse; what was
/// read before them is kept.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let chars: Vec<char> = header.chars().collect();
    let mut i = 0;
    let mut out: Vec<Challenge> = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && (chars[*i] == ' ' || chars[*i] == '\t') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| -> String {
        let start = *i;
        while *i < chars.len() && is_tchar(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect()
    };
    loop {
        skip_ws(&mut i);
        while i < chars.len() && chars[i] == ',' {
            i += 1;
            skip_ws(&mut i);
        }
        if i >= chars.len() {
            break;
        }
        let word = token(&mut i);
        if word.is_empty() {
            break;
        }
        skip_ws(&mut i);
        let is_param = i < chars.len() && chars[i] == '=' && !out.is_empty() && {
            // `token68` values end in '=' too; a parameter has a value after it.
            let mut j = i;
            while j < chars.len() && chars[j] == '=' {
                j += 1;
            }
            j < chars.len() && chars[j] != ',' && j == i + 1
        };
        if !is_param {
            out.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
            continue;
        }
        i += 1; // '='
        skip_ws(&mut i);
        let value = if i < chars.len() && chars[i] == '"' {
            i += 1;
            let mut v = String::new();
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                v.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                break; // unterminated quote
            }
            i += 1;
            v
        } else {
            token(&mut i)
        };
        if let Some(c) = out.last_mut() {
            c.params.insert(word.to_ascii_lowercase(), value);
        }
        skip_ws(&mut i);
        if i < chars.len() && chars[i] != ',' {
            break;
        }
    }
    out
}

/// A token server's answer.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub access_token: String,
    #[serde(default)]
    pub expires_in: u64,
    /// Given when asked for (`offline_token=true`, or an OAuth2 grant): the identity
    /// token a login hands back.
    #[serde(default)]
    pub refresh_token: String,
}

/// Tokens last this long when the server does not say (the Docker token spec's
/// default).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

impl TokenResponse {
    /// The token (`token`, else `access_token`) and how long to keep it.
    pub fn into_token(self) -> Option<(String, Duration)> {
        let t = if self.token.is_empty() {
            self.access_token
        } else {
            self.token
        };
        let life = if self.expires_in == 0 {
            DEFAULT_TOKEN_LIFETIME
        } else {
            Duration::from_secs(self.expires_in)
        };
        (!t.is_empty()).then_some((t, life))
    }
}

/// The realm URL with `service` and `scope` as query parameters: one `scope`
/// parameter per space-separated scope (a push asks for its repository and for the
/// repositories it mounts from).
pub fn token_url(realm: &str, service: Option<&str>, scope: &str) -> String {
    let mut params = Vec::new();
    if let Some(s) = service {
        params.push(("service", s));
    }
    for one in scope.split(' ').filter(|s| !s.is_empty()) {
        params.push(("scope", one));
    }
    with_query(realm, &params)
}

/// The realm URL a login asks: the account (when there is a user), a refresh token
/// (`offline_token`), and no scope: a login asks for no access, only whether the
/// credentials are good.
pub fn login_token_url(realm: &str, service: Option<&str>, account: &str) -> String {
    let mut params = Vec::new();
    if !account.is_empty() {
        params.push(("account", account));
    }
    params.push(("client_id", "berth"));
    params.push(("offline_token", "true"));
    if let Some(s) = service {
        params.push(("service", s));
    }
    with_query(realm, &params)
}

/// `url` with `params` appended to its query, percent-encoded.
fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let mut out = url.to_string();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        out.push(sep);
        out.push_str(k);
        out.push('=');
        out.push_str(&encode(v));
        sep = '&';
    }
    out
}

/// Percent-encoding for a query value.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Bearer tokens by (realm, service, scope, user), until their expiry.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    fn key(realm: &str, service: &str, scope: &str, user: &str) -> String {
        format!("{realm}\n{service}\n{scope}\n{user}")
    }

    pub fn get(&self, realm: &str, service: &str, scope: &str, user: &str) -> Option<String> {
        let map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&Self::key(realm, service, scope, user))
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }

    pub fn put(
        &self,
        realm: &str,
        service: &str,
        scope: &str,
        user: &str,
        token: String,
        life: Duration,
    ) {
        // Renew a little early, so a token does not expire between check and use.
        let margin = (life / 10).min(Duration::from_secs(10));
        let until = Instant::now() + life.saturating_sub(margin);
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, u)| Instant::now() < *u);
        map.insert(Self::key(realm, service, scope, user), (token, until));
    }

    /// Forget a token the registry refused.
    pub fn forget(&self, realm: &str, service: &str, scope: &str, user: &str) {
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Self::key(realm, service, scope, user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/busybox:pull"));
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
        // Two challenges, an unquoted value, an escaped quote, odd spacing and case.
        let c = parse_challenges(
            r#"Basic realm=x , BEARER Realm="a\"b", error="insufficient_scope", Newauth"#,
        );
        let schemes: Vec<&str> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "bearer", "newauth"]);
        assert_eq!(c[0].param("realm"), Some("x"));
        assert_eq!(c[1].param("realm"), Some("a\"b"));
        assert_eq!(c[1].param("error"), Some("insufficient_scope"));
        assert!(parse_challenges("").is_empty());
        // An unterminated quote keeps the challenge without the broken parameter.
        let c = parse_challenges(r#"Bearer realm="https://x"#);
        assert_eq!(c.len(), 1);
        assert!(c[0].params.is_empty());
    }

    #[test]
    fn tokens_and_their_urls() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":300}"#).unwrap();
        assert_eq!(
            t.into_token(),
            Some(("abc".to_string(), Duration::from_secs(300)))
        );
        let t: TokenResponse = serde_json::from_str(r#"{"token":"t","access_token":"a"}"#).unwrap();
        assert_eq!(
            t.into_token(),
            Some(("t".to_string(), DEFAULT_TOKEN_LIFETIME))
        );
        let t: TokenResponse = serde_json::from_str("{}").unwrap();
        assert!(t.into_token().is_none());
        assert_eq!(
            token_url("https://auth/token", Some("reg svc"), "repository:a/b:pull"),
            "https://auth/token?service=reg%20svc&scope=repository%3Aa%2Fb%3Apull"
        );
        assert_eq!(
            token_url("https://auth/token?x=1", None, "s"),
            "https://auth/token?x=1&scope=s"
        );
        assert_eq!(
            login_token_url("http://a/token", Some("svc"), "u@x"),
            "http://a/token?account=u%40x&client_id=berth&offline_token=true&service=svc"
        );
        assert_eq!(
            login_token_url("http://a/token", None, ""),
            "http://a/token?client_id=berth&offline_token=true"
        );
        let t: TokenResponse =
            serde_json::from_str(r#"{"token":"t","refresh_token":"r"}"#).unwrap();
        assert_eq!(t.refresh_token, "r");
        let cache = TokenCache::default();
        cache.put("r", "s", "sc", "u", "tok".into(), Duration::from_secs(60));
        assert_eq!(cache.get("r", "s", "sc", "u").as_deref(), Some("tok"));
        assert!(cache.get("r", "s", "sc", "other").is_none());
        cache.put("r", "s", "sc2", "u", "old".into(), Duration::ZERO);
        assert!(cache.get("r", "s", "sc2", "u").is_none());
        cache.forget("r", "s", "sc", "u");
        assert!(cache.get("r", "s", "sc", "u").is_none());
    }
}
