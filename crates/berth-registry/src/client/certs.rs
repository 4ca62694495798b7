//! TLS trust for one registry: the system's CAs (rustls-native-certs; Mozilla's roots
//! when the system has none) plus `CERTS_DIR/HOST[:PORT]/*.crt`, and a client
//! certificate from a `*.cert` file with the `*.key` of the same name, as
//! `/etc/docker/certs.d` works.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

/// What a registry's certs.d directory holds.
#[derive(Debug, Default)]
pub struct HostCerts {
    /// Extra CAs (`*.crt`).
    pub cas: Vec<Certificate<'static>>,
    /// A client certificate chain and its key (`NAME.cert` + `NAME.key`).
    pub client: Option<(Vec<Certificate<'static>>, PrivateKey<'static>)>,
}

impl HostCerts {
    /// What the directory held, as one digest: agents made with other contents (the
    /// files changed since) are not reused.
    pub fn fingerprint(&self) -> String {
        let mut all = Vec::new();
        for c in &self.cas {
            all.extend_from_slice(c.der());
            all.push(0);
        }
        if let Some((chain, key)) = &self.client {
            all.push(1);
            for c in chain {
                all.extend_from_slice(c.der());
                all.push(0);
            }
            all.extend_from_slice(key.der());
        }
        berth_image::content::sha256(&all).to_string()
    }
}

/// A certs.d problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("missing key {key} for client certificate {cert}. CA certificates must use the extension .crt")]
    MissingKey { cert: PathBuf, key: PathBuf },
    #[error("missing client certificate {cert} for key {key}")]
    MissingCert { cert: PathBuf, key: PathBuf },
}

fn read(path: &Path) -> Result<Vec<u8>, CertsError> {
    std::fs::read(path).map_err(|source| CertsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn certs_of(path: &Path) -> Result<Vec<Certificate<'static>>, CertsError> {
    let pem = read(path)?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(CertsError::Pem {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })
            }
        }
    }
    if out.is_empty() {
        return Err(CertsError::Pem {
            path: path.to_path_buf(),
            message: "no PEM certificate in it".into(),
        });
    }
    Ok(out)
}

/// Loads `certs_dir/host` (a missing directory is no extra trust, no client cert).
pub fn load(certs_dir: &Path, host: &str) -> Result<HostCerts, CertsError> {
    let dir = certs_dir.join(host);
    let mut out = HostCerts::default();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => return Err(CertsError::Io { path: dir, source }),
    };
    let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for f in &files {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "crt" => out.cas.extend(certs_of(f)?),
            "cert" => {
                let key = f.with_extension("key");
                if !files.contains(&key) {
                    return Err(CertsError::MissingKey {
                        cert: f.clone(),
                        key,
                    });
                }
                let pem = read(&key)?;
                let k = PrivateKey::from_pem(&pem).map_err(|e| CertsError::Pem {
                    path: key.clone(),
                    message: e.to_string(),
                })?;
                out.client = Some((certs_of(f)?, k));
            }
            "key" => {
                let cert = f.with_extension("cert");
                if !files.contains(&cert) {
                    return Err(CertsError::MissingCert {
                        cert,
                        key: f.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The system's CAs, read once.
fn system_roots() -> &'static [Certificate<'static>] {
    static ROOTS: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect()
    })
}

/// The TLS configuration for a registry with these certs.
pub fn tls_config(certs: &HostCerts, skip_verify: bool) -> TlsConfig {
    let system = system_roots();
    let roots = if system.is_empty() && certs.cas.is_empty() {
        RootCerts::WebPki
    } else {
        let mut all: Vec<Certificate<'static>> = system.to_vec();
        all.extend(certs.cas.iter().cloned());
        RootCerts::new_with_certs(&all)
    };
    TlsConfig::builder()
        .root_certs(roots)
        .client_cert(
            certs
                .client
                .as_ref()
                .map(|(chain, key)| ClientCert::new_with_certs(chain, key.to_owned())),
        )
        .disable_verification(skip_verify)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    // PEM framing is all `load` reads; these bodies are not real keys or certificates.
    const CERT: &str =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZm9vYmFy\n-----END CERTIFICATE-----\n";
    const KEY: &str =
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqG\n-----END PRIVATE KEY-----\n";

    #[test]
    fn certs_d_gives_cas_and_a_client_pair() {
        let t = tempfile::tempdir().unwrap();
        assert!(load(t.path(), "none:5000").unwrap().cas.is_empty());
        let d = t.path().join("reg.example:5000");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("ca.crt"), format!("{CERT}{CERT}")).unwrap();
        std::fs::write(d.join("client.cert"), CERT).unwrap();
        std::fs::write(d.join("client.key"), KEY).unwrap();
        std::fs::write(d.join("README"), "ignored").unwrap();
        let c = load(t.path(), "reg.example:5000").unwrap();
        assert_eq!(c.cas.len(), 2);
        let (chain, _key) = c.client.as_ref().unwrap();
        assert_eq!(chain.len(), 1);
        let _ = tls_config(&c, false);

        std::fs::remove_file(d.join("client.key")).unwrap();
        let e = load(t.path(), "reg.example:5000").unwrap_err().to_string();
        assert!(e.contains("missing key") && e.contains("client.key"), "{e}");
        std::fs::remove_file(d.join("client.cert")).unwrap();
        std::fs::write(d.join("other.key"), KEY).unwrap();
        let e = load(t.path(), "reg.example:5000").unwrap_err().to_string();
        assert!(e.contains("other.cert"), "{e}");
        std::fs::remove_file(d.join("other.key")).unwrap();
        std::fs::write(d.join("bad.crt"), "not pem").unwrap();
        let e = load(t.path(), "reg.example:5000").unwrap_err().to_string();
        assert!(e.contains("bad.crt"), "{e}");
    }
}
