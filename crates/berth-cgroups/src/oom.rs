//! OOM kills: how many processes the OOM killer took from the cgroup — v2's
//! `oom_kill` in `memory.events` (counting sub-cgroups too), v1's `oom_kill`
//! in `memory.oom_control` (Linux 4.13 and later) — and a descriptor that
//! wakes a supervisor when the memory controller reports an event, so a kill
//! is noticed while the container runs, as containerd's shim does: inotify on
//! `memory.events` (v2), an eventfd registered for `memory.oom_control` in
//! `cgroup.event_control` (v1). The kernel counts a kill before it sends the
//! SIGKILL, so a count read after the victim has been reaped includes it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::{fs, Cgroup, CgroupError, Target};

const V1_FILE: &str = "memory.oom_control";
const V2_FILE: &str = "memory.events";

impl Cgroup {
    /// How many processes the OOM killer has killed in this cgroup. `None`
    /// without a memory controller, once the cgroup is gone, or on a v1
    /// kernel older than 4.13 (no `oom_kill` line).
    pub fn oom_kills(&self) -> Result<Option<u64>, CgroupError> {
        match self.target("memory", Some("memory"))? {
            None => Ok(None),
            Some(Target::V1(dir)) => count(dir, V1_FILE),
            Some(Target::V2(dir)) => count(dir, V2_FILE),
        }
    }

    /// A non-blocking, close-on-exec descriptor that becomes readable when
    /// the cgroup's memory controller reports an event (on v1: the cgroup
    /// ran out of memory). It says nothing about what happened: read it to
    /// rearm (any buffer of 64 bytes or more), then compare
    /// [`Cgroup::oom_kills`] with the last count seen. `None` without a
    /// memory controller.
    pub fn oom_notifier(&self) -> Result<Option<OwnedFd>, CgroupError> {
        match self.target("memory", Some("memory"))? {
            None => Ok(None),
            Some(Target::V1(dir)) => notifier_v1(dir).map(Some),
            Some(Target::V2(dir)) => notifier_v2(dir).map(Some),
        }
    }
}

fn count(dir: &Path, file: &str) -> Result<Option<u64>, CgroupError> {
    Ok(fs::read_flat_keyed_opt(dir, file)?.and_then(|m| m.get("oom_kill").copied()))
}

fn watch_error(path: &Path) -> impl FnOnce(rustix::io::Errno) -> CgroupError + '_ {
    move |e| CgroupError::Watch {
        path: path.to_path_buf(),
        error: e.into(),
    }
}

/// inotify reports IN_MODIFY on `memory.events` whenever one of its counters
/// changes.
fn notifier_v2(dir: &Path) -> Result<OwnedFd, CgroupError> {
    use rustix::fs::inotify;
    let path = dir.join(V2_FILE);
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
        .map_err(watch_error(&path))?;
    inotify::add_watch(&fd, &path, inotify::WatchFlags::MODIFY).map_err(watch_error(&path))?;
    Ok(fd)
}

/// cgroup v1's notification API: "<eventfd> <fd of memory.oom_control>"
/// written to `cgroup.event_control`. The kernel keeps its own references,
/// so the control file need not stay open.
fn notifier_v1(dir: &Path) -> Result<OwnedFd, CgroupError> {
    use rustix::event::{eventfd, EventfdFlags};
    let path = dir.join(V1_FILE);
    let efd =
        eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).map_err(watch_error(&path))?;
    let control = std::fs::File::open(&path).map_err(|error| CgroupError::Read {
        path: path.clone(),
        error,
    })?;
    fs::write(
        dir,
        "cgroup.event_control",
        &format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()),
    )?;
    Ok(efd)
}

#[cfg(test)]
mod tests {
    use crate::testutil::{seed, TempDir};
    use crate::{Cgroup, Layout, UnifiedMount, V1Mount};

    fn v1(t: &TempDir) -> Cgroup {
        let v1 = vec![V1Mount {
            mount_point: t.path().join("memory"),
            root: "/".into(),
            controllers: vec!["memory".into()],
        }];
        Cgroup::with_root(Layout { v1, unified: None }, "/berth/c1")
    }

