//! The pids controller: `pids.max`, "max" for no limit (-1 or 0, as runc).

use oci_spec::runtime::LinuxPids;

use crate::{fs, CgroupError, Target};

/// The value written to pids.max.
pub(crate) fn value(p: &LinuxPids) -> String {
    if p.limit() > 0 {
        p.limit().to_string()
    } else {
        "max".into()
    }
}

pub(crate) fn set(t: Target<'_>, p: &LinuxPids) -> Result<(), CgroupError> {
    let (Target::V1(dir) | Target::V2(dir)) = t;
    fs::write(dir, "pids.max", &value(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxPidsBuilder;

    #[test]
    fn limits() {
        let p = |l: i64| LinuxPidsBuilder::default().limit(l).build().unwrap();
        assert_eq!(value(&p(32)), "32");
        assert_eq!(value(&p(0)), "max");
        assert_eq!(value(&p(-1)), "max");
    }
}
