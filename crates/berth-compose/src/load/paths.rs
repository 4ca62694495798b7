//! Host paths in compose files: `~` is the home directory, relative paths are
//! resolved against a base directory (the project directory, or an extended file's
//! own directory), and `.`/`..` are folded away lexically.

use std::path::{Component, Path, PathBuf};

/// `.` and `..` folded without touching the filesystem.
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Resolves a host path written in a compose file.
pub fn resolve(base: &Path, home: Option<&Path>, s: &str) -> PathBuf {
    if s == "~" {
        if let Some(h) = home {
            return h.to_path_buf();
        }
    }
    if let (Some(rest), Some(h)) = (s.strip_prefix("~/"), home) {
        return clean(&h.join(rest));
    }
    clean(&base.join(s))
}

/// Whether a build context is a remote one (git or a tarball URL), kept as written.
pub fn is_remote_context(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/")
}

/// Whether a volume's short-form source is a host path rather than a volume name.
pub fn is_host_path(s: &str) -> bool {
    s.starts_with('/') || s.starts_with('.') || s.starts_with('~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolving() {
        let base = Path::new("/p/dir");
        let home = Some(Path::new("/home/u"));
        assert_eq!(resolve(base, home, "./a/../b"), PathBuf::from("/p/dir/b"));
        assert_eq!(resolve(base, home, "../x"), PathBuf::from("/p/x"));
        assert_eq!(resolve(base, home, "/abs/./y"), PathBuf::from("/abs/y"));
        assert_eq!(resolve(base, home, "~/c"), PathBuf::from("/home/u/c"));
        assert_eq!(resolve(base, home, "."), PathBuf::from("/p/dir"));
    }
}