    fn v2(t: &TempDir) -> Cgroup {
        let unified = Some(UnifiedMount {
            mount_point: t.path().to_path_buf(),
            root: "/".into(),
        });
        Cgroup::with_root(
            Layout {
                v1: Vec::new(),
                unified,
            },
            "/berth/c1",
        )
    }

    #[test]
    fn counts_oom_kills_on_v1() {
        let t = TempDir::new();
        let cg = v1(&t);
        let dir = t.path().join("memory/berth/c1");
        // Before the cgroup exists, and on a kernel without the counter.
        assert_eq!(cg.oom_kills().unwrap(), None);
        seed(
            &dir,
            &[("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n")],
        );
        assert_eq!(cg.oom_kills().unwrap(), None);
        seed(
            &dir,
            &[(
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
            )],
        );
        assert_eq!(cg.oom_kills().unwrap(), Some(2));
        seed(&dir, &[("memory.oom_control", "oom_kill lots\n")]);
        let e = cg.oom_kills().unwrap_err().to_string();
        assert!(
            e.contains("memory.oom_control") && e.contains("lots"),
            "{e}"
        );
    }

    #[test]
    fn counts_oom_kills_on_v2() {
        let t = TempDir::new();
        seed(t.path(), &[("cgroup.controllers", "cpu memory pids\n")]);
        let cg = v2(&t);
        assert_eq!(cg.oom_kills().unwrap(), None);
        seed(
            &t.path().join("berth/c1"),
            &[(
                "memory.events",
                "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
            )],
        );
        assert_eq!(cg.oom_kills().unwrap(), Some(1));
    }

    #[test]
    fn no_memory_controller_no_count_and_no_notifier() {
        let t = TempDir::new();
        // A hybrid host whose v2 side lacks memory, and no v1 memory mount.
        seed(t.path(), &[("cgroup.controllers", "hugetlb\n")]);
        let unified = Some(UnifiedMount {
            mount_point: t.path().to_path_buf(),
            root: "/".into(),
        });
        let v1 = vec![V1Mount {
            mount_point: t.path().join("cpu"),
            root: "/".into(),
            controllers: vec!["cpu".into()],
        }];
        let cg = Cgroup::with_root(Layout { v1, unified }, "/berth/c1");
        assert_eq!(cg.oom_kills().unwrap(), None);
        assert!(cg.oom_notifier().unwrap().is_none());
    }

    #[test]
    fn v2_notifier_wakes_when_memory_events_changes() {
        let t = TempDir::new();
        seed(t.path(), &[("cgroup.controllers", "memory\n")]);
        let dir = t.path().join("berth/c1");
        seed(&dir, &[("memory.events", "oom_kill 0\n")]);
        let cg = v2(&t);
        let fd = cg.oom_notifier().unwrap().expect("a notifier");
        let mut b = [0u8; 256];
        assert_eq!(
            rustix::io::read(&fd, &mut b).unwrap_err(),
            rustix::io::Errno::AGAIN
        );
        std::fs::write(dir.join("memory.events"), "oom_kill 1\n").unwrap();
        assert!(rustix::io::read(&fd, &mut b).unwrap() > 0);
        assert_eq!(cg.oom_kills().unwrap(), Some(1));
    }

    #[test]
    fn v1_notifier_registers_the_eventfd_with_the_control_file() {
        let t = TempDir::new();
        let dir = t.path().join("memory/berth/c1");
        seed(
            &dir,
            &[
                ("memory.oom_control", "oom_kill 0\n"),
                ("cgroup.event_control", ""),
            ],
        );
        let fd = v1(&t).oom_notifier().unwrap().expect("a notifier");
        let line = crate::testutil::cat(&dir, "cgroup.event_control");
        let fds: Vec<i32> = line
            .split(' ')
            .map(|n| n.parse().expect("two fd numbers"))
            .collect();
        use std::os::fd::AsRawFd;
        assert_eq!(fds.len(), 2, "{line:?}");
        assert_eq!(fds[0], fd.as_raw_fd());
        // The control file's descriptor was only needed for the write.
        assert_ne!(fds[1], fds[0]);
    }
}
