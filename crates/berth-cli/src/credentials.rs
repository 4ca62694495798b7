//! Registry credentials where the docker CLI keeps them: `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`), in its `auths` map (`{"auths":{"HOST":{"auth":
//! base64(user:pass)}}}`, Docker Hub under `https://index.docker.io/v1/`), or in a
//! credential helper (`docker-credential-NAME`) when `credHelpers[HOST]` or
//! `credsStore` names one. The file is rewritten whole and atomically (a temporary
//! file beside it, mode 0600, renamed over it), keeping every key berth does not know.
//!
//! [`registry_auth_header`] is what `pull`, `run`, `create` (and `push`) send as
//! `X-Registry-Auth` for a reference's registry.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use berth_api_types::registry::AuthConfig;
use serde_json::{Map, Value};

/// Where credentials for Docker Hub are kept (the key the docker CLI uses).
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// The reference domain of Docker Hub.
const DOCKER_HUB_DOMAIN: &str = "docker.io";

/// What a credential helper says when it has nothing for a server.
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";

/// A failure reading or writing credentials; each names the file or helper at fault.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid docker config file: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("credential helper docker-credential-{helper} {action} failed: {message}")]
    Helper {
        helper: String,
        action: &'static str,
        message: String,
    },
    #[error("cannot find the docker config directory: neither DOCKER_CONFIG nor HOME is set")]
    NoConfigDir,
}

/// The docker config directory: `$DOCKER_CONFIG`, else `$HOME/.docker`.
pub fn config_dir() -> Result<PathBuf, CredentialsError> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker"))
        .ok_or(CredentialsError::NoConfigDir)
}

/// The key credentials for `server` are kept under, as the docker CLI's
/// `ConvertToHostname` makes it: the scheme and any path removed.
pub fn convert_to_hostname(server: &str) -> String {
    let s = server.trim();
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .unwrap_or(s);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// The key for a login's server argument: Docker Hub's for none (or `docker.io`),
/// else the host.
pub fn login_key(server: Option<&str>) -> String {
    match server.map(str::trim) {
        None | Some("") | Some(DOCKER_HUB_DOMAIN) => DOCKER_HUB_SERVER.to_string(),
        Some(s) => {
            let host = convert_to_hostname(s);
            if matches!(
                host.as_str(),
                "index.docker.io" | "registry-1.docker.io" | DOCKER_HUB_DOMAIN
            ) {
                DOCKER_HUB_SERVER.to_string()
            } else {
                host
            }
        }
    }
}

/// The key for a reference's registry domain (`docker.io` is Docker Hub's key).
pub fn domain_key(domain: &str) -> String {
    if domain == DOCKER_HUB_DOMAIN {
        DOCKER_HUB_SERVER.to_string()
    } else {
        domain.to_string()
    }
}

/// The docker config file, as a JSON object kept whole.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    doc: Map<String, Value>,
    /// Where helpers are looked for (None: `PATH`).
    helper_dir: Option<PathBuf>,
}

impl ConfigFile {
    /// `config.json` in the docker config directory.
    pub fn load_default() -> Result<ConfigFile, CredentialsError> {
        ConfigFile::load(&config_dir()?.join("config.json"))
    }

