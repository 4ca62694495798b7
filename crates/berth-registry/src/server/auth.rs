//! Basic authentication against an htpasswd file of bcrypt entries (`htpasswd -B`),
//! as registry:2's htpasswd auth does. A bcrypt check costs milliseconds by design,
//! and a client sends its credentials with every request, so a password that checked
//! out is remembered (as its sha256) for the life of the server.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use berth_image::content::sha256;
use berth_types::Digest;

use super::error::ServeError;

/// The realm the `WWW-Authenticate` challenge names.
pub const REALM: &str = "berth-registry";

/// The users of an htpasswd file.
pub struct Htpasswd {
    users: HashMap<String, String>,
    verified: Mutex<HashMap<String, Digest>>,
}

impl Htpasswd {
    /// Reads `user:hash` lines (blank lines and `#` comments skipped); only bcrypt
    /// hashes (`$2y$`, `$2a$`, `$2b$`) are accepted.
    pub fn load(path: &Path) -> Result<Htpasswd, ServeError> {
        let err = |message: String| ServeError::Htpasswd {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Htpasswd::parse(&text).map_err(err)
    }

    pub fn parse(text: &str) -> Result<Htpasswd, String> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("line {}: expected user:hash", i + 1));
            };
            if !["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)) {
                return Err(format!(
                    "line {}: the entry for {user:?} is not bcrypt (make it with htpasswd -B)",
                    i + 1
                ));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        if users.is_empty() {
            return Err("no users".into());
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The user an `Authorization` header authenticates, if it does.
    pub fn check(&self, authorization: Option<&str>) -> Option<String> {
        let (scheme, encoded) = authorization?.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        let hash = self.users.get(user)?;
        let fingerprint = sha256(password.as_bytes());
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.get(user) == Some(&fingerprint) {
            return Some(user.to_string());
        }
        drop(verified);
        if !bcrypt::verify(password, hash).unwrap_or(false) {
            return None;
        }
        verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        verified.insert(user.to_string(), fingerprint);
        Some(user.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn bcrypt_entries_check_passwords() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let h = Htpasswd::parse(&format!("# users\n\nalice:{hash}\n")).expect("parse");
        assert_eq!(
            h.check(Some(&basic("alice:s3cret"))).as_deref(),
            Some("alice")
        );
        // Again, from the remembered fingerprint.
        assert_eq!(
            h.check(Some(&basic("alice:s3cret"))).as_deref(),
            Some("alice")
        );
        assert_eq!(h.check(Some(&basic("alice:wrong"))), None);
        assert_eq!(h.check(Some(&basic("bob:s3cret"))), None);
        assert_eq!(h.check(Some("Bearer x")), None);
        assert_eq!(h.check(None), None);
    }

    #[test]
    fn other_hashes_are_refused() {
        let e = Htpasswd::parse("alice:$apr1$abc$def\n")
            .err()
            .expect("refused");
        assert!(e.contains("htpasswd -B"), "{e}");
        assert!(Htpasswd::parse("\n# nobody\n").is_err());
        assert!(Htpasswd::parse("nocolon\n").is_err());
    }
}
