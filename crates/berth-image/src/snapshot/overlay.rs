//! The overlay snapshotter. Every snapshot is `snapshots/<id>/fs` (its layer: the
//! upper directory while active, a lower once committed) and `snapshots/<id>/work`
//! (overlay's workdir). A committed layer is stored once however many snapshots sit on
//! it: children name parents by key and mount their `fs` directories as lowers.
//!
//! Mounts: an active snapshot over parents is `overlay` with `lowerdir` (nearest parent
//! first), `upperdir`, `workdir`; without a parent, a bind of its empty `fs`. A view of
//! one layer is a read-only bind of it, of several a lower-only overlay. Options always
//! carry `index=off` (the same layers are lowers of many mounts at once, and the index
//! ties an upper to one set of lowers) and `redirect_dir=off` (a renamed directory is
//! copied up whole, so the upper stays diffable as a layer without lower lookups).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::meta::{Core, State};
use super::{
    dir_usage, io_err, ApplyTarget, Info, Kind, Mount, SnapshotError, Snapshotter, Usage,
    WhiteoutStyle,
};
use crate::layer::diff::{self, Change, DiffOptions, DiffResult};

/// Options added to every overlay mount.
const OVERLAY_OPTIONS: [&str; 2] = ["index=off", "redirect_dir=off"];

/// Snapshots as overlay layers under one root directory.
pub struct OverlaySnapshotter {
    core: Core,
}

impl OverlaySnapshotter {
    /// Open (creating if needed) the snapshotter rooted at `root`.
    pub fn open(root: &Path) -> Result<OverlaySnapshotter, SnapshotError> {
        Ok(OverlaySnapshotter {
            core: Core::open(root)?,
        })
    }

    pub fn root(&self) -> &Path {
        self.core.root()
    }

    fn fs_dir(&self, id: u64) -> PathBuf {
        self.core.dir(id).join("fs")
    }

