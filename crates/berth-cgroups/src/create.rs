//! Creating the cgroup: a directory in every hierarchy. A new v1 cpuset cgroup
//! starts with empty `cpuset.cpus`/`cpuset.mems` and refuses tasks until they
//! are filled, so they are copied down from the parent at each level; in v2,
//! controllers must be enabled in every ancestor's `cgroup.subtree_control`
//! before their files appear below.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::{fs, Cgroup, CgroupError, Mode, V1Dir};

impl Cgroup {
    /// Creates the cgroup's directory in every hierarchy (parents included).
    /// On a pure v2 host, enables every available controller in the
    /// ancestors, as runc does; on a hybrid host the v2 side gets controllers
    /// only when [`Cgroup::apply`] needs them. Creating an existing cgroup is
    /// not an error.
    pub fn create(&self) -> Result<(), CgroupError> {
        for d in &self.v1 {
            if d.controllers.iter().any(|c| c == "cpuset") {
                create_cpuset(d)?;
            } else {
                mkdir_all(&d.dir)?;
            }
        }
        if let Some(u) = &self.unified {
            mkdir_all(&u.dir)?;
            if self.mode == Mode::Unified {
                let available =
                    fs::read_opt(&u.mount_point, "cgroup.controllers")?.unwrap_or_default();
                let all: Vec<&str> = available.split_whitespace().collect();
                self.enable_controllers(&all, false)?;
            }
        }
        Ok(())
    }

    /// Enables `wanted` controllers in `cgroup.subtree_control` of every v2
    /// ancestor of this cgroup (not in the cgroup itself: a leaf keeps its
    /// processes). With `strict`, a controller that cannot be enabled is an
    /// error; otherwise it is skipped (some ancestors hold processes and may
    /// refuse, as runc tolerates).
    pub(crate) fn enable_controllers(
        &self,
        wanted: &[&str],
        strict: bool,
    ) -> Result<(), CgroupError> {
        let Some(u) = &self.unified else {
            return Ok(());
        };
        if wanted.is_empty() {
            return Ok(());
        }
        let rel = u.dir.strip_prefix(&u.mount_point).unwrap_or(Path::new(""));
        let mut cur = u.mount_point.clone();
        for comp in rel.components() {
            let enabled = fs::read_opt(&cur, "cgroup.subtree_control")?.unwrap_or_default();
            let enabled: Vec<&str> = enabled
                .split_whitespace()
                .map(|c| c.trim_start_matches('+'))
                .collect();
            let missing: Vec<&str> = wanted
                .iter()
                .copied()
                .filter(|w| !enabled.contains(w))
                .collect();
            if !missing.is_empty() {
                let all = missing
                    .iter()
                    .map(|c| format!("+{c}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                if fs::write(&cur, "cgroup.subtree_control", &all).is_err() {
                    // One at a time, so one refusal does not cost the others.
                    for c in &missing {
                        let r = fs::write(&cur, "cgroup.subtree_control", &format!("+{c}"));
                        if strict {
                            r?;
                        }
                    }
                }
            }
            cur.push(comp);
        }
        Ok(())
    }
}

pub(crate) fn mkdir_all(dir: &Path) -> Result<(), CgroupError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|error| CgroupError::Mkdir {
            path: dir.to_path_buf(),
            error,
        })
}

fn mkdir(dir: &Path) -> Result<(), CgroupError> {
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(CgroupError::Mkdir {
            path: dir.to_path_buf(),
            error,
        }),
    }
}

/// Creates each level below the cpuset mount, filling empty cpus/mems from
/// the level above.
fn create_cpuset(d: &V1Dir) -> Result<(), CgroupError> {
    let Ok(rel) = d.dir.strip_prefix(&d.mount_point) else {
        return mkdir_all(&d.dir);
    };
    let mut parent: PathBuf = d.mount_point.clone();
    for comp in rel.components() {
        let cur = parent.join(comp);
        mkdir(&cur)?;
        copy_cpuset_if_empty(&cur, &parent)?;
        parent = cur;
    }
    Ok(())
}

fn copy_cpuset_if_empty(cur: &Path, parent: &Path) -> Result<(), CgroupError> {
    for name in ["cpus", "mems"] {
        let file = cpuset_file(cur, name);
        if !fs::read(cur, &file)?.trim().is_empty() {
            continue;
        }
        let from = fs::read(parent, &cpuset_file(parent, name))?;
        let from = from.trim();
        if !from.is_empty() {
            fs::write(cur, &file, from)?;
        }
    }
    Ok(())
}

/// `cpuset.cpus`, or `cpus` on a hierarchy mounted with `noprefix`.
pub(crate) fn cpuset_file(dir: &Path, name: &str) -> String {
    let prefixed = format!("cpuset.{name}");
    if !fs::exists(dir, &prefixed) && fs::exists(dir, name) {
        return name.to_string();
    }
    prefixed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cat, seed, TempDir};
    use crate::{Layout, UnifiedMount, V1Mount};

    #[test]
    fn v1_cpuset_is_copied_down_each_level() {
        let t = TempDir::new();
        let root = t.path().join("cpuset");
        seed(&root, &[("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")]);
        // An existing intermediate level with its own setting.
        seed(
            &root.join("a"),
            &[("cpuset.cpus", "1-2\n"), ("cpuset.mems", "\n")],
        );
        let layout = Layout {
            v1: vec![V1Mount {
                mount_point: root.clone(),
                root: "/".into(),
                controllers: vec!["cpuset".into()],
            }],
            unified: None,
        };
        let cg = Cgroup::with_root(layout, "/a/b");
        // The kernel would create these files empty in a new directory.
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        seed(
            &root.join("a/b"),
            &[("cpuset.cpus", ""), ("cpuset.mems", "")],
        );
        cg.create().unwrap();
        assert_eq!(cat(&root.join("a"), "cpuset.cpus"), "1-2\n");
        assert_eq!(cat(&root.join("a"), "cpuset.mems"), "0");
        assert_eq!(cat(&root.join("a/b"), "cpuset.cpus"), "1-2");
        assert_eq!(cat(&root.join("a/b"), "cpuset.mems"), "0");
    }

    #[test]
    fn v2_enables_controllers_in_ancestors_only() {
        let t = TempDir::new();
        let root = t.path().to_path_buf();
        seed(
            &root,
            &[
                ("cgroup.controllers", "cpuset cpu io memory pids\n"),
                ("cgroup.subtree_control", "cpu\n"),
            ],
        );
        seed(&root.join("berth"), &[("cgroup.subtree_control", "")]);
        let layout = Layout {
            v1: vec![],
            unified: Some(UnifiedMount {
                mount_point: root.clone(),
                root: "/".into(),
            }),
        };
        let cg = Cgroup::with_root(layout, "/berth/c1");
        crate::fs::log::take(&root);
        cg.create().unwrap();
        assert!(root.join("berth/c1").is_dir());
        assert_eq!(
            crate::fs::log::take(&root),
            [
                (
                    "cgroup.subtree_control".to_string(),
                    "+cpuset +io +memory +pids".to_string()
                ),
                (
                    "berth/cgroup.subtree_control".to_string(),
                    "+cpuset +cpu +io +memory +pids".to_string()
                ),
            ]
        );
        assert!(!root.join("berth/c1/cgroup.subtree_control").exists());
    }
}
