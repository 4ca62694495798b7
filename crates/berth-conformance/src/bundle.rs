//! OCI bundles for the suite: a unique temporary directory with a rootfs made
//! of Debian's static busybox, /etc/passwd and /etc/group, and the static
//! checker at /bin/checker, plus a config.json that tests mutate as JSON.
//!
//! The base config is oci-spec's default (which follows runc's `spec`): pid,
//! network, ipc, uts, mount and cgroup namespaces, the usual /proc, /dev,
//! /dev/pts, /dev/shm, /dev/mqueue, /sys and /sys/fs/cgroup mounts, masked and
//! read-only paths, runc's default capabilities, NOFILE 1024 and
//! noNewPrivileges; with a writable root, no terminal, and `/bin/true` to run.

use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// The static busybox the rootfs is built from (Debian's busybox-static).
pub const BUSYBOX: &str = "/usr/bin/busybox";

/// Applets linked into the rootfs's /bin.
const APPLETS: &[&str] = &[
    "sh", "true", "false", "sleep", "cat", "ls", "echo", "id", "env", "hostname", "uname", "mkdir",
    "rm", "chmod", "touch", "stat", "readlink", "ionice", "test", "[", "ps", "grep", "sysctl",
    "mount", "kill", "wc", "head", "tail", "pwd", "tty", "cp", "ln", "dd", "printf", "sed", "tr",
    "cut", "nproc", "dmesg", "nice", "setsid", "linux32", "mknod",
];

pub struct Bundle {
    dir: TempDir,
    /// config.json, written by [`Bundle::write_config`] (the harness does so
    /// before every create or run).
    pub config: Value,
}

