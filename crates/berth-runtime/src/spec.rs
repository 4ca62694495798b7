//! Loading and validating a bundle's config.json.

use crate::error::{Result, RuntimeError};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A bundle: its directory, parsed config and absolute rootfs path.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

fn invalid(path: &Path, msg: impl Into<String>) -> RuntimeError {
    RuntimeError::InvalidConfig {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

impl Bundle {
    /// Whether the process asks for a terminal.
    pub fn terminal(&self) -> bool {
        self.spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false)
    }

    /// Read `<dir>/config.json` and check what the runtime relies on.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir).map_err(|e| RuntimeError::Io {
            context: format!("bundle directory {}", dir.display()),
            source: e,
        })?;
        let path = dir.join("config.json");
        let data = std::fs::read(&path).map_err(|e| RuntimeError::Io {
            context: format!("reading {}", path.display()),
            source: e,
        })?;
        let spec: Spec =
            serde_json::from_slice(&data).map_err(|e| invalid(&path, e.to_string()))?;
        let rootfs = validate(&spec, &dir, &path)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Validate a spec and return the absolute rootfs path.
pub fn validate(spec: &Spec, dir: &Path, path: &Path) -> Result<PathBuf> {
    if spec.version().is_empty() {
        return Err(invalid(path, "ociVersion is empty"));
    }
    if !spec.version().starts_with("1.") {
        return Err(invalid(
            path,
            format!("unsupported ociVersion {:?}", spec.version()),
        ));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid(path, "root is missing"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        dir.join(root.path())
    };
    let md = std::fs::metadata(&rootfs).map_err(|e| RuntimeError::Io {
        context: format!("rootfs {}", rootfs.display()),
        source: e,
    })?;
    if !md.is_dir() {
        return Err(invalid(
            path,
            format!("root.path {} is not a directory", rootfs.display()),
        ));
    }
    if let Some(p) = spec.process() {
        if !p.cwd().is_absolute() {
            return Err(invalid(
                path,
                format!("process.cwd {:?} is not an absolute path", p.cwd()),
            ));
        }
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(invalid(path, "process.args must not be empty"));
        }
        if let Some(env) = p.env() {
            for e in env {
                if !e.contains('=') {
                    return Err(invalid(path, format!("process.env entry {e:?} has no '='")));
                }
            }
        }
    }
    if let Some(mounts) = spec.mounts() {
        for m in mounts {
            if !m.destination().is_absolute() {
                return Err(invalid(
                    path,
                    format!(
                        "mount destination {:?} is not an absolute path",
                        m.destination()
                    ),
                ));
            }
        }
    }
    if let Some(linux) = spec.linux() {
        let mut seen = HashSet::new();
        let mut has_user = false;
        for ns in linux.namespaces().as_deref().unwrap_or_default() {
            if !seen.insert(ns.typ()) {
                return Err(invalid(
                    path,
                    format!("namespace {:?} listed twice", ns.typ()),
                ));
            }
            if ns.typ() == LinuxNamespaceType::User {
                has_user = true;
            }
            if let Some(p) = ns.path() {
                if !p.is_absolute() {
                    return Err(invalid(
                        path,
                        format!("namespace path {p:?} is not absolute"),
                    ));
                }
            }
        }
        let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if maps && !has_user {
            return Err(invalid(
                path,
                "uidMappings/gidMappings given without a user namespace",
            ));
        }
        if let Some(sysctl) = linux.sysctl() {
            for key in sysctl.keys() {
                if key.contains("..") || key.starts_with('/') || key.starts_with('.') {
                    return Err(invalid(path, format!("sysctl key {key:?} is invalid")));
                }
            }
        }
        if let Some(prop) = linux.rootfs_propagation() {
            if !matches!(
                prop.as_str(),
                "" | "private"
                    | "rprivate"
                    | "slave"
                    | "rslave"
                    | "shared"
                    | "rshared"
                    | "unbindable"
                    | "runbindable"
            ) {
                return Err(invalid(
                    path,
                    format!("rootfsPropagation {prop:?} is not a valid propagation"),
                ));
            }
        }
    }
    Ok(rootfs)
}

/// Whether the spec asks for (new or joined) namespace `t`, and its path if joined.
pub fn namespace(spec: &Spec, t: LinuxNamespaceType) -> Option<Option<PathBuf>> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|n| n.typ() == t)
        .map(|n| n.path().clone())
}
