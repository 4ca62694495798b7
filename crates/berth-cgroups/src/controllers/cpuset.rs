//! The cpuset controller: `cpus` and `mems` from the OCI cpu block. (Copying
//! a v1 parent's values into a new cgroup happens at creation.)

use oci_spec::runtime::LinuxCpu;

use crate::create::cpuset_file;
use crate::{fs, CgroupError, Target};

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub(crate) fn wanted(c: &LinuxCpu) -> bool {
    non_empty(c.cpus()).is_some() || non_empty(c.mems()).is_some()
}

/// A cpu or memory-node list: "0-3,5" and nothing else, so the value can
/// neither smuggle a newline nor confuse the reader.
pub(crate) fn validate(c: &LinuxCpu) -> Result<(), CgroupError> {
    for (what, v) in [("cpuset cpus", c.cpus()), ("cpuset mems", c.mems())] {
        if let Some(v) = non_empty(v) {
            if !v
                .chars()
                .all(|ch| ch.is_ascii_digit() || ch == ',' || ch == '-')
            {
                return Err(CgroupError::invalid(
                    what,
                    format!("{v:?} (expected a list like \"0-3,5\")"),
                ));
            }
        }
    }
    Ok(())
}

pub(crate) fn set(t: Target<'_>, c: &LinuxCpu) -> Result<(), CgroupError> {
    let (Target::V1(dir) | Target::V2(dir)) = t;
    if let Some(cpus) = non_empty(c.cpus()) {
        fs::write(dir, &cpuset_file(dir, "cpus"), cpus)?;
    }
    if let Some(mems) = non_empty(c.mems()) {
        fs::write(dir, &cpuset_file(dir, "mems"), mems)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cat, seed, TempDir};
    use oci_spec::runtime::LinuxCpuBuilder;

    #[test]
    fn writes_cpus_and_mems_and_rejects_junk() {
        let t = TempDir::new();
        seed(t.path(), &[("cpuset.cpus", ""), ("cpuset.mems", "")]);
        let c = LinuxCpuBuilder::default()
            .cpus("0-1,3")
            .mems("0")
            .build()
            .unwrap();
        validate(&c).unwrap();
        set(Target::V1(t.path()), &c).unwrap();
        assert_eq!(cat(t.path(), "cpuset.cpus"), "0-1,3");
        assert_eq!(cat(t.path(), "cpuset.mems"), "0");
        let c = LinuxCpuBuilder::default().cpus("0\n1").build().unwrap();
        assert!(validate(&c).is_err());
        // noprefix mounts
        let t = TempDir::new();
        seed(t.path(), &[("cpus", "")]);
        let c = LinuxCpuBuilder::default().cpus("2").build().unwrap();
        set(Target::V1(t.path()), &c).unwrap();
        assert_eq!(cat(t.path(), "cpus"), "2");
    }
}
