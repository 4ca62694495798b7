//! berth-cgroups: one container's control group, across every hierarchy the
//! host has — cgroup v1 (a mount per controller or group of controllers),
//! cgroup v2, or the hybrid of both — and the OCI `LinuxResources` applied to
//! it, the way runc does.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_cgroups::CgroupError> {
//! use berth_cgroups::Cgroup;
//! let cg = Cgroup::new(Some("/default/ctr1"), "ctr1", false)?;
//! cg.create()?;
//! cg.apply(&oci_spec::runtime::LinuxResources::default())?;
//! cg.add_process(1234)?;
//! let stats = cg.stats()?;
//! println!("{}", serde_json::to_string(&stats).unwrap_or_default());
//! cg.destroy()?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod apply;
mod controllers;
mod create;
mod destroy;
pub mod devices;
mod error;
mod freezer;
mod fs;
mod layout;
mod oom;
mod path;
mod procs;
pub mod stats;
#[cfg(test)]
mod testutil;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use controllers::blkio::blkio_weight_to_io_weight;
pub use controllers::cpu::shares_to_weight;
pub use error::CgroupError;
pub use layout::{Layout, Mode, ProcCgroups, UnifiedMount, V1Mount};
pub use path::{cgroup_path, clean, expand_slice, systemd_to_cgroupfs, CgroupPath};
pub use procs::Entry;
pub use stats::Stats;

/// One container's cgroup: a directory in each v1 hierarchy and/or in the v2
/// hierarchy. Cheap to clone, and serializable so a runtime can keep it in
/// its state and find the same directories again from another process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    path: String,
    mode: Mode,
    v1: Vec<V1Dir>,
    unified: Option<UnifiedDir>,
}

/// The container's directory in one v1 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Dir {
    /// The hierarchy's mount point.
    pub mount_point: PathBuf,
    /// Its controllers (`cpu`, `cpuacct`, `name=systemd`, ...).
    pub controllers: Vec<String>,
    /// The container's cgroup directory in it.
    pub dir: PathBuf,
}

/// The container's directory in the v2 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnifiedDir {
    /// The hierarchy's mount point.
    pub mount_point: PathBuf,
    /// The container's cgroup directory in it.
    pub dir: PathBuf,
}

