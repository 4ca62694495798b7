//! Pause and resume (`runc pause`/`resume`): v1's `freezer.state`, which can
//! stall in FREEZING while tasks are busy forking (so the write is retried,
//! with a brief thaw now and then, as runc does), and v2's `cgroup.freeze`,
//! whose effect is confirmed by `frozen 1` in `cgroup.events`.

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use crate::{fs, Cgroup, CgroupError, Target};

impl Cgroup {
    /// Freezes every process in the cgroup; returns once they are frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.require("freezer", Some("freezer"), "pause (freezer)")? {
            Target::V1(dir) => {
                let r = freeze_v1(dir);
                if r.is_err() {
                    // Never leave a container half frozen.
                    let _ = fs::write(dir, "freezer.state", "THAWED");
                }
                r
            }
            Target::V2(dir) => freeze_v2(dir),
        }
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.require("freezer", Some("freezer"), "resume (freezer)")? {
            Target::V1(dir) => fs::write(dir, "freezer.state", "THAWED"),
            Target::V2(dir) => match fs::write(dir, "cgroup.freeze", "0") {
                // No freezer: nothing can be frozen.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
                r => r,
            },
        }
    }

    /// Whether the cgroup itself is frozen (not merely a frozen ancestor's
    /// child).
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        match self.target("freezer", Some("freezer"))? {
            None => Ok(false),
            Some(Target::V1(dir)) => is_frozen_v1(dir),
            Some(Target::V2(dir)) => {
                Ok(fs::read_opt(dir, "cgroup.freeze")?.is_some_and(|s| s.trim() == "1"))
            }
        }
    }
}

fn freeze_v1(dir: &Path) -> Result<(), CgroupError> {
    for i in 0..1000 {
        if i % 50 == 49 {
            // Tasks stuck mid-fork can keep the cgroup in FREEZING forever;
            // a short thaw lets them finish.
            let _ = fs::write(dir, "freezer.state", "THAWED");
            sleep(Duration::from_millis(10));
        }
        fs::write(dir, "freezer.state", "FROZEN")?;
        if i % 25 == 24 {
            sleep(Duration::from_micros(10));
        }
        let state = fs::read(dir, "freezer.state")?;
        match state.trim() {
            "FREEZING" => continue,
            "FROZEN" => return Ok(()),
            other => {
                return Err(CgroupError::Freezer {
                    path: dir.join("freezer.state"),
                    detail: format!("unexpected state {other:?} while freezing"),
                })
            }
        }
    }
    Err(CgroupError::Freezer {
        path: dir.join("freezer.state"),
        detail: "still FREEZING after 1000 attempts".into(),
    })
}

fn is_frozen_v1(dir: &Path) -> Result<bool, CgroupError> {
    for _ in 0..1000 {
        let Some(state) = fs::read_opt(dir, "freezer.state")? else {
            return Ok(false);
        };
        match state.trim() {
            "THAWED" => return Ok(false),
            "FROZEN" => {
                // FROZEN because a parent is frozen does not count.
                return Ok(match fs::read_opt(dir, "freezer.self_freezing")? {
                    Some(s) => s.trim() == "1",
                    None => true,
                });
            }
            "FREEZING" => sleep(Duration::from_millis(1)),
            other => {
                return Err(CgroupError::Freezer {
                    path: dir.join("freezer.state"),
                    detail: format!("unknown state {other:?}"),
                })
            }
        }
    }
    Err(CgroupError::Freezer {
        path: dir.join("freezer.state"),
        detail: "stuck in FREEZING".into(),
    })
}

fn freeze_v2(dir: &Path) -> Result<(), CgroupError> {
    match fs::write(dir, "cgroup.freeze", "1") {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            return Err(CgroupError::Unsupported {
                resource: "pause".into(),
                path: dir.join("cgroup.freeze"),
                hint: "the cgroup v2 freezer needs Linux 5.2".into(),
            })
        }
        r => r?,
    }
    for _ in 0..1000 {
        let events = fs::read(dir, "cgroup.events")?;
        let frozen = events
            .lines()
            .find_map(|l| l.strip_prefix("frozen "))
            .map(str::trim);
        match frozen {
            Some("1") => return Ok(()),
            Some(_) => sleep(Duration::from_millis(10)),
            None => {
                return Err(fs::parse_error(
                    &dir.join("cgroup.events"),
                    &events,
                    "no \"frozen\" key",
                ))
            }
        }
    }
    let _ = fs::write(dir, "cgroup.freeze", "0");
    Err(CgroupError::Freezer {
        path: dir.join("cgroup.events"),
        detail: "timed out after 10s waiting for the cgroup to freeze".into(),
    })
}

#[cfg(test)]
mod tests {
    use crate::testutil::{cat, seed, TempDir};
    use crate::{Cgroup, Layout, V1Mount};

    #[test]
    fn v1_freeze_thaw_and_state() {
        let t = TempDir::new();
        let mount = t.path().join("freezer");
        seed(
            &mount.join("c1"),
            &[
                ("freezer.state", "THAWED\n"),
                ("freezer.self_freezing", "0\n"),
            ],
        );
        let layout = Layout {
            v1: vec![V1Mount {
                mount_point: mount.clone(),
                root: "/".into(),
                controllers: vec!["freezer".into()],
            }],
            unified: None,
        };
        let cg = Cgroup::with_root(layout, "/c1");
        assert!(!cg.is_frozen().unwrap());
        cg.freeze().unwrap();
        assert_eq!(cat(&mount.join("c1"), "freezer.state"), "FROZEN");
        // Frozen only because of a parent: not "paused".
        assert!(!cg.is_frozen().unwrap());
        seed(&mount.join("c1"), &[("freezer.self_freezing", "1\n")]);
        assert!(cg.is_frozen().unwrap());
        cg.thaw().unwrap();
        assert_eq!(cat(&mount.join("c1"), "freezer.state"), "THAWED");
        seed(&mount.join("c1"), &[("freezer.state", "BOGUS\n")]);
        assert!(cg.is_frozen().unwrap_err().to_string().contains("BOGUS"));
    }

    #[test]
    fn v2_freeze_waits_for_events() {
        let t = TempDir::new();
        let root = t.path().to_path_buf();
        seed(
            &root.join("c1"),
            &[
                ("cgroup.freeze", "0\n"),
                ("cgroup.events", "populated 1\nfrozen 1\n"),
            ],
        );
        let cg = Cgroup::with_root(Layout::unified_at(&root), "/c1");
        assert!(!cg.is_frozen().unwrap());
        cg.freeze().unwrap();
        assert!(cg.is_frozen().unwrap());
        cg.thaw().unwrap();
        assert!(!cg.is_frozen().unwrap());
        seed(&root.join("c1"), &[("cgroup.events", "populated 1\n")]);
        assert!(cg.freeze().is_err());
        // No freezer at all: freezing fails, thawing is a no-op.
        let cg = Cgroup::with_root(Layout::unified_at(&root), "/nofreezer");
        std::fs::create_dir_all(root.join("nofreezer")).unwrap();
        assert!(cg
            .freeze()
            .unwrap_err()
            .to_string()
            .contains("cgroup.freeze does not exist"));
        cg.thaw().unwrap();
    }
}