    /// Reads `path`; a missing or empty file is an empty configuration.
    pub fn load(path: &Path) -> Result<ConfigFile, CredentialsError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(CredentialsError::Io {
                    action: "reading",
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let doc = if text.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(CredentialsError::Parse {
                        path: path.to_path_buf(),
                        message: "not a JSON object".into(),
                    })
                }
                Err(e) => {
                    return Err(CredentialsError::Parse {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    })
                }
            }
        };
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
            helper_dir: None,
        })
    }

    /// Looks for credential helpers in `dir` rather than on `PATH`.
    pub fn with_helper_dir(mut self, dir: &Path) -> ConfigFile {
        self.helper_dir = Some(dir.to_path_buf());
        self
    }

    fn helper(&self, name: String) -> Helper<'_> {
        Helper {
            name,
            dir: self.helper_dir.as_deref(),
        }
    }

    /// The credential helper for `key`: `credHelpers[key]`, else `credsStore`.
    pub fn helper_for(&self, key: &str) -> Option<String> {
        let named = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        named(self.doc.get("credHelpers").and_then(|h| h.get(key)))
            .or_else(|| named(self.doc.get("credsStore")))
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths").and_then(Value::as_object)
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let v = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        v.as_object_mut().expect("auths was just made an object")
    }

    /// The `auths` entry for `key` (or, as the docker CLI looks, the first whose
    /// host is `key`: `http://HOST/v1/` entries of old).
    fn file_entry(&self, key: &str) -> Option<&Value> {
        let auths = self.auths()?;
        auths.get(key).or_else(|| {
            auths
                .iter()
                .find(|(k, _)| convert_to_hostname(k) == key)
                .map(|(_, v)| v)
        })
    }

    /// The credentials stored in the file itself for `key`.
    pub fn file_credentials(&self, key: &str) -> Option<AuthConfig> {
        let e = self.file_entry(key)?;
        let field = |n: &str| e.get(n).and_then(Value::as_str).unwrap_or("").to_string();
        let mut a = AuthConfig {
            auth: field("auth"),
            email: field("email"),
            identitytoken: field("identitytoken"),
            registrytoken: field("registrytoken"),
            serveraddress: key.to_string(),
            ..AuthConfig::default()
        };
        a.fill_from_auth();
        a.auth.clear();
        Some(a)
    }

    /// Credentials for `key`, from its helper or the file; None when there are none.
    pub fn get(&self, key: &str) -> Result<Option<AuthConfig>, CredentialsError> {
        let found = match self.helper_for(key) {
            Some(h) => self.helper(h).get(key)?,
            None => self.file_credentials(key),
        };
        Ok(found.filter(|a| {
            !(a.username.is_empty() && a.identitytoken.is_empty() && a.registrytoken.is_empty())
        }))
    }

    /// Every stored credential, by registry key, as the docker CLI's
    /// `GetAllCredentials` collects them for a build: the `credsStore` helper's list
    /// (else the file's `auths`), then each `credHelpers` registry from its own
    /// helper, which wins. What cannot be read is left out.
    pub fn all_credentials(&self) -> BTreeMap<String, AuthConfig> {
        let mut all = BTreeMap::new();
        let store = self
            .doc
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        match store {
            Some(store) => {
                let helper = self.helper(store.to_string());
                let listed = helper
                    .run("list", b"")
                    .ok()
                    .and_then(|l| serde_json::from_str::<BTreeMap<String, String>>(&l).ok())
                    .unwrap_or_default();
                for key in listed.keys() {
                    if let Ok(Some(mut a)) = helper.get(key) {
                        // Emails are kept in the file only.
                        if let Some(f) = self.file_credentials(key) {
                            a.email = f.email;
                        }
                        all.insert(key.clone(), a);
                    }
                }
            }
            None => {
                for key in self.auths().map(|a| a.keys()).into_iter().flatten() {
                    if let Some(a) = self.file_credentials(key) {
                        all.insert(key.clone(), a);
                    }
                }
            }
        }
        let helpers: Vec<(String, String)> = self
            .doc
            .get("credHelpers")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .filter(|(_, h)| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for (key, helper) in helpers {
            if let Ok(Some(a)) = self.helper(helper).get(&key) {
                all.insert(key, a);
            }
        }
        all
    }

    /// The proxy settings of `proxies` for the daemon at `host` (its own entry, else
    /// `default`), as the build args the docker CLI adds for them: `HTTP_PROXY` and
    /// `http_proxy` from `httpProxy`, and so on for HTTPS, FTP, NO and ALL.
    pub fn proxy_build_args(&self, host: &str) -> Vec<(String, String)> {
        let Some(proxies) = self.doc.get("proxies").and_then(Value::as_object) else {
            return Vec::new();
        };
        let Some(p) = proxies.get(host).or_else(|| proxies.get("default")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (field, arg) in [
            ("httpProxy", "HTTP_PROXY"),
            ("httpsProxy", "HTTPS_PROXY"),
            ("noProxy", "NO_PROXY"),
            ("ftpProxy", "FTP_PROXY"),
            ("allProxy", "ALL_PROXY"),
        ] {
            if let Some(v) = p
                .get(field)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
            {
                out.push((arg.to_string(), v.to_string()));
                out.push((arg.to_lowercase(), v.to_string()));
            }
        }
        out
    }

    /// Stores credentials for `key`: in its helper (the file then keeps an empty
    /// entry, as the docker CLI's does), or in the file's `auths`. Saves the file.
    /// Returns whether the secret went into the file itself (unencrypted).
    pub fn store(&mut self, key: &str, a: &AuthConfig) -> Result<bool, CredentialsError> {
        let plain = match self.helper_for(key) {
            Some(h) => {
                self.helper(h).store(key, a)?;
                let mut entry = Map::new();
                if !a.email.is_empty() {
                    entry.insert("email".into(), a.email.clone().into());
                }
                self.auths_mut()
                    .insert(key.to_string(), Value::Object(entry));
                false
            }
            None => {
                let mut entry = Map::new();
                let userpass = format!("{}:{}", a.username, a.password);
                entry.insert(
                    "auth".into(),
                    base64::engine::general_purpose::STANDARD
                        .encode(userpass)
                        .into(),
                );
                for (k, v) in [
                    ("email", &a.email),
                    ("identitytoken", &a.identitytoken),
                    ("registrytoken", &a.registrytoken),
                ] {
                    if !v.is_empty() {
                        entry.insert(k.into(), v.clone().into());
                    }
                }
                self.auths_mut()
                    .insert(key.to_string(), Value::Object(entry));
                true
            }
        };
        self.save()?;
        Ok(plain)
    }

    /// Removes the credentials for each of `keys` (from its helper and the file);
    /// saves the file. Returns the keys whose removal failed, with why.
    pub fn erase(&mut self, keys: &[String]) -> Result<Vec<(String, String)>, CredentialsError> {
        let mut failed = Vec::new();
        for key in keys {
            if let Some(h) = self.helper_for(key) {
                if let Err(e) = self.helper(h).erase(key) {
                    failed.push((key.clone(), e.to_string()));
                }
            }
            self.auths_mut().remove(key);
        }
        self.save()?;
        Ok(failed)
    }

    /// Writes the file atomically: a temporary file (mode 0600) in the same
    /// directory, synced, renamed over it (over a symlink's target, not the link).
    pub fn save(&self) -> Result<(), CredentialsError> {
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| CredentialsError::Io {
                action,
                path,
                source,
            }
        };
        let target = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let dir = target
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        let mut text = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut text, fmt);
        serde::Serialize::serialize(&self.doc, &mut ser).map_err(|e| CredentialsError::Parse {
            path: target.clone(),
            message: e.to_string(),
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".config.json.")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(&dir)
            .map_err(io("creating a temporary file in", &dir))?;
        tmp.write_all(&text)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(io("writing", tmp.path()))?;
        tmp.persist(&target).map_err(|e| CredentialsError::Io {
            action: "replacing",
            path: target.clone(),
            source: e.error,
        })?;
        Ok(())
    }
}

