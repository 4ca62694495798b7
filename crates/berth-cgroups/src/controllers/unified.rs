//! OCI `unified`: raw cgroup v2 "file: value" pairs, written as given after
//! the typed resources (so they can override them). Keys must be plain file
//! names in the cgroup directory.

use std::collections::HashMap;
use std::path::Path;

use crate::{fs, CgroupError};

pub(crate) fn validate(u: &HashMap<String, String>) -> Result<(), CgroupError> {
    for k in u.keys() {
        if k.is_empty() || k.contains('/') || k.starts_with('.') || !k.contains('.') {
            return Err(CgroupError::invalid(
                "unified key",
                format!("{k:?} (expected a cgroup v2 file name like \"memory.high\")"),
            ));
        }
        if k == "cgroup.procs" || k == "cgroup.threads" || k == "cgroup.subtree_control" {
            return Err(CgroupError::invalid(
                "unified key",
                format!("{k:?} is managed by the runtime"),
            ));
        }
    }
    Ok(())
}

/// The controllers the keys belong to ("memory" for "memory.high"; core
/// "cgroup.*" files need none).
pub(crate) fn controllers(u: &HashMap<String, String>) -> Vec<&str> {
    let mut out: Vec<&str> = u
        .keys()
        .filter_map(|k| k.split_once('.').map(|(c, _)| c))
        .filter(|c| *c != "cgroup")
        .collect();
    out.sort();
    out.dedup();
    out
}

pub(crate) fn set(dir: &Path, u: &HashMap<String, String>) -> Result<(), CgroupError> {
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for k in keys {
        match fs::write(dir, k, &u[k]) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                return Err(CgroupError::Unsupported {
                    resource: format!("unified {k}={:?}", u[k]),
                    path: dir.join(k),
                    hint: "no such cgroup v2 file; is its controller enabled?".into(),
                })
            }
            r => r?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cat, seed, TempDir};

    #[test]
    fn keys_and_writes() {
        let t = TempDir::new();
        seed(t.path(), &[("memory.high", ""), ("pids.max", "")]);
        let mut u = HashMap::new();
        u.insert("memory.high".to_string(), "123456".to_string());
        u.insert("pids.max".to_string(), "9".to_string());
        validate(&u).unwrap();
        assert_eq!(controllers(&u), ["memory", "pids"]);
        set(t.path(), &u).unwrap();
        assert_eq!(cat(t.path(), "memory.high"), "123456");
        u.insert("io.latency".to_string(), "x".to_string());
        let e = set(t.path(), &u).unwrap_err().to_string();
        assert!(e.contains("io.latency does not exist"), "{e}");
        for bad in ["../memory.max", "memory", "", "cgroup.procs", ".hidden"] {
            let mut u = HashMap::new();
            u.insert(bad.to_string(), "1".to_string());
            assert!(validate(&u).is_err(), "{bad}");
        }
    }
}
