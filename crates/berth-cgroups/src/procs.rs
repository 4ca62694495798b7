//! Processes: moving one into the cgroup (every hierarchy), and listing every
//! process in the cgroup and its sub-cgroups.

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use crate::{fs, Cgroup, CgroupError, Mode};

impl Cgroup {
    /// Moves process `pid` into the cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        if pid <= 0 {
            return Err(CgroupError::invalid(
                "pid",
                format!("{pid} is not a process id"),
            ));
        }
        let value = pid.to_string();
        for dir in self.all_dirs() {
            let mut tries = 0;
            loop {
                match fs::write(dir, "cgroup.procs", &value) {
                    // A just-forked task can be briefly unmovable.
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) && tries < 5 => {
                        tries += 1;
                        sleep(Duration::from_millis(30));
                    }
                    r => {
                        r?;
                        break;
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use crate::fs::log;
    use crate::testutil::{seed, TempDir};
    use crate::{Cgroup, Layout, UnifiedMount, V1Mount};

    #[test]
    fn add_everywhere_and_list_recursively() {
        let t = TempDir::new();
        let root = t.path();
        let mut v1 = Vec::new();
        for c in ["pids", "memory", "name=systemd"] {
            let m = root.join(c);
            seed(&m.join("c1"), &[("cgroup.procs", "")]);
            v1.push(V1Mount {
                mount_point: m,
                root: "/".into(),
                controllers: vec![c.into()],
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
        let cg = Cgroup::with_root(layout, "/c1");
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
}