/// The helper protocol's credentials document.
#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
struct HelperCredentials {
    #[serde(rename = "ServerURL")]
    server_url: String,
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// The helper's username for an identity token (its secret is the token).
const TOKEN_USERNAME: &str = "<token>";

/// A credential helper, `docker-credential-NAME`.
struct Helper<'a> {
    name: String,
    dir: Option<&'a Path>,
}

impl Helper<'_> {
    /// Runs `docker-credential-HELPER ACTION` with `input` on stdin; its stdout, or
    /// its complaint.
    fn run(&self, action: &'static str, input: &[u8]) -> Result<String, CredentialsError> {
        let helper = self.name.as_str();
        let program = format!("docker-credential-{helper}");
        let err = |message: String| CredentialsError::Helper {
            helper: helper.to_string(),
            action,
            message,
        };
        let exe = match self.dir {
            Some(d) => d.join(&program),
            None => PathBuf::from(&program),
        };
        let spawn = || {
            Command::new(&exe)
                .arg(action)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        };
        // A helper written a moment ago can still be open for writing in a child
        // another thread is forking (ETXTBSY until that child execs): try again.
        let mut tries = 0;
        let mut child = loop {
            match spawn() {
                Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                r => break r.map_err(|e| err(format!("cannot run {program}: {e}")))?,
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is judged by its status below.
            let _ = stdin.write_all(input);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| err(format!("waiting for {program}: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let message = [stdout, stderr]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        Err(err(if message.is_empty() {
            format!("{program} exited with {}", out.status)
        } else {
            message
        }))
    }

    fn get(&self, key: &str) -> Result<Option<AuthConfig>, CredentialsError> {
        let helper = self.name.as_str();
        let out = match self.run("get", key.as_bytes()) {
            Ok(o) => o,
            Err(CredentialsError::Helper { message, .. }) if message.contains(HELPER_NOT_FOUND) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let c: HelperCredentials =
            serde_json::from_str(&out).map_err(|e| CredentialsError::Helper {
                helper: helper.to_string(),
                action: "get",
                message: format!("its answer does not parse: {e}"),
            })?;
        let mut a = AuthConfig {
            serveraddress: key.to_string(),
            ..AuthConfig::default()
        };
        if c.username == TOKEN_USERNAME {
            a.identitytoken = c.secret;
        } else {
            a.username = c.username;
            a.password = c.secret;
        }
        Ok(Some(a))
    }

    fn store(&self, key: &str, a: &AuthConfig) -> Result<(), CredentialsError> {
        let c = if a.identitytoken.is_empty() {
            HelperCredentials {
                server_url: key.to_string(),
                username: a.username.clone(),
                secret: a.password.clone(),
            }
        } else {
            HelperCredentials {
                server_url: key.to_string(),
                username: TOKEN_USERNAME.into(),
                secret: a.identitytoken.clone(),
            }
        };
        let json = serde_json::to_vec(&c).expect("helper credentials always serialise");
        self.run("store", &json).map(|_| ())
    }

    fn erase(&self, key: &str) -> Result<(), CredentialsError> {
        self.run("erase", key.as_bytes()).map(|_| ())
    }
}

/// The `X-Registry-Auth` value for registry `domain` (a reference's domain:
/// `docker.io`, `127.0.0.1:5000`, …), from the stored credentials, as the docker CLI
/// sends it; None when none are stored (or they cannot be read: the registry then
/// says what it wants).
pub fn registry_auth_header(domain: &str) -> Option<String> {
    let key = domain_key(domain);
    let cfg = ConfigFile::load_default().ok()?;
    let mut a = cfg.get(&key).ok()??;
    a.serveraddress = key;
    Some(a.to_header())
}

/// The `X-Registry-Config` value a build sends: base64url of every stored
/// credential by registry (`e30=`, `{}`, when there are none or the config cannot
/// be read), so that FROM can pull from any of them.
pub fn registry_config_header() -> String {
    let all = ConfigFile::load_default()
        .map(|c| c.all_credentials())
        .unwrap_or_default();
    let json = serde_json::to_vec(&all).expect("credentials always serialise");
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

/// `ETXTBSY` on Linux.
const ETXTBSY: i32 = 26;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_become_build_args_for_their_daemon_or_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"proxies":{"default":{"httpProxy":"http://p:3128","noProxy":"*.local"},"tcp://h:2375":{"ftpProxy":"ftp://f"}}}"#,
        )
        .unwrap();
        let cfg = ConfigFile::load(&path).unwrap();
        let args = cfg.proxy_build_args("unix:///run/berth/berth.sock");
        assert_eq!(
            args,
            [
                ("HTTP_PROXY".to_string(), "http://p:3128".to_string()),
                ("http_proxy".into(), "http://p:3128".into()),
                ("NO_PROXY".into(), "*.local".into()),
                ("no_proxy".into(), "*.local".into()),
            ]
        );
        assert_eq!(
            cfg.proxy_build_args("tcp://h:2375"),
            [
                ("FTP_PROXY".to_string(), "ftp://f".to_string()),
                ("ftp_proxy".into(), "ftp://f".into())
            ]
        );
        std::fs::write(&path, "{}").unwrap();
        assert!(ConfigFile::load(&path)
            .unwrap()
            .proxy_build_args("x")
            .is_empty());
    }

    #[test]
    fn all_credentials_for_a_build_from_the_file_and_the_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        // A helper that knows one registry, as docker-credential-* helpers answer.
        let helper = dir.path().join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\ncase \"$1\" in\nget) read k; echo '{\"ServerURL\":\"'$k'\",\"Username\":\"hu\",\"Secret\":\"hp\"}';;\nlist) echo '{\"h.example\":\"hu\"}';;\nesac\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            &path,
            r#"{"auths":{"a.example":{"auth":"dTpw"},"b.example":{"auth":"dTI6cDI="}},"credHelpers":{"b.example":"fake"}}"#,
        )
        .unwrap();
        let cfg = ConfigFile::load(&path).unwrap().with_helper_dir(dir.path());
        let all = cfg.all_credentials();
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(
            (
                all["a.example"].username.as_str(),
                all["a.example"].password.as_str()
            ),
            ("u", "p")
        );
        assert_eq!(all["a.example"].serveraddress, "a.example");
        assert!(all["a.example"].auth.is_empty());
        // The registry's own helper wins over the file.
        assert_eq!(all["b.example"].username, "hu");
        std::fs::write(&path, r#"{"credsStore":"fake"}"#).unwrap();
        let cfg = ConfigFile::load(&path).unwrap().with_helper_dir(dir.path());
        let all = cfg.all_credentials();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["h.example"]);
        assert_eq!(all["h.example"].password, "hp");
        std::fs::write(&path, "{}").unwrap();
        let cfg = ConfigFile::load(&path).unwrap();
        assert_eq!(serde_json::to_string(&cfg.all_credentials()).unwrap(), "{}");
    }

    fn read(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn keys_as_the_docker_cli_makes_them() {
        assert_eq!(login_key(None), DOCKER_HUB_SERVER);
        assert_eq!(login_key(Some("docker.io")), DOCKER_HUB_SERVER);
        assert_eq!(
            login_key(Some("https://index.docker.io/v1/")),
            DOCKER_HUB_SERVER
        );
        assert_eq!(
            login_key(Some("http://127.0.0.1:5000/v2/")),
            "127.0.0.1:5000"
        );
        assert_eq!(login_key(Some("localhost:5000")), "localhost:5000");
        assert_eq!(domain_key("docker.io"), DOCKER_HUB_SERVER);
        assert_eq!(domain_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(convert_to_hostname("https://r.example/v1/"), "r.example");
    }

    #[test]
    fn storing_keeps_every_other_key_and_writes_0600_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"other.example":{"auth":"eDp5"}},"psFormat":"table {{.ID}}","proxies":{"default":{"httpProxy":"http://p:3128"}},"currentContext":"x"}"#,
        )
        .unwrap();
        let mut cfg = ConfigFile::load(&path).unwrap();
        let a = AuthConfig {
            username: "tester".into(),
            password: "s3:cret".into(),
            ..AuthConfig::default()
        };
        assert!(
            cfg.store("127.0.0.1:5000", &a).unwrap(),
            "stored in the file"
        );
        let v = read(&path);
        assert_eq!(v["psFormat"], "table {{.ID}}");
        assert_eq!(v["proxies"]["default"]["httpProxy"], "http://p:3128");
        assert_eq!(v["currentContext"], "x");
        assert_eq!(v["auths"]["other.example"]["auth"], "eDp5");
        assert_eq!(v["auths"]["127.0.0.1:5000"]["auth"], "dGVzdGVyOnMzOmNyZXQ=");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temporary file left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config.json"]);

        // Read back, through a fresh load; the password keeps its colon.
        let cfg = ConfigFile::load(&path).unwrap();
        let got = cfg.get("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(
            (got.username.as_str(), got.password.as_str()),
            ("tester", "s3:cret")
        );
        assert_eq!(got.serveraddress, "127.0.0.1:5000");
        assert!(cfg.get("127.0.0.1:5001").unwrap().is_none());

        // An identity token is stored beside an empty password.
        let mut cfg = ConfigFile::load(&path).unwrap();
        let t = AuthConfig {
            username: "tester".into(),
            identitytoken: "refresh-me".into(),
            ..AuthConfig::default()
        };
        cfg.store("tok.example", &t).unwrap();
        let v = read(&path);
        assert_eq!(v["auths"]["tok.example"]["identitytoken"], "refresh-me");
        assert_eq!(v["auths"]["tok.example"]["auth"], "dGVzdGVyOg==");
        let got = ConfigFile::load(&path)
            .unwrap()
            .get("tok.example")
            .unwrap()
            .unwrap();
        assert_eq!(got.identitytoken, "refresh-me");

        // Erasing removes those keys only; erasing what is not there is no error.
        let mut cfg = ConfigFile::load(&path).unwrap();
        let failed = cfg
            .erase(&["127.0.0.1:5000".into(), "http://127.0.0.1:5000".into()])
            .unwrap();
        assert!(failed.is_empty());
        let v = read(&path);
        assert!(v["auths"].get("127.0.0.1:5000").is_none());
        assert_eq!(v["auths"]["other.example"]["auth"], "eDp5");
        assert_eq!(v["psFormat"], "table {{.ID}}");
    }

    #[test]
    fn old_style_keys_are_found_by_host_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://r.example/v1/":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        let got = ConfigFile::load(&path)
            .unwrap()
            .get("r.example")
            .unwrap()
            .unwrap();
        assert_eq!((got.username.as_str(), got.password.as_str()), ("u", "p"));
        // A missing file is an empty configuration, made on the first store.
        let fresh = dir.path().join("sub/config.json");
        let mut cfg = ConfigFile::load(&fresh).unwrap();
        assert!(cfg.get("x").unwrap().is_none());
        cfg.store(
            "x",
            &AuthConfig {
                username: "a".into(),
                password: "b".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(read(&fresh)["auths"]["x"]["auth"], "YTpi");
        std::fs::write(&path, "{not json").unwrap();
        let e = ConfigFile::load(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
    }

    /// A credential helper (a shell script keeping one file per server) on PATH.
    fn fake_helper(dir: &Path) -> PathBuf {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let store = dir.join("store");
        std::fs::create_dir_all(&store).unwrap();
        let script = format!(
            r#"#!/bin/sh
st={store}
case "$1" in
store) j=$(cat); u=$(printf %s "$j" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/' | tr '/:' '__'); printf %s "$j" > "$st/$u";;
get) u=$(cat | tr '/:' '__'); if [ -f "$st/$u" ]; then cat "$st/$u"; else echo "credentials not found in native keychain"; exit 1; fi;;
erase) u=$(cat | tr '/:' '__'); if [ -f "$st/$u" ]; then rm "$st/$u"; else echo "credentials not found in native keychain"; exit 1; fi;;
*) exit 2;;
esac
"#,
            store = store.display()
        );
        let p = bin.join("docker-credential-berthtest");
        std::fs::write(&p, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    #[test]
    fn credential_helpers_store_get_and_erase() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_helper(dir.path());
        let load = |p: &Path| ConfigFile::load(p).unwrap().with_helper_dir(&bin);
        let cfg_path = dir.path().join("config.json");
        std::fs::write(
            &cfg_path,
            r#"{"credHelpers":{"helped.example":"berthtest"},"detachKeys":"ctrl-e,e"}"#,
        )
        .unwrap();
        let mut cfg = load(&cfg_path);
        assert_eq!(
            cfg.helper_for("helped.example").as_deref(),
            Some("berthtest")
        );
        assert_eq!(cfg.helper_for("plain.example"), None);
        let a = AuthConfig {
            username: "hu".into(),
            password: "hp".into(),
            ..AuthConfig::default()
        };
        assert!(
            !cfg.store("helped.example", &a).unwrap(),
            "kept by the helper"
        );
        let v = read(&cfg_path);
        assert_eq!(v["auths"]["helped.example"], serde_json::json!({}), "{v}");
        assert_eq!(v["detachKeys"], "ctrl-e,e");
        assert!(!std::fs::read_to_string(&cfg_path).unwrap().contains("hp"));
        let got = cfg.get("helped.example").unwrap().unwrap();
        assert_eq!((got.username.as_str(), got.password.as_str()), ("hu", "hp"));
        // An identity token travels as the `<token>` user.
        let t = AuthConfig {
            username: "hu".into(),
            identitytoken: "idt".into(),
            ..AuthConfig::default()
        };
        cfg.store("helped.example", &t).unwrap();
        let got = cfg.get("helped.example").unwrap().unwrap();
        assert_eq!(
            (got.username.as_str(), got.identitytoken.as_str()),
            ("", "idt")
        );
        // credsStore serves every other registry.
        std::fs::write(&cfg_path, r#"{"credsStore":"berthtest"}"#).unwrap();
        let mut cfg = load(&cfg_path);
        assert!(
            cfg.get("any.example").unwrap().is_none(),
            "not found is none"
        );
        cfg.store("any.example", &a).unwrap();
        assert!(cfg.get("any.example").unwrap().is_some());
        let failed = cfg
            .erase(&["any.example".into(), "http://any.example".into()])
            .unwrap();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].0, "http://any.example");
        assert!(cfg.get("any.example").unwrap().is_none());
        // A helper that is not installed is an error naming it.
        std::fs::write(&cfg_path, r#"{"credsStore":"nosuchhelper"}"#).unwrap();
        let e = load(&cfg_path).get("x").unwrap_err().to_string();
        assert!(e.contains("docker-credential-nosuchhelper"), "{e}");
    }
}
