//! Processes: moving one into the cgroup (every hierarchy), a new process entering
//! it by itself ([`Entry`]), and listing every process in the cgroup and its
//! sub-cgroups.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use rustix::fs::{Mode as FileMode, OFlags};

use crate::{fs, Cgroup, CgroupError, Mode};

/// The way into a cgroup for a process about to be forked, opened beforehand by the
/// parent: the `tasks` file of each v1 hierarchy, which the child writes `0` to (moving
/// itself), and the v2 directory, which the child is started in (clone3's
/// `CLONE_INTO_CGROUP`) or moved to by the parent ([`Entry::finish`]).
///
/// Why not write the child's pid to `cgroup.procs`, as runtimes usually do: moving
/// another process (or a whole thread group) takes the kernel's global threadgroup
/// lock for writing, which waits for an RCU grace period, 8–11 ms on an otherwise
/// idle host, on every container start and every exec. A single-threaded process moving
/// itself through `tasks`, or a process created in its cgroup, does not take it.
/// The files are opened by the parent, so the kernel checks the parent's credentials.
#[derive(Debug)]
pub struct Entry {
    tasks: Vec<(PathBuf, File)>,
    unified: Option<(PathBuf, OwnedFd)>,
}

impl Entry {
    /// The v2 directory to start the child in (clone3 with `CLONE_INTO_CGROUP`).
    pub fn clone_into(&self) -> Option<BorrowedFd<'_>> {
        self.unified.as_ref().map(|(_, fd)| fd.as_fd())
    }

    /// In the child, single-threaded, right after the fork: moves the calling process
    /// into the cgroup in every v1 hierarchy.
    pub fn join_self(&self) -> Result<(), CgroupError> {
        for (path, f) in &self.tasks {
            let mut f: &File = f;
            f.write_all(b"0").map_err(|error| CgroupError::Write {
                path: path.clone(),
                value: "0".into(),
                error,
            })?;
        }
        Ok(())
    }

    /// In the parent, after the fork: moves child `pid` into the v2 directory unless
    /// it was started there (`cloned_into`).
    pub fn finish(&self, pid: i32, cloned_into: bool) -> Result<(), CgroupError> {
        match &self.unified {
            Some((dir, _)) if !cloned_into => add_pid(dir, pid),
            _ => Ok(()),
        }
    }
}

