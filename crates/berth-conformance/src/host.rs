//! Host-side fixtures and observations: helper processes and mounts that are
//! torn down on drop, capability masks, cgroup files, zombie and leftover scans.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A helper process started by a test; killed and reaped on drop.
pub struct HelperProcess {
    child: Child,
}

impl HelperProcess {
    /// Spawns `argv` with stdio on /dev/null.
    pub fn spawn(argv: &[&str]) -> HelperProcess {
        let child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning helper {argv:?}: {e}"));
        HelperProcess { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/proc/PID/ns/TYPE` differs from this process's, i.e. the
    /// helper (e.g. `unshare --net sleep`) is in its own namespace; returns the link.
    pub fn wait_own_namespace(&self, typ: &str) -> String {
        let mine = ns_link("self", typ);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let theirs = ns_link(&self.pid().to_string(), typ);
            if !theirs.is_empty() && theirs != mine {
                return theirs;
            }
            assert!(
                Instant::now() < deadline,
                "helper {} never entered its own {typ} namespace (still {theirs:?})",
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for HelperProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `readlink /proc/<pid>/ns/<typ>` ("" if unreadable).
pub fn ns_link(pid: &str, typ: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{typ}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A tmpfs mounted by the test on the host; lazily unmounted on drop.
pub struct HostTmpfs {
    target: PathBuf,
}

impl HostTmpfs {
    pub fn mount(target: &Path) -> HostTmpfs {
        rustix::mount::mount(
            "tmpfs",
            target,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            Some(c"size=1m"),
        )
        .unwrap_or_else(|e| panic!("mounting a tmpfs on {}: {e}", target.display()));
        HostTmpfs {
            target: target.to_path_buf(),
        }
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.target, rustix::mount::UnmountFlags::DETACH);
    }
}

/// Whether `path` is a mount point in this (the host's) mount namespace.
pub fn is_host_mount_point(path: &Path) -> bool {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = path.to_string_lossy();
    text.lines().any(|l| l.split(' ').nth(4) == Some(&*want))
}

/// Capability names by number.
pub const CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Capability number for a `CAP_*` name.
pub fn cap_number(name: &str) -> u32 {
    let n = CAPS
        .iter()
        .position(|c| *c == name)
        .unwrap_or_else(|| panic!("unknown capability {name}"));
    u32::try_from(n).expect("fewer than 2^32 capabilities")
}

/// The /proc/PID/status mask ("%016x") of a set of capability names.
pub fn cap_mask(names: &[&str]) -> String {
    format!(
        "{:016x}",
        names.iter().fold(0u64, |m, n| m | (1u64 << cap_number(n)))
    )
}

/// Names of the capabilities set in a /proc/PID/status mask, for messages.
pub fn cap_names(mask: &str) -> Vec<String> {
    let Ok(bits) = u64::from_str_radix(mask, 16) else {
        return vec![format!("<{mask}>")];
    };
    (0..64usize)
        .filter(|i| bits & (1 << i) != 0)
        .map(|i| {
            CAPS.get(i)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("cap#{i}"))
        })
        .collect()
}

/// The cgroup hierarchy layout of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupLayout {
    V1,
    V2,
}

pub fn cgroup_layout() -> CgroupLayout {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        CgroupLayout::V2
    } else {
        CgroupLayout::V1
    }
}

/// The directory of `cgroups_path` for `controller` (v1), or the unified one (v2).
pub fn cgroup_dir(controller: &str, cgroups_path: &str) -> PathBuf {
    let rel = cgroups_path.trim_start_matches('/');
    match cgroup_layout() {
        CgroupLayout::V1 => Path::new("/sys/fs/cgroup").join(controller).join(rel),
        CgroupLayout::V2 => Path::new("/sys/fs/cgroup").join(rel),
    }
}

/// Contents of a cgroup file, trimmed; panics naming the file if unreadable.
#[track_caller]
pub fn read_cgroup_file(controller: &str, cgroups_path: &str, file: &str) -> String {
    let dir = cgroup_dir(controller, cgroups_path);
    assert!(
        dir.is_dir(),
        "the runtime did not create the {controller} cgroup {} for cgroupsPath {cgroups_path:?}",
        dir.display()
    );
    let p = dir.join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// Children of this process that are zombies (state Z), as (pid, comm).
pub fn zombie_children() -> Vec<(u32, String)> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head
            .split_once('(')
            .map(|(_, c)| c.to_string())
            .unwrap_or_default();
        let mut f = tail.split_whitespace();
        let state = f.next().unwrap_or("");
        let ppid = f.next().unwrap_or("");
        if state == "Z" && ppid == me {
            out.push((pid, comm));
        }
    }
    out
}

/// Processes whose command line mentions `needle` (e.g. a runtime's --root dir).
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            out.push((pid, cmd));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_masks() {
        assert_eq!(cap_mask(&[]), "0000000000000000");
        assert_eq!(
            cap_mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]),
            "0000000020000420"
        );
        assert_eq!(
            cap_names("0000000020000420"),
            ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]
        );
    }
}
