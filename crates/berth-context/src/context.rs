//! A build context as the docker CLI sends it: the directory's tree as a tar stream,
//! without what `.dockerignore` leaves out — but always with the Dockerfile and the
//! `.dockerignore` themselves, which the builder needs (COPY and ADD still honour the
//! patterns for them). Entries are in a stable order (sorted by name, a directory
//! before what it holds), owned by 0:0 as the docker CLI writes them, with their
//! modes, modification times and symlink targets; sockets, pipes and devices are left
//! out. A directory that is excluded is not walked at all unless an exception (`!`)
//! could bring back something inside it.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::ignore::{clean, Ignore};

/// A context directory that could not be sent, naming the path at fault.
#[derive(Debug, thiserror::Error)]
#[error("build context {path}: {source}")]
pub struct ContextError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn err(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError {
        path: path.to_path_buf(),
        source,
    }
}

/// What goes into a context: the patterns, and the files kept whatever they say
/// (the Dockerfile's path in the context, `.dockerignore`).
pub struct ContextFilter<'a> {
    pub ignore: &'a Ignore,
    pub keep: Vec<String>,
}

impl ContextFilter<'_> {
    fn excluded(&self, rel: &str) -> bool {
        !self.keep.iter().any(|k| k == rel) && self.ignore.excludes(rel)
    }

    /// Whether a walk must enter an excluded directory: an exception, or a kept file,
    /// may lie under it.
    fn may_hold_kept(&self, rel: &str) -> bool {
        self.ignore.has_exceptions()
            || self
                .keep
                .iter()
                .any(|k| k.starts_with(rel) && k.as_bytes().get(rel.len()) == Some(&b'/'))
    }
}

/// Writes the context at `root` as a tar stream to `w`; returns how many entries.
pub fn write_context(
    root: &Path,
    filter: &ContextFilter<'_>,
    w: impl Write,
) -> Result<u64, ContextError> {
    let mut tar = tar::Builder::new(w);
    tar.follow_symlinks(false);
    let mut count = 0;
    walk(root, "", filter, Some(&mut tar), &mut count)?;
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(err(root))?;
    Ok(count)
}

/// Checks, before anything is sent, that everything [`write_context`] would write
/// can be read (as the docker CLI's `ValidateContextDirectory` does): every
/// directory listed, every file opened. Returns how many entries the context holds,
/// or the first path at fault.
pub fn check_context(root: &Path, filter: &ContextFilter<'_>) -> Result<u64, ContextError> {
    let mut count = 0;
    walk::<io::Sink>(root, "", filter, None, &mut count)?;
    Ok(count)
}

fn header_for(meta: &fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(meta.mode() & 0o7777);
    h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn walk<W: Write>(
    dir: &Path,
    rel_dir: &str,
    filter: &ContextFilter<'_>,
    mut tar: Option<&mut tar::Builder<W>>,
    count: &mut u64,
) -> Result<(), ContextError> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(err(dir))?
        .map(|e| e.map(|e| e.file_name()).map_err(err(dir)))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let name = name.to_string_lossy().into_owned();
        let rel = if rel_dir.is_empty() {
            name.clone()
        } else {
            format!("{rel_dir}/{name}")
        };
        let meta = fs::symlink_metadata(&path).map_err(err(&path))?;
        let ft = meta.file_type();
        let excluded = filter.excluded(&rel);
        if ft.is_dir() {
            if !excluded {
                if let Some(tar) = tar.as_deref_mut() {
                    let mut h = header_for(&meta);
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    tar.append_data(&mut h, format!("{rel}/"), io::empty())
                        .map_err(err(&path))?;
                }
                *count += 1;
            }
            if !excluded || filter.may_hold_kept(&rel) {
                walk(&path, &rel, filter, tar.as_deref_mut(), count)?;
            }
            continue;
        }
        if excluded {
            continue;
        }
        if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(err(&path))?;
            if let Some(tar) = tar.as_deref_mut() {
                let mut h = header_for(&meta);
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                tar.append_link(&mut h, &rel, &target).map_err(err(&path))?;
            }
        } else if ft.is_file() {
            let f = fs::File::open(&path).map_err(err(&path))?;
            if let Some(tar) = tar.as_deref_mut() {
                let mut h = header_for(&meta);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(meta.len());
                tar.append_data(&mut h, &rel, f).map_err(err(&path))?;
            }
        } else {
            // Sockets, pipes, devices: not sent, as the docker CLI does not send them.
            continue;
        }
        *count += 1;
    }
    Ok(())
}