/// Where one controller's files are for this cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl Cgroup {
    /// The cgroup for container `id` on this host. `path` is the OCI
    /// `cgroupsPath`: absolute ("/default/ctr1"), relative to the caller's own
    /// cgroup in each hierarchy (as runc does), or, when `systemd` is set
    /// (runc's `--systemd-cgroup`), "slice:prefix:name", mapped onto cgroupfs
    /// where systemd would put that unit. `None` means `/berth/<id>` (or
    /// `system.slice:berth:<id>` with `systemd`).
    pub fn new(path: Option<&str>, id: &str, systemd: bool) -> Result<Cgroup, CgroupError> {
        let layout = Layout::detect()?;
        let p = cgroup_path(path, id, systemd)?;
        let own = match p {
            CgroupPath::Relative(_) => ProcCgroups::of_self()?,
            CgroupPath::Absolute(_) => ProcCgroups::default(),
        };
        Cgroup::resolve(layout, &p, &own)
    }

    /// The cgroup at absolute cgroup path `path` (a relative one is taken from
    /// the root too) in `layout`: for tests against a fake tree, or a layout
    /// detected once and reused.
    pub fn with_root(layout: Layout, path: &str) -> Cgroup {
        let p = CgroupPath::Absolute(clean(path));
        Cgroup::resolve(layout, &p, &ProcCgroups::default())
            .expect("an absolute path needs no caller cgroup, so resolving cannot fail")
    }

    /// Places `path` in every hierarchy of `layout`; `own` is where the caller
    /// sits (used for relative paths only).
    pub fn resolve(
        layout: Layout,
        path: &CgroupPath,
        own: &ProcCgroups,
    ) -> Result<Cgroup, CgroupError> {
        let mode = layout.mode();
        let full = |base: Option<&String>| -> Result<String, CgroupError> {
            match path {
                CgroupPath::Absolute(p) => Ok(p.clone()),
                CgroupPath::Relative(r) => {
                    let base = base.ok_or_else(|| CgroupError::InvalidPath {
                        path: r.clone(),
                        reason: "relative, but the caller's own cgroup is unknown in a hierarchy"
                            .into(),
                    })?;
                    Ok(clean(&format!("{base}/{r}")))
                }
            }
        };
        let mut v1 = Vec::new();
        if mode != Mode::Unified {
            for m in &layout.v1 {
                let base = m.controllers.iter().find_map(|c| own.v1.get(c));
                let cg = full(base)?;
                v1.push(V1Dir {
                    mount_point: m.mount_point.clone(),
                    controllers: m.controllers.clone(),
                    dir: place(&m.mount_point, &m.root, &cg),
                });
            }
        }
        let unified = match &layout.unified {
            Some(u) => {
                let cg = full(own.unified.as_ref())?;
                Some(UnifiedDir {
                    mount_point: u.mount_point.clone(),
                    dir: place(&u.mount_point, &u.root, &cg),
                })
            }
            None => None,
        };
        let display = match path {
            CgroupPath::Absolute(p) => p.clone(),
            CgroupPath::Relative(r) => r.clone(),
        };
        Ok(Cgroup {
            path: display,
            mode,
            v1,
            unified,
        })
    }

    /// The cgroup path this was made from (absolute, or as given if relative).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The host layout this cgroup lives in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Controller name to directory, as runc keeps them: every v1 controller
    /// (a combined mount appears under each of its controllers, a named one as
    /// `name=systemd`), and `""` for the v2 directory.
    pub fn paths(&self) -> BTreeMap<String, PathBuf> {
        let mut out = BTreeMap::new();
        for d in &self.v1 {
            for c in &d.controllers {
                out.insert(c.clone(), d.dir.clone());
            }
        }
        if let Some(u) = &self.unified {
            out.insert(String::new(), u.dir.clone());
        }
        out
    }

    /// The v1 directories.
    pub fn v1_dirs(&self) -> &[V1Dir] {
        &self.v1
    }

    /// The v2 directory (pure v2, or the v2 side of a hybrid host).
    pub fn unified_dir(&self) -> Option<&Path> {
        self.unified.as_ref().map(|u| u.dir.as_path())
    }

    /// The directory of a v1 controller.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.dir.as_path())
    }

    /// Where a controller's files are: its v1 hierarchy (`v1` name), else the
    /// v2 directory (`v2` name, `None` if v2 has no such thing) on a pure v2
    /// host, or on a hybrid host whose v2 side offers it.
    pub(crate) fn target(
        &self,
        v1: &str,
        v2: Option<&str>,
    ) -> Result<Option<Target<'_>>, CgroupError> {
        if self.mode != Mode::Unified {
            if let Some(d) = self.v1_dir(v1) {
                return Ok(Some(Target::V1(d)));
            }
        }
        let (Some(u), Some(v2)) = (&self.unified, v2) else {
            return Ok(None);
        };
        // Device filtering and freezing are built into every v2 directory.
        if self.mode == Mode::Unified || v2 == "devices" || v2 == "freezer" {
            return Ok(Some(Target::V2(&u.dir)));
        }
        if self.v2_available()?.iter().any(|c| c == v2) {
            return Ok(Some(Target::V2(&u.dir)));
        }
        Ok(None)
    }

    /// As [`Cgroup::target`], but missing is an error naming `resource`.
    pub(crate) fn require(
        &self,
        v1: &str,
        v2: Option<&str>,
        resource: &str,
    ) -> Result<Target<'_>, CgroupError> {
        self.target(v1, v2)?
            .ok_or_else(|| CgroupError::ControllerUnavailable {
                controller: match (self.mode, v2) {
                    (Mode::Unified, Some(v2)) => v2.into(),
                    _ => v1.into(),
                },
                resource: resource.into(),
                layout: self.mode.to_string(),
            })
    }

    /// The controllers the v2 hierarchy offers (its root's cgroup.controllers).
    pub(crate) fn v2_available(&self) -> Result<Vec<String>, CgroupError> {
        let Some(u) = &self.unified else {
            return Ok(Vec::new());
        };
        Ok(fs::read_opt(&u.mount_point, "cgroup.controllers")?
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// Every directory of this cgroup (v1 ones, then the v2 one).
    pub(crate) fn all_dirs(&self) -> impl Iterator<Item = &Path> {
        self.v1
            .iter()
            .map(|d| d.dir.as_path())
            .chain(self.unified.as_ref().map(|u| u.dir.as_path()))
    }
}

/// The directory for cgroup path `cg` in a hierarchy mounted at `mount_point`
/// showing cgroup `root` there.
fn place(mount_point: &Path, root: &str, cg: &str) -> PathBuf {
    let rel = if root == "/" || root.is_empty() {
        cg
    } else if cg == root {
        ""
    } else {
        cg.strip_prefix(root)
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(cg)
    };
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        mount_point.to_path_buf()
    } else {
        mount_point.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hybrid() -> Layout {
        Layout::from_mountinfo(
            "\
32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
",
        )
        .unwrap()
    }

    #[test]
    fn paths_map_every_controller() {
        let cg = Cgroup::with_root(hybrid(), "/berth/c1");
        let p = cg.paths();
        assert_eq!(p["cpu"], Path::new("/sys/fs/cgroup/cpu/berth/c1"));
        assert_eq!(p["cpuacct"], Path::new("/sys/fs/cgroup/cpuacct/berth/c1"));
        assert_eq!(
            p["name=systemd"],
            Path::new("/sys/fs/cgroup/systemd/berth/c1")
        );
        assert_eq!(p[""], Path::new("/sys/fs/cgroup/unified/berth/c1"));
        assert_eq!(cg.mode(), Mode::Hybrid);
    }

    #[test]
    fn relative_paths_hang_below_the_callers_cgroup_in_each_hierarchy() {
        let own = ProcCgroups::parse(
            "9:name=systemd:/user.slice\n4:memory:/process_api/d2\n2:cpuacct:/\n1:cpu:/\n0::/init.scope\n",
        )
        .unwrap();
        let cg = Cgroup::resolve(hybrid(), &CgroupPath::Relative("x/./ctr".into()), &own).unwrap();
        let p = cg.paths();
        assert_eq!(
            p["memory"],
            Path::new("/sys/fs/cgroup/memory/process_api/d2/x/ctr")
        );
        assert_eq!(p["cpu"], Path::new("/sys/fs/cgroup/cpu/x/ctr"));
        assert_eq!(
            p["name=systemd"],
            Path::new("/sys/fs/cgroup/systemd/user.slice/x/ctr")
        );
        assert_eq!(p[""], Path::new("/sys/fs/cgroup/unified/init.scope/x/ctr"));
        // A hierarchy the caller's /proc/self/cgroup does not mention.
        let e = Cgroup::resolve(
            hybrid(),
            &CgroupPath::Relative("c".into()),
            &ProcCgroups::default(),
        );
        assert!(e.is_err());
    }

    #[test]
    fn mount_roots_of_bind_mounted_sub_cgroups_are_stripped() {
        assert_eq!(
            place(Path::new("/m"), "/docker/x", "/docker/x/c1"),
            Path::new("/m/c1")
        );
        assert_eq!(
            place(Path::new("/m"), "/docker/x", "/docker/x"),
            Path::new("/m")
        );
        assert_eq!(
            place(Path::new("/m"), "/docker/x", "/docker/xy"),
            Path::new("/m/docker/xy")
        );
        assert_eq!(place(Path::new("/m"), "/", "/a/b"), Path::new("/m/a/b"));
    }

    #[test]
    fn cgroup_round_trips_through_json() {
        let cg = Cgroup::with_root(hybrid(), "/berth/c1");
        let s = serde_json::to_string(&cg).unwrap();
        let back: Cgroup = serde_json::from_str(&s).unwrap();
        assert_eq!(back, cg);
    }
}
