//! Removing the cgroup: rmdir in every hierarchy, sub-cgroups first. The
//! kernel refuses (EBUSY) while it still counts tasks, which lags a moment
//! behind their exit, so each rmdir is retried with a short backoff.

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use crate::{fs, Cgroup, CgroupError};

impl Cgroup {
    /// Removes the cgroup (and any sub-cgroups) everywhere. A cgroup that is
    /// already gone is not an error; every hierarchy is attempted even if one
    /// fails, and the first failure is returned.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first = None;
        for dir in self.all_dirs() {
            if let Err(e) = remove_tree(dir) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let dirs = match fs::walk_dirs(dir) {
        Ok(d) => d,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    for d in dirs.iter().rev() {
        rmdir(d)?;
    }
    Ok(())
}

fn rmdir(dir: &Path) -> Result<(), CgroupError> {
    let mut delay = Duration::from_millis(1);
    let mut tries = 0;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 10 => {
                sleep(delay);
                delay *= 2;
                tries += 1;
            }
            Err(error) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    error,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::TempDir;
    use crate::{Cgroup, Layout, V1Mount};

    #[test]
    fn removes_sub_cgroups_and_tolerates_absence() {
        let t = TempDir::new();
        let mut v1 = Vec::new();
        for c in ["cpu", "memory"] {
            std::fs::create_dir_all(t.path().join(c).join("berth/c1/sub/deeper")).unwrap();
            v1.push(V1Mount {
                mount_point: t.path().join(c),
                root: "/".into(),
                controllers: vec![c.into()],
            });
        }
        let cg = Cgroup::with_root(Layout { v1, unified: None }, "/berth/c1");
        cg.destroy().unwrap();
        assert!(!t.path().join("cpu/berth/c1").exists());
        assert!(!t.path().join("memory/berth/c1").exists());
        assert!(t.path().join("memory/berth").exists());
        cg.destroy().unwrap();
        // Something rmdir cannot remove is reported with its path.
        std::fs::create_dir_all(t.path().join("cpu/berth/c1")).unwrap();
        std::fs::write(t.path().join("cpu/berth/c1/file"), "x").unwrap();
        let e = cg.destroy().unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "removing cgroup {}",
                t.path().join("cpu/berth/c1").display()
            )),
            "{e}"
        );
    }
}