    fn mounts_for(&self, st: &State, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let r = st.get(key)?;
        let parents = st.parent_ids(key)?;
        let lowers: Vec<String> = parents
            .iter()
            .map(|id| self.fs_dir(*id).to_string_lossy().into_owned())
            .collect();
        let own = self.fs_dir(r.id).to_string_lossy().into_owned();
        let bind = |src: String, ro: bool| Mount {
            typ: "bind".into(),
            source: src,
            target: None,
            options: vec![if ro { "ro" } else { "rw" }.into(), "rbind".into()],
        };
        let mut options: Vec<String> = OVERLAY_OPTIONS.iter().map(|s| s.to_string()).collect();
        Ok(match r.kind {
            Kind::Committed => {
                // Not mountable as such; callers view it. Report the layer read-only.
                vec![bind(own, true)]
            }
            Kind::Active if lowers.is_empty() => vec![bind(own, false)],
            Kind::Active => {
                options.push(format!("lowerdir={}", lowers.join(":")));
                options.push(format!("upperdir={own}"));
                let work = self.core.dir(r.id).join("work");
                options.push(format!("workdir={}", work.to_string_lossy()));
                vec![Mount {
                    typ: "overlay".into(),
                    source: "overlay".into(),
                    target: None,
                    options,
                }]
            }
            Kind::View => match lowers.len() {
                0 => vec![bind(own, true)],
                1 => vec![bind(lowers[0].clone(), true)],
                _ => {
                    options.push("ro".into());
                    options.push(format!("lowerdir={}", lowers.join(":")));
                    vec![Mount {
                        typ: "overlay".into(),
                        source: "overlay".into(),
                        target: None,
                        options,
                    }]
                }
            },
        })
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<(), SnapshotError> {
        self.core.create(key, parent, kind, |dir, _parent| {
            for sub in ["fs", "work"] {
                let p = dir.join(sub);
                fs::create_dir(&p).map_err(io_err(&p))?;
            }
            // The root of a container's filesystem is 0755 like any other root.
            let fsd = dir.join("fs");
            fs::set_permissions(&fsd, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(io_err(&fsd))
        })
    }
}

impl Snapshotter for OverlaySnapshotter {
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.create(key, parent, Kind::Active)?;
        self.mounts(key)
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.create(key, parent, Kind::View)?;
        self.mounts(key)
    }

    fn commit(&self, name: &str, key: &str) -> Result<(), SnapshotError> {
        let dir = self.core.commit(name, key)?;
        // A committed layer is never an upper again: its workdir is dead weight.
        let work = dir.join("work");
        let _ = fs::remove_dir_all(&work);
        Ok(())
    }

    /// A layer's `fs` holds its own changes only (whiteouts as overlay whiteouts), so
    /// it does not depend on what is below it.
    fn stacks_on_commit(&self) -> bool {
        true
    }

    fn commit_onto(
        &self,
        name: &str,
        key: &str,
        parent: Option<&str>,
    ) -> Result<(), SnapshotError> {
        let dir = self.core.commit_with(name, key, Some(parent))?;
        let _ = fs::remove_dir_all(dir.join("work"));
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        self.core.remove(key)
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let st = self.core.read()?;
        self.mounts_for(&st, key)
    }

    fn stat(&self, key: &str) -> Result<Info, SnapshotError> {
        self.core.read()?.info(key)
    }

    fn list(&self) -> Result<Vec<Info>, SnapshotError> {
        let st = self.core.read()?;
        st.snapshots.keys().map(|k| st.info(k)).collect()
    }

    fn usage(&self, key: &str) -> Result<Usage, SnapshotError> {
        let st = self.core.read()?;
        dir_usage(&self.fs_dir(st.get(key)?.id))
    }

    fn apply_target(&self, key: &str) -> Result<ApplyTarget, SnapshotError> {
        let st = self.core.read()?;
        Ok(ApplyTarget {
            dir: self.fs_dir(st.get(key)?.id),
            whiteouts: WhiteoutStyle::Overlay,
        })
    }

    fn diff(
        &self,
        key: &str,
        out: &mut dyn Write,
        opts: &DiffOptions,
    ) -> Result<DiffResult, SnapshotError> {
        let st = self.core.read()?;
        Ok(diff::diff_upper(&self.fs_dir(st.get(key)?.id), out, opts)?)
    }

    fn changes(&self, key: &str) -> Result<Vec<Change>, SnapshotError> {
        let st = self.core.read()?;
        let upper = self.fs_dir(st.get(key)?.id);
        let lowers: Vec<PathBuf> = st
            .parent_ids(key)?
            .into_iter()
            .map(|id| self.fs_dir(id))
            .collect();
        Ok(diff::changes_upper(&upper, &lowers)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_prepared_alone_is_stacked_on_commit() {
        let t = tempfile::tempdir().unwrap();
        let sn = OverlaySnapshotter::open(t.path()).unwrap();
        assert!(sn.stacks_on_commit());
        sn.prepare("base-tmp", None).unwrap();
        sn.commit("base", "base-tmp").unwrap();
        sn.prepare("top-tmp", None).unwrap();
        // The parent must be committed.
        sn.prepare("active", None).unwrap();
        let e = sn
            .commit_onto("top", "top-tmp", Some("active"))
            .unwrap_err();
        assert!(matches!(e, SnapshotError::ParentNotCommitted { .. }), "{e}");
        sn.commit_onto("top", "top-tmp", Some("base")).unwrap();
        let info = sn.stat("top").unwrap();
        assert_eq!(info.kind, Kind::Committed);
        assert_eq!(info.parent.as_deref(), Some("base"));
        let m = sn.prepare("c", Some("top")).unwrap();
        let lower = m[0]
            .options
            .iter()
            .find_map(|o| o.strip_prefix("lowerdir="))
            .unwrap();
        assert_eq!(lower.split(':').count(), 2, "{lower}");
        assert!(!t
            .path()
            .join("snapshots")
            .join(info.id.to_string())
            .join("work")
            .exists());
    }
}
