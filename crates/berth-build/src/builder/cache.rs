//! The build cache's index: which image a step made from which parent. The classic
//! builder's key — the parent image, the step's run configuration and `created_by`
//! (with the content checksum of COPY/ADD sources) — hashed, one small file per key
//! under `CACHE_ROOT/index/`, so a lookup is one read and the cache survives daemon
//! restarts. The images themselves are ordinary (untagged) images; an entry whose
//! image is gone is a miss.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The index directory.
#[derive(Debug, Clone)]
pub struct CacheIndex {
    dir: PathBuf,
}

/// A step's cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(pub String);

impl Key {
    /// The key of a step over `parent` (None: scratch), described by `parts`.
    pub fn new(parent: Option<&str>, parts: &[&str]) -> Key {
        let mut h = Sha256::new();
        h.update(parent.unwrap_or("scratch").as_bytes());
        for p in parts {
            h.update([0u8]);
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        Key(hex(&h.finalize()))
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl CacheIndex {
    pub fn open(root: &Path) -> CacheIndex {
        CacheIndex {
            dir: root.join("index"),
        }
    }

    /// The image recorded for `key`.
    pub fn get(&self, key: &Key) -> Option<String> {
        let s = fs::read_to_string(self.dir.join(&key.0)).ok()?;
        let id = s.trim();
        (id.starts_with("sha256:") && id.len() == 71).then(|| id.to_string())
    }

    /// Records `id` for `key` (atomically: a crash leaves the old entry or the new).
    pub fn put(&self, key: &Key, id: &str) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{}.tmp", key.0));
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(id.as_bytes())?;
        }
        fs::rename(&tmp, self.dir.join(&key.0))
    }

    /// Every entry: (key file, image id).
    pub fn entries(&self) -> Vec<(PathBuf, String)> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| {
                let p = e.path();
                let id = fs::read_to_string(&p).ok()?;
                Some((p, id.trim().to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_every_part_and_survive_reopening() {
        let a = Key::new(Some("sha256:1"), &["RUN x", "env"]);
        assert_ne!(a, Key::new(Some("sha256:2"), &["RUN x", "env"]));
        assert_ne!(a, Key::new(Some("sha256:1"), &["RUN x", "env2"]));
        assert_ne!(a, Key::new(Some("sha256:1"), &["RUN xe", "nv"]));
        assert_ne!(a, Key::new(None, &["RUN x", "env"]));
        let d = tempfile::tempdir().unwrap();
        let id = format!("sha256:{}", "a".repeat(64));
        CacheIndex::open(d.path()).put(&a, &id).unwrap();
        assert_eq!(CacheIndex::open(d.path()).get(&a), Some(id));
        assert_eq!(CacheIndex::open(d.path()).get(&Key::new(None, &[])), None);
    }
}