impl Cgroup {
    /// Opens the [`Entry`] into this cgroup (which must exist), for a process about to be
    /// forked.
    pub fn entry(&self) -> Result<Entry, CgroupError> {
        let mut tasks = Vec::new();
        for d in &self.v1 {
            let path = d.dir.join("tasks");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|error| CgroupError::Write {
                    path: path.clone(),
                    value: "0".into(),
                    error,
                })?;
            tasks.push((path, f));
        }
        let unified = match self.unified_dir() {
            Some(dir) => {
                let fd = rustix::fs::open(
                    dir,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    FileMode::empty(),
                )
                .map_err(|e| CgroupError::Read {
                    path: dir.to_path_buf(),
                    error: e.into(),
                })?;
                Some((dir.to_path_buf(), fd))
            }
            None => None,
        };
        Ok(Entry { tasks, unified })
    }

    /// Moves process `pid` into the cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        if pid <= 0 {
            return Err(CgroupError::invalid(
                "pid",
                format!("{pid} is not a process id"),
            ));
        }
        for dir in self.all_dirs() {
            add_pid(dir, pid)?;
        }
        Ok(())
    }

    /// Every process in the cgroup and below, sorted (v1: from the pids,
    /// freezer or devices hierarchy, whichever is mounted).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let dir: &Path = if self.mode == Mode::Unified {
            self.unified_dir()
        } else {
            ["pids", "freezer", "devices", "memory", "cpu"]
                .iter()
                .find_map(|c| self.v1_dir(c))
                .or_else(|| self.v1.first().map(|d| d.dir.as_path()))
                .or_else(|| self.unified_dir())
        }
        .ok_or_else(|| CgroupError::Layout("no cgroup hierarchy to list processes from".into()))?;
        let mut out = Vec::new();
        for d in fs::walk_dirs(dir)? {
            let content = match fs::read_opt(&d, "cgroup.procs")? {
                Some(c) => c,
                None if d != dir => continue, // removed while we walked
                None => {
                    return Err(CgroupError::Read {
                        path: d.join("cgroup.procs"),
                        error: std::io::Error::from_raw_os_error(libc::ENOENT),
                    })
                }
            };
            for line in content.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let pid = line.parse::<i32>().map_err(|_| {
                    fs::parse_error(&d.join("cgroup.procs"), &content, "not a process id")
                })?;
                out.push(pid);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// Writes `pid` to `dir/cgroup.procs`.
fn add_pid(dir: &Path, pid: i32) -> Result<(), CgroupError> {
    let value = pid.to_string();
    let mut tries = 0;
    loop {
        match fs::write(dir, "cgroup.procs", &value) {
            // A just-forked task can be briefly unmovable.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && tries < 5 => {
                tries += 1;
                sleep(Duration::from_millis(30));
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fs::log;
    use crate::testutil::{seed, TempDir};
    use crate::{Cgroup, Layout, UnifiedMount, V1Mount};

    /// Cgroup `/c1` in a fake tree under `root`: v1 hierarchies `controllers` (each
    /// seeded with `files`) and a v2 one with an empty `cgroup.procs`.
    fn fake_cgroup(root: &std::path::Path, controllers: &[&str], files: &[(&str, &str)]) -> Cgroup {
        let mut v1 = Vec::new();
        for c in controllers {
            let m = root.join(c);
            seed(&m.join("c1"), files);
            v1.push(V1Mount {
                mount_point: m,
                root: "/".into(),
                controllers: vec![c.to_string()],
            });
        }
        seed(&root.join("unified/c1"), &[("cgroup.procs", "")]);
        let layout = Layout {
            v1,
            unified: Some(UnifiedMount {
                mount_point: root.join("unified"),
                root: "/".into(),
            }),
        };
        Cgroup::with_root(layout, "/c1")
    }

    #[test]
    fn add_everywhere_and_list_recursively() {
        let t = TempDir::new();
        let root = t.path();
        let cg = fake_cgroup(
            root,
            &["pids", "memory", "name=systemd"],
            &[("cgroup.procs", "")],
        );
        log::take(root);
        cg.add_process(4242).unwrap();
        let w = log::take(root);
        assert_eq!(
            w.iter()
                .map(|(p, v)| format!("{p}={v}"))
                .collect::<Vec<_>>(),
            [
                "pids/c1/cgroup.procs=4242",
                "memory/c1/cgroup.procs=4242",
                "name=systemd/c1/cgroup.procs=4242",
                "unified/c1/cgroup.procs=4242",
            ]
        );
        assert!(cg.add_process(0).is_err());
        assert!(cg.add_process(-5).is_err());

        seed(&root.join("pids/c1"), &[("cgroup.procs", "12\n7\n")]);
        seed(&root.join("pids/c1/sub"), &[("cgroup.procs", "99\n12\n")]);
        seed(&root.join("pids/c1/sub/deeper"), &[("cgroup.procs", "")]);
        assert_eq!(cg.pids().unwrap(), [7, 12, 99]);
        seed(&root.join("pids/c1/sub"), &[("cgroup.procs", "x\n")]);
        assert!(cg.pids().is_err());
    }

    /// The entry: "0" into each v1 `tasks` (by the child itself), the pid into the v2
    /// `cgroup.procs` only when the child was not started there.
    #[test]
    fn entry_joins_v1_by_itself_and_v2_by_clone_or_pid() {
        let t = TempDir::new();
        let root = t.path();
        let cg = fake_cgroup(
            root,
            &["pids", "memory"],
            &[("cgroup.procs", ""), ("tasks", "")],
        );
        let e = cg.entry().unwrap();
        assert!(e.clone_into().is_some());
        e.join_self().unwrap();
        for c in ["pids", "memory"] {
            let tasks = root.join(c).join("c1/tasks");
            assert_eq!(std::fs::read_to_string(tasks).unwrap(), "0");
        }
        log::take(root);
        e.finish(4242, true).unwrap();
        assert!(
            log::take(root).is_empty(),
            "started in the v2 cgroup: no move"
        );
        e.finish(4242, false).unwrap();
        assert_eq!(
            log::take(root)
                .iter()
                .map(|(p, v)| format!("{p}={v}"))
                .collect::<Vec<_>>(),
            ["unified/c1/cgroup.procs=4242"]
        );
        // A hierarchy without the cgroup: the error names the file.
        std::fs::remove_file(root.join("memory/c1/tasks")).unwrap();
        let err = cg.entry().unwrap_err().to_string();
        assert!(err.contains("memory/c1/tasks"), "{err}");
    }
}
