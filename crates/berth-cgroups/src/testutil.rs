//! Test helpers: a self-removing temporary directory and a writer of fake
//! cgroupfs trees (plain files standing in for control files).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "berth-cgroups-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("creating a temp dir");
        TempDir(p)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `files` (name, content) into `dir`, creating `dir`.
pub(crate) fn seed(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).expect("creating a fake cgroup dir");
    for (name, content) in files {
        std::fs::write(dir.join(name), content).expect("writing a fake control file");
    }
}

/// Reads a fake control file.
pub(crate) fn cat(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}
