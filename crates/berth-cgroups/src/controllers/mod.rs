//! Writing `LinuxResources` into each controller's files, v1 and v2 side by
//! side: one module per controller, each with a `set` that takes the
//! [`Target`](crate::Target) the cgroup resolved for it.

pub(crate) mod blkio;
pub(crate) mod cpu;
pub(crate) mod cpuset;
pub(crate) mod hugetlb;
pub(crate) mod memory;
pub(crate) mod network;
pub(crate) mod pids;
pub(crate) mod rdma;
pub(crate) mod unified;

/// A value the OCI spec leaves unset when absent or zero (runc treats 0 as
/// "not set" for these).
pub(crate) fn nz<T: Default + PartialEq + Copy>(v: Option<T>) -> Option<T> {
    v.filter(|v| *v != T::default())
}

/// cgroup v2 spelling of a limit: -1 is "max".
pub(crate) fn v2_limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}
