//! Registry models: the credentials a client sends in `X-Registry-Auth` (and to
//! `/auth`), `/auth`'s answer, `/images/search`'s results, and
//! `/distribution/{name}/json`'s answer.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The header carrying credentials for a pull (or push).
pub const AUTH_HEADER: &str = "X-Registry-Auth";

/// Credentials for a registry, as the docker CLI sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// base64 of `username:password` (an alternative to the two fields).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

impl AuthConfig {
    /// Decodes an `X-Registry-Auth` value: base64url (padded or not; plain base64 is
    /// taken too) of the JSON object. As dockerd does for pulls, what does not decode
    /// is no credentials rather than an error. `auth` fills a missing username and
    /// password.
    pub fn from_header(value: &str) -> AuthConfig {
        let value = value.trim();
        if value.is_empty() {
            return AuthConfig::default();
        }
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let json = [URL_SAFE, URL_SAFE_NO_PAD, STANDARD, STANDARD_NO_PAD]
            .iter()
            .find_map(|e| e.decode(value).ok());
        let mut a: AuthConfig = json
            .and_then(|j| serde_json::from_slice(&j).ok())
            .unwrap_or_default();
        a.fill_from_auth();
        a
    }

    /// Decodes an `X-Registry-Config` value (a build's credentials): base64 of a JSON
    /// map from registry to its config. Undecodable input is no credentials.
    pub fn configs_from_header(value: &str) -> std::collections::HashMap<String, AuthConfig> {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let value = value.trim();
        let mut map: std::collections::HashMap<String, AuthConfig> =
            [URL_SAFE, URL_SAFE_NO_PAD, STANDARD, STANDARD_NO_PAD]
                .iter()
                .find_map(|e| e.decode(value).ok())
                .and_then(|j| serde_json::from_slice(&j).ok())
                .unwrap_or_default();
        for a in map.values_mut() {
            a.fill_from_auth();
        }
        map
    }

    /// Fills a missing username and password from `auth` (base64 of `user:pass`),
    /// where it decodes.
    pub fn fill_from_auth(&mut self) {
        if !self.username.is_empty() || self.auth.is_empty() {
            return;
        }
        if let Some((u, p)) = base64::engine::general_purpose::STANDARD
            .decode(self.auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
        {
            self.username = u;
            self.password = p;
        }
    }

    /// The header value the docker CLI would send for these credentials.
    pub fn to_header(&self) -> String {
        let json = serde_json::to_vec(self).expect("credentials always serialise");
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }
}

/// `POST /auth`'s answer to good credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthenticateOkBody {
    /// `Login Succeeded`.
    #[serde(rename = "Status")]
    pub status: String,
    /// A token to store in place of the password (empty when the registry gave none).
    #[serde(rename = "IdentityToken")]
    pub identity_token: String,
}

/// One result of `GET /images/search`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageSearchResult {
    pub star_count: u32,
    pub is_official: bool,
    pub name: String,
    pub is_automated: bool,
    pub description: String,
}

/// A descriptor as `/distribution/{name}/json` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DistributionDescriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
}

/// A platform an image is available for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DistributionPlatform {
    pub architecture: String,
    pub os: String,
    #[serde(rename = "os.version", skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    #[serde(rename = "os.features", skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

/// `GET /distribution/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DistributionInspect {
    #[serde(rename = "Descriptor")]
    pub descriptor: DistributionDescriptor,
    #[serde(rename = "Platforms")]
    pub platforms: Vec<DistributionPlatform>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_auth_headers_decode_as_dockerd_takes_them() {
        // What the docker CLI sends: base64url of the JSON, padded.
        let a = AuthConfig {
            username: "u".into(),
            password: "p>?~".into(),
            serveraddress: "127.0.0.1:5000".into(),
            ..AuthConfig::default()
        };
        let h = a.to_header();
        assert_eq!(AuthConfig::from_header(&h), a);
        assert_eq!(AuthConfig::from_header(h.trim_end_matches('=')), a);
        // Plain base64 and the `auth` field.
        let std = base64::engine::general_purpose::STANDARD
            .encode(br#"{"auth":"dXNlcjpwYXNz","identitytoken":"tok"}"#);
        let b = AuthConfig::from_header(&std);
        assert_eq!((b.username.as_str(), b.password.as_str()), ("user", "pass"));
        assert_eq!(b.identitytoken, "tok");
        // Garbage is no credentials, not an error.
        assert_eq!(AuthConfig::from_header("%%%"), AuthConfig::default());
        assert_eq!(AuthConfig::from_header(""), AuthConfig::default());
        let c = AuthConfig::from_header(
            &base64::engine::general_purpose::URL_SAFE.encode(br#"{"registrytoken":"rt"}"#),
        );
        assert_eq!(c.registrytoken, "rt");
    }
}
