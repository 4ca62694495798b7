//! Network classification and priority: v1's `net_cls.classid` and
//! `net_prio.ifpriomap`. cgroup v2 has neither (it matches sockets by cgroup
//! path instead), so asking for them there is an error.

use std::path::Path;

use oci_spec::runtime::LinuxNetwork;

use crate::{fs, CgroupError};

pub(crate) fn wants_class(n: &LinuxNetwork) -> bool {
    n.class_id().is_some()
}

pub(crate) fn wants_priorities(n: &LinuxNetwork) -> bool {
    n.priorities().as_ref().is_some_and(|p| !p.is_empty())
}

pub(crate) fn validate(n: &LinuxNetwork) -> Result<(), CgroupError> {
    for p in n.priorities().iter().flatten() {
        let name = p.name();
        if name.is_empty() || name.len() > 15 || name.chars().any(|c| c.is_whitespace() || c == '/')
        {
            return Err(CgroupError::invalid(
                "network priority interface name",
                format!("{name:?}"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn set_class(dir: &Path, n: &LinuxNetwork) -> Result<(), CgroupError> {
    match n.class_id() {
        Some(id) => fs::write(dir, "net_cls.classid", &id.to_string()),
        None => Ok(()),
    }
}

pub(crate) fn set_priorities(dir: &Path, n: &LinuxNetwork) -> Result<(), CgroupError> {
    for p in n.priorities().iter().flatten() {
        fs::write(
            dir,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::log;
    use crate::testutil::{seed, TempDir};
    use oci_spec::runtime::{LinuxInterfacePriorityBuilder, LinuxNetworkBuilder};

    #[test]
    fn class_and_priorities() {
        let t = TempDir::new();
        let d = t.path();
        seed(d, &[("net_cls.classid", ""), ("net_prio.ifpriomap", "")]);
        let prio = |n: &str, p: u32| {
            LinuxInterfacePriorityBuilder::default()
                .name(n)
                .priority(p)
                .build()
                .unwrap()
        };
        let n = LinuxNetworkBuilder::default()
            .class_id(0x100001u32)
            .priorities(vec![prio("eth0", 5), prio("lo", 2)])
            .build()
            .unwrap();
        validate(&n).unwrap();
        log::take(d);
        set_class(d, &n).unwrap();
        set_priorities(d, &n).unwrap();
        assert_eq!(
            log::take(d),
            [
                ("net_cls.classid", "1048577"),
                ("net_prio.ifpriomap", "eth0 5"),
                ("net_prio.ifpriomap", "lo 2")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let n = LinuxNetworkBuilder::default()
            .priorities(vec![prio("eth0\nlo", 1)])
            .build()
            .unwrap();
        assert!(validate(&n).is_err());
    }
}