impl Bundle {
    /// A fresh bundle with the base config, running `/bin/true`.
    pub fn new() -> Bundle {
        let dir = crate::temp_dir("bundle");
        // Traversable by the container's (possibly user-namespaced) root.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .expect("chmod bundle dir");
        let rootfs = dir.path().join("rootfs");
        for d in [
            "bin",
            "etc",
            "proc",
            "sys",
            "dev",
            "tmp",
            "root",
            "home/nobody",
        ] {
            fs::create_dir_all(rootfs.join(d)).expect("creating rootfs directories");
        }
        fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
            .expect("chmod rootfs/tmp");
        copy_executable(Path::new(BUSYBOX), &rootfs.join("bin/busybox"));
        for a in APPLETS {
            symlink("busybox", rootfs.join("bin").join(a)).expect("linking a busybox applet");
        }
        copy_executable(&crate::checker_path(), &rootfs.join("bin/checker"));
        fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:1000:1000:nobody:/home/nobody:/bin/sh\n",
        )
        .expect("writing rootfs/etc/passwd");
        fs::write(rootfs.join("etc/group"), "root:x:0:\nnobody:x:1000:\n")
            .expect("writing rootfs/etc/group");
        Bundle {
            dir,
            config: base_config(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Sets `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// Runs the checker: `process.args = ["/bin/checker", args...]`.
    pub fn checker(&mut self, args: &[&str]) -> &mut Self {
        let mut v = vec!["/bin/checker"];
        v.extend_from_slice(args);
        self.args(&v)
    }

    /// Runs `sh -c SCRIPT`.
    pub fn shell(&mut self, script: &str) -> &mut Self {
        self.args(&["/bin/sh", "-c", script])
    }

    pub fn process(&mut self) -> &mut Value {
        &mut self.config["process"]
    }

    pub fn linux(&mut self) -> &mut Value {
        &mut self.config["linux"]
    }

    /// Appends an entry to `mounts`.
    pub fn add_mount(&mut self, mount: Value) -> &mut Self {
        mounts_mut(&mut self.config).push(mount);
        self
    }

    /// Mutable `mounts` array.
    pub fn mounts(&mut self) -> &mut Vec<Value> {
        mounts_mut(&mut self.config)
    }

    /// Removes namespaces of the given types from `linux.namespaces`.
    pub fn remove_namespaces(&mut self, types: &[&str]) -> &mut Self {
        if let Some(list) = self.config["linux"]["namespaces"].as_array_mut() {
            list.retain(|n| !types.contains(&n["type"].as_str().unwrap_or("")));
        }
        self
    }

    /// Adds (or replaces) a namespace entry, with a path to join if given.
    pub fn set_namespace(&mut self, typ: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespaces(&[typ]);
        let mut ns = json!({ "type": typ });
        if let Some(p) = path {
            ns["path"] = json!(p);
        }
        match self.config["linux"]["namespaces"].as_array_mut() {
            Some(list) => list.push(ns),
            None => self.config["linux"]["namespaces"] = json!([ns]),
        }
        self
    }

    /// Writes `config` to config.json.
    pub fn write_config(&self) {
        let text =
            serde_json::to_string_pretty(&self.config).expect("a JSON value always serializes");
        fs::write(self.dir.path().join("config.json"), text).expect("writing config.json");
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}

fn mounts_mut(config: &mut Value) -> &mut Vec<Value> {
    if !config["mounts"].is_array() {
        config["mounts"] = json!([]);
    }
    config["mounts"]
        .as_array_mut()
        .expect("mounts was just made an array")
}

/// Copies an executable into a rootfs with `cp`, in a child process: a copy written
/// here would leave its write descriptor, for an instant, in every child another test
/// thread forks meanwhile, and the runtime's exec of the file would fail with ETXTBSY
/// ("Text file busy") while one of those children still holds it (seen under emulation,
/// where that instant is long). The child's descriptor is the child's alone. Mode 0755.
pub fn copy_executable(from: &Path, to: &Path) {
    let out = std::process::Command::new("cp")
        .arg("--")
        .arg(from)
        .arg(to)
        .output()
        .unwrap_or_else(|e| panic!("running cp for {}: {e}", from.display()));
    assert!(
        out.status.success(),
        "copying {} to {}: {} (is busybox-static installed?)",
        from.display(),
        to.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", to.display()));
}

/// oci-spec's default spec, adjusted for tests.
pub fn base_config() -> Value {
    let spec = oci_spec::runtime::Spec::default();
    let mut v = serde_json::to_value(&spec).expect("oci-spec's default Spec serializes");
    v["ociVersion"] = json!("1.0.2");
    v["hostname"] = json!("berth-conformance");
    v["root"] = json!({ "path": "rootfs", "readonly": false });
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(["/bin/true"]);
    // runc's default: deny every device but the ones the runtime itself adds.
    v["linux"]["resources"]["devices"] = json!([{ "allow": false, "access": "rwm" }]);
    if let Some(obj) = v.as_object_mut() {
        obj.remove("annotations");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_config_is_runc_like_and_runnable() {
        let c = base_config();
        assert_eq!(c["process"]["terminal"], json!(false));
        assert_eq!(c["root"], json!({ "path": "rootfs", "readonly": false }));
        let ns: Vec<&str> = c["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .filter_map(|n| n["type"].as_str())
            .collect();
        for t in ["pid", "network", "ipc", "uts", "mount"] {
            assert!(ns.contains(&t), "{t} missing from {ns:?}");
        }
        let dests: Vec<&str> = c["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .filter_map(|m| m["destination"].as_str())
            .collect();
        for d in [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/sys/fs/cgroup",
        ] {
            assert!(dests.contains(&d), "{d} missing from {dests:?}");
        }
    }

    #[test]
    fn namespace_edits() {
        let mut b = Bundle {
            dir: crate::temp_dir("unit"),
            config: base_config(),
        };
        b.set_namespace("network", Some("/proc/1/ns/net"));
        b.remove_namespaces(&["ipc"]);
        let ns = b.config["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .clone();
        assert!(ns.contains(&json!({ "type": "network", "path": "/proc/1/ns/net" })));
        assert!(!ns.iter().any(|n| n["type"] == "ipc"));
    }
}
