//! From an OCI `cgroupsPath` to a cgroup path: the default path, relative
//! paths, systemd's "slice:prefix:name" form (mapped onto cgroupfs the way
//! systemd lays units out), and lexical cleaning so that no path can climb
//! out of its hierarchy with "..".

use crate::CgroupError;

/// Where the container's cgroup is, before it is placed in each hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupPath {
    /// From the root of each hierarchy, e.g. `/berth-ctr1`.
    Absolute(String),
    /// Below the calling process's own cgroup in each hierarchy (runc's rule
    /// for relative `cgroupsPath`).
    Relative(String),
}

/// Works out the cgroup path for a container. `path` is the OCI
/// `cgroupsPath`; `systemd` is runc's `--systemd-cgroup`.
pub fn cgroup_path(path: Option<&str>, id: &str, systemd: bool) -> Result<CgroupPath, CgroupError> {
    let path = path.filter(|p| !p.is_empty());
    if systemd {
        let spec = match path {
            Some(p) => p.to_string(),
            None => {
                check_id(id)?;
                format!("system.slice:berth:{id}")
            }
        };
        return systemd_to_cgroupfs(&spec).map(CgroupPath::Absolute);
    }
    match path {
        None => {
            check_id(id)?;
            // Flat, so that destroying the container leaves no parent directory behind.
            Ok(CgroupPath::Absolute(clean(&format!("/berth-{id}"))))
        }
        Some(p) if p.starts_with('/') => Ok(CgroupPath::Absolute(clean(p))),
        Some(p) => {
            let c = clean(p);
            if c == "/" {
                return Err(CgroupError::InvalidPath {
                    path: p.into(),
                    reason: "a relative path must name a cgroup below the caller's".into(),
                });
            }
            Ok(CgroupPath::Relative(c.trim_start_matches('/').to_string()))
        }
    }
}

fn check_id(id: &str) -> Result<(), CgroupError> {
    if id.is_empty() || id.contains('/') || id == "." || id == ".." {
        return Err(CgroupError::InvalidPath {
            path: id.into(),
            reason:
                "a container id used as a cgroup name must be a single, non-empty path component"
                    .into(),
        });
    }
    Ok(())
}

/// Lexically cleans `p` as an absolute path: no empty, "." or ".."
/// components, and ".." at the root stays at the root.
pub fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Maps systemd's "slice:prefix:name" onto the cgroupfs path systemd would
/// give the unit: `system.slice:docker:abc` is
/// `/system.slice/docker-abc.scope`, and a nested slice `a-b.slice` is
/// `/a.slice/a-b.slice`. A name that is itself a slice is placed where
/// systemd puts that slice.
pub fn systemd_to_cgroupfs(spec: &str) -> Result<String, CgroupError> {
    let bad = |reason: &str| CgroupError::InvalidPath {
        path: spec.into(),
        reason: reason.into(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(bad("expected \"slice:prefix:name\" for systemd cgroups"));
    };
    if name.is_empty() {
        return Err(bad("the unit name is empty"));
    }
    if name.contains('/') || prefix.contains('/') {
        return Err(bad("a unit name cannot contain '/'"));
    }
    if name.ends_with(".slice") {
        return expand_slice(name).map_err(|r| bad(&r));
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let parent = expand_slice(slice).map_err(|r| bad(&r))?;
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(clean(&format!("{parent}/{unit}")))
}

/// systemd's slice nesting: `test-a-b.slice` is
/// `/test.slice/test-a.slice/test-a-b.slice`; `-.slice` is the root.
pub fn expand_slice(slice: &str) -> Result<String, String> {
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err(format!(
            "invalid slice name {slice:?}: it must end in .slice"
        ));
    };
    if base.is_empty() || slice.contains('/') {
        return Err(format!("invalid slice name {slice:?}"));
    }
    if base == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for component in base.split('-') {
        if component.is_empty() {
            return Err(format!(
                "invalid slice name {slice:?}: empty component between dashes"
            ));
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(component);
        path.push_str(".slice");
        prefix.push_str(component);
        prefix.push('-');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_absolute_paths() {
        assert_eq!(
            cgroup_path(None, "ctr1", false).unwrap(),
            CgroupPath::Absolute("/berth-ctr1".into())
        );
        assert_eq!(
            cgroup_path(Some(""), "ctr1", false).unwrap(),
            CgroupPath::Absolute("/berth-ctr1".into())
        );
        assert_eq!(
            cgroup_path(Some("/default/ctr1/"), "x", false).unwrap(),
            CgroupPath::Absolute("/default/ctr1".into())
        );
        assert!(cgroup_path(None, "../x", false).is_err());
        assert!(cgroup_path(None, "", false).is_err());
    }

    #[test]
    fn dot_dot_cannot_escape() {
        assert_eq!(
            cgroup_path(Some("/../../etc"), "x", false).unwrap(),
            CgroupPath::Absolute("/etc".into())
        );
        assert_eq!(
            cgroup_path(Some("../../a/./b"), "x", false).unwrap(),
            CgroupPath::Relative("a/b".into())
        );
        assert!(cgroup_path(Some(".."), "x", false).is_err());
        assert_eq!(clean("//a//b/../c/."), "/a/c");
        assert_eq!(clean(""), "/");
    }

    #[test]
    fn systemd_paths() {
        assert_eq!(
            systemd_to_cgroupfs("system.slice:docker:abc").unwrap(),
            "/system.slice/docker-abc.scope"
        );
        assert_eq!(
            systemd_to_cgroupfs("a-b.slice:crio:x").unwrap(),
            "/a.slice/a-b.slice/crio-x.scope"
        );
        assert_eq!(
            systemd_to_cgroupfs("kubepods-burstable-pod1.slice:cri-containerd:abc").unwrap(),
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope"
        );
        assert_eq!(
            systemd_to_cgroupfs(":berth:c1").unwrap(),
            "/system.slice/berth-c1.scope"
        );
        assert_eq!(systemd_to_cgroupfs("-.slice::c1").unwrap(), "/c1.scope");
        assert_eq!(
            systemd_to_cgroupfs("system.slice:x:my-a.slice").unwrap(),
            "/my.slice/my-a.slice"
        );
        assert_eq!(
            cgroup_path(None, "c1", true).unwrap(),
            CgroupPath::Absolute("/system.slice/berth-c1.scope".into())
        );
        for bad in [
            "system.slice:docker",
            "/a/b",
            "a:b:c:d",
            "system.slice:docker:",
            "sys.slice:../x:y",
            "system:docker:abc",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            ".slice:p:n",
        ] {
            let e = systemd_to_cgroupfs(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