/// The name the Dockerfile has inside the context, when it is inside it (`-f` may
/// name a file elsewhere, which is then sent on its own).
pub fn dockerfile_in_context(root: &Path, dockerfile: &Path) -> Option<String> {
    let root = fs::canonicalize(root).ok()?;
    let file = fs::canonicalize(dockerfile).ok()?;
    let rel = file.strip_prefix(&root).ok()?;
    Some(clean(&rel.to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_bytes: &[u8]) -> Vec<(String, u32, u64)> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect()
    }

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("src/deep")).unwrap();
        fs::create_dir_all(r.join("node_modules/pkg")).unwrap();
        fs::create_dir_all(r.join("docs")).unwrap();
        fs::write(r.join("Dockerfile"), "FROM scratch\n").unwrap();
        fs::write(r.join(".dockerignore"), "").unwrap();
        fs::write(r.join("src/main.rs"), "fn main() {}\n").unwrap();
        fs::write(r.join("src/deep/notes.md"), "x").unwrap();
        fs::write(r.join("node_modules/pkg/index.js"), "x").unwrap();
        fs::write(r.join("docs/keep.txt"), "x").unwrap();
        fs::write(r.join("docs/drop.txt"), "x").unwrap();
        fs::write(r.join("secret.key"), "x").unwrap();
        std::os::unix::fs::symlink("src/main.rs", r.join("link")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(r.join("src/main.rs"), fs::Permissions::from_mode(0o750)).unwrap();
        t
    }

    fn send(root: &Path, ignore: &str, keep: &[&str]) -> Vec<(String, u32, u64)> {
        let ig = Ignore::parse(ignore).unwrap();
        let f = ContextFilter {
            ignore: &ig,
            keep: keep.iter().map(|s| s.to_string()).collect(),
        };
        let mut out = Vec::new();
        write_context(root, &f, &mut out).unwrap();
        names(&out)
    }

    #[test]
    fn everything_in_order_owned_by_root_with_modes() {
        let t = tree();
        let got = send(t.path(), "", &[]);
        let paths: Vec<&str> = got.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".dockerignore",
                "Dockerfile",
                "docs/",
                "docs/drop.txt",
                "docs/keep.txt",
                "link",
                "node_modules/",
                "node_modules/pkg/",
                "node_modules/pkg/index.js",
                "secret.key",
                "src/",
                "src/deep/",
                "src/deep/notes.md",
                "src/main.rs",
            ]
        );
        assert!(got.iter().all(|(_, _, uid)| *uid == 0));
        let main = got.iter().find(|(p, _, _)| p == "src/main.rs").unwrap();
        assert_eq!(main.1, 0o750);
    }

    #[test]
    fn dockerignore_leaves_things_out_but_not_the_build_files() {
        let t = tree();
        let got = send(
            t.path(),
            "node_modules\n*.key\n**/*.md\ndocs\n!docs/keep.txt\nDockerfile\n.dockerignore\n",
            &["Dockerfile", ".dockerignore"],
        );
        let paths: Vec<&str> = got.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".dockerignore",
                "Dockerfile",
                "docs/keep.txt",
                "link",
                "src/",
                "src/deep/",
                "src/main.rs",
            ]
        );
        // The symlink is a symlink.
        let ig = Ignore::default();
        let f = ContextFilter {
            ignore: &ig,
            keep: vec![],
        };
        let mut out = Vec::new();
        write_context(t.path(), &f, &mut out).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let link = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().to_string_lossy() == "link")
            .unwrap();
        assert_eq!(link.header().entry_type(), tar::EntryType::Symlink);
        assert_eq!(
            link.link_name().unwrap().unwrap().to_string_lossy(),
            "src/main.rs"
        );
    }

    #[test]
    fn a_kept_dockerfile_under_an_excluded_directory_is_still_sent() {
        let t = tree();
        fs::create_dir_all(t.path().join("build")).unwrap();
        fs::write(t.path().join("build/Dockerfile.ci"), "FROM scratch\n").unwrap();
        fs::write(t.path().join("build/other"), "x").unwrap();
        let got = send(t.path(), "build\n", &["build/Dockerfile.ci"]);
        let paths: Vec<&str> = got.iter().map(|(p, _, _)| p.as_str()).collect();
        assert!(paths.contains(&"build/Dockerfile.ci"), "{paths:?}");
        assert!(!paths.contains(&"build/other"), "{paths:?}");
        assert_eq!(
            dockerfile_in_context(t.path(), &t.path().join("build/Dockerfile.ci")).as_deref(),
            Some("build/Dockerfile.ci")
        );
        assert_eq!(
            dockerfile_in_context(t.path(), Path::new("/etc/hostname")),
            None
        );
    }

    #[test]
    fn the_same_entries_as_the_docker_cli_sends() {
        // What the docker CLI 28 sent for this tree and these patterns (observed with
        // `DOCKER_BUILDKIT=0 docker build -f ctx/build/Dockerfile.ci ctx` against a
        // socket that recorded the /build request's body).
        let t = tree();
        let r = t.path();
        fs::create_dir_all(r.join("build")).unwrap();
        fs::write(r.join("build/Dockerfile.ci"), "x").unwrap();
        fs::write(r.join("build/other"), "x").unwrap();
        fs::write(r.join("src/deep/xa"), "x").unwrap();
        fs::write(r.join("src/deep/ya"), "x").unwrap();
        let got = send(
            r,
            "node_modules\n*.key\n**/*.md\ndocs\n!docs/keep.txt\nDockerfile\n.dockerignore\nbuild\n!build/Dockerfile.ci\n/src/deep/x*\n",
            &[".dockerignore", "build/Dockerfile.ci"],
        );
        let paths: Vec<&str> = got.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".dockerignore",
                "build/Dockerfile.ci",
                "docs/keep.txt",
                "link",
                "src/",
                "src/deep/",
                "src/deep/ya",
                "src/main.rs",
            ]
        );
    }

    #[test]
    fn a_check_counts_what_would_be_sent_and_names_an_unreadable_file() {
        let t = tree();
        let ig = Ignore::parse("node_modules\n").unwrap();
        let f = ContextFilter {
            ignore: &ig,
            keep: vec![],
        };
        let mut out = Vec::new();
        let sent = write_context(t.path(), &f, &mut out).unwrap();
        assert_eq!(check_context(t.path(), &f).unwrap(), sent);
        assert_eq!(sent as usize, names(&out).len());
        // A file that cannot be opened (a dangling path stands in for an unreadable
        // one, which root could read anyway) is named.
        let missing = t.path().join("gone");
        let e = check_context(&missing, &f).unwrap_err();
        assert_eq!(e.path, missing);
    }

    #[test]
    fn an_unreadable_context_names_the_path() {
        let t = tempfile::tempdir().unwrap();
        let missing = t.path().join("nope");
        let ig = Ignore::default();
        let f = ContextFilter {
            ignore: &ig,
            keep: vec![],
        };
        let e = write_context(&missing, &f, io::sink()).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
