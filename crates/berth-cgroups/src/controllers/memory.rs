//! The memory controller. v1 keeps memory and memory+swap limits in two files
//! that must stay ordered (memsw >= limit at every step), so which one is
//! written first depends on whether the limits grow or shrink, as runc does.
//! v2 takes swap alone (`memory.swap.max` = OCI swap - limit). Kernel memory
//! limits are deprecated: ignored where the kernel no longer has the file.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use super::{nz, v2_limit};
use crate::{fs, CgroupError, Target};

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

/// Whether `m` asks for anything to be written.
pub(crate) fn wanted(m: &LinuxMemory, v2: bool) -> bool {
    let common = nz(m.limit()).is_some() || nz(m.reservation()).is_some() || nz(m.swap()).is_some();
    if v2 {
        return common;
    }
    common
        || nz(m.kernel()).is_some()
        || nz(m.kernel_tcp()).is_some()
        || m.swappiness().is_some_and(|s| s != u64::MAX)
        || m.disable_oom_killer() == Some(true)
}

/// Input checks that do not depend on the host.
pub(crate) fn validate(m: &LinuxMemory, v2: bool) -> Result<(), CgroupError> {
    if let Some(s) = m.swappiness() {
        // u64::MAX is Go's uint64(-1): "leave as is".
        if s > 100 && s != u64::MAX {
            return Err(CgroupError::invalid(
                "memory swappiness",
                format!("{s} (valid range is 0-100)"),
            ));
        }
    }
    for (name, v) in [
        ("memory limit", m.limit()),
        ("memory reservation", m.reservation()),
        ("memory+swap limit", m.swap()),
    ] {
        if let Some(v) = v {
            if v < -1 {
                return Err(CgroupError::invalid(
                    name,
                    format!("{v} (use -1 for unlimited)"),
                ));
            }
        }
    }
    if v2 {
        swap_v2(m.swap().unwrap_or(0), m.limit().unwrap_or(0))?;
    }
    Ok(())
}

pub(crate) fn set(t: Target<'_>, m: &LinuxMemory) -> Result<(), CgroupError> {
    match t {
        Target::V1(dir) => set_v1(dir, m),
        Target::V2(dir) => set_v2(dir, m),
    }
}

fn check_before_update(dir: &Path, usage_file: &str, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = m.limit().unwrap_or(0);
    if m.check_before_update() != Some(true) || limit <= 0 {
        return Ok(());
    }
    let Some(usage) = fs::read_u64_opt(dir, usage_file)? else {
        return Ok(());
    };
    if (limit as u64) < usage {
        return Err(CgroupError::invalid(
            "memory limit",
            format!(
                "rejecting memory limit {limit} below current usage {usage} of {}",
                dir.display()
            ),
        ));
    }
    Ok(())
}

fn set_v1(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    check_before_update(dir, "memory.usage_in_bytes", m)?;
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    // Lifting the limit must lift memory+swap too, or the kernel refuses.
    if limit == -1 && swap == 0 && fs::exists(dir, MEMSW) {
        swap = -1;
    }
    let mut swap_first = false;
    if limit != 0 && swap != 0 {
        let current = fs::read_u64(dir, LIMIT)?;
        swap_first = swap == -1 || current < swap as u64;
    }
    if swap_first {
        set_swap_v1(dir, swap)?;
        set_limit_v1(dir, limit)?;
    } else {
        set_limit_v1(dir, limit)?;
        set_swap_v1(dir, swap)?;
    }
    if let Some(v) = nz(m.reservation()) {
        fs::write(dir, "memory.soft_limit_in_bytes", &v.to_string())?;
    }
    if let Some(v) = nz(m.kernel()) {
        // Deprecated; gone from recent kernels (and a no-op on some that keep the file).
        if fs::exists(dir, "memory.kmem.limit_in_bytes") {
            match fs::write(dir, "memory.kmem.limit_in_bytes", &v.to_string()) {
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {}
                r => r?,
            }
        }
    }
    if let Some(v) = nz(m.kernel_tcp()) {
        let file = "memory.kmem.tcp.limit_in_bytes";
        if !fs::exists(dir, file) {
            return Err(CgroupError::Unsupported {
                resource: "memory kernelTCP limit".into(),
                path: dir.join(file),
                hint: "this kernel has no TCP kernel memory accounting".into(),
            });
        }
        fs::write(dir, file, &v.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        fs::write(dir, "memory.oom_control", "1")?;
    }
    if let Some(s) = m.swappiness().filter(|s| *s != u64::MAX) {
        fs::write(dir, "memory.swappiness", &s.to_string())?;
    }
    Ok(())
}

fn set_limit_v1(dir: &Path, limit: i64) -> Result<(), CgroupError> {
    if limit == 0 {
        return Ok(());
    }
    match fs::write(dir, LIMIT, &limit.to_string()) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Err(CgroupError::MemoryInUse {
            path: dir.join(LIMIT),
            limit,
            usage: fs::read_u64(dir, "memory.usage_in_bytes")?,
            peak: fs::read_u64(dir, "memory.max_usage_in_bytes")?,
        }),
        r => r,
    }
}

fn set_swap_v1(dir: &Path, swap: i64) -> Result<(), CgroupError> {
    if swap == 0 {
        return Ok(());
    }
    if !fs::exists(dir, MEMSW) {
        if swap == -1 {
            // No swap accounting: unlimited is all there is.
            return Ok(());
        }
        return Err(CgroupError::Unsupported {
            resource: format!("memory+swap limit {swap}"),
            path: dir.join(MEMSW),
            hint: "swap accounting is off; boot with swapaccount=1".into(),
        });
    }
    fs::write(dir, MEMSW, &swap.to_string())
}

/// OCI swap is memory+swap (v1's meaning); v2 limits swap alone. Mirrors
/// runc's ConvertMemorySwapToCgroupV2Value.
pub(crate) fn swap_v2(swap: i64, limit: i64) -> Result<i64, CgroupError> {
    let bad = |r: &str| CgroupError::invalid("memory+swap limit", format!("{swap}: {r}"));
    match (swap, limit) {
        (0, -1) => Ok(-1),
        (-1, _) | (0, _) => Ok(swap),
        (_, -1) => Ok(swap),
        (_, 0) => Err(bad("a swap limit needs a memory limit")),
        (_, l) if l < 0 => Err(bad("invalid memory limit")),
        (s, l) if s < l => Err(bad("memory+swap limit should be >= memory limit")),
        (s, l) => Ok(s - l),
    }
}

fn set_v2(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = m.limit().unwrap_or(0);
    let swap = m.swap().unwrap_or(0);
    let reservation = m.reservation().unwrap_or(0);
    if limit == 0 && swap == 0 && reservation == 0 {
        return Ok(());
    }
    check_before_update(dir, "memory.current", m)?;
    let s = swap_v2(swap, limit)?;
    let value = match s {
        0 if swap > 0 => Some("0".to_string()),
        0 => None,
        s => Some(v2_limit(s)),
    };
    if let Some(v) = value {
        match fs::write(dir, "memory.swap.max", &v) {
            // No swap accounting: nothing to limit when asking for none or no limit.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if v != "max" && v != "0" {
                    return Err(CgroupError::Unsupported {
                        resource: format!("swap limit {v}"),
                        path: dir.join("memory.swap.max"),
                        hint: "swap accounting is off".into(),
                    });
                }
            }
            r => r?,
        }
    }
    if limit != 0 {
        fs::write(dir, "memory.max", &v2_limit(limit))?;
    }
    if reservation != 0 {
        fs::write(dir, "memory.low", &v2_limit(reservation))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::log;
    use crate::testutil::{seed, TempDir};
    use oci_spec::runtime::LinuxMemoryBuilder;

    fn v1_dir(t: &TempDir, current_limit: &str) -> std::path::PathBuf {
        let d = t.path().to_path_buf();
        seed(
            &d,
            &[
                (LIMIT, current_limit),
                (MEMSW, "9223372036854771712\n"),
                ("memory.soft_limit_in_bytes", ""),
                ("memory.kmem.tcp.limit_in_bytes", ""),
                ("memory.oom_control", ""),
                ("memory.swappiness", ""),
                ("memory.usage_in_bytes", "1000\n"),
            ],
        );
        d
    }

    #[test]
    fn v1_growing_limits_write_memsw_first() {
        let t = TempDir::new();
        let d = v1_dir(&t, "100000000\n");
        let m = LinuxMemoryBuilder::default()
            .limit(200_000_000)
            .swap(300_000_000)
            .reservation(50_000_000)
            .kernel(1_000_000) // no kmem file here: ignored
            .kernel_tcp(2_000_000)
            .disable_oom_killer(true)
            .swappiness(10u64)
            .build()
            .unwrap();
        validate(&m, false).unwrap();
        log::take(&d);
        set(Target::V1(&d), &m).unwrap();
        assert_eq!(
            log::take(&d),
            [
                (MEMSW, "300000000"),
                (LIMIT, "200000000"),
                ("memory.soft_limit_in_bytes", "50000000"),
                ("memory.kmem.tcp.limit_in_bytes", "2000000"),
                ("memory.oom_control", "1"),
                ("memory.swappiness", "10"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn v1_shrinking_limits_write_the_limit_first() {
        let t = TempDir::new();
        let d = v1_dir(&t, "500000000\n");
        let m = LinuxMemoryBuilder::default()
            .limit(100_000_000)
            .swap(200_000_000)
            .build()
            .unwrap();
        log::take(&d);
        set(Target::V1(&d), &m).unwrap();
        let w = log::take(&d);
        assert_eq!(w[0], (LIMIT.to_string(), "100000000".to_string()));
        assert_eq!(w[1], (MEMSW.to_string(), "200000000".to_string()));
    }

    #[test]
    fn v1_unlimited_lifts_memsw_first() {
        let t = TempDir::new();
        let d = v1_dir(&t, "500000000\n");
        let m = LinuxMemoryBuilder::default().limit(-1).build().unwrap();
        log::take(&d);
        set(Target::V1(&d), &m).unwrap();
        assert_eq!(
            log::take(&d),
            [(MEMSW, "-1"), (LIMIT, "-1")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn v1_without_swap_accounting_says_so() {
        let t = TempDir::new();
        let d = t.path().to_path_buf();
        seed(&d, &[(LIMIT, "max\n")]);
        let m = LinuxMemoryBuilder::default()
            .limit(100)
            .swap(200)
            .build()
            .unwrap();
        let e = set(Target::V1(&d), &m).unwrap_err().to_string();
        assert!(
            e.contains("memory.memsw.limit_in_bytes does not exist"),
            "{e}"
        );
        // Unlimited swap is what a host without swap accounting has anyway.
        let m = LinuxMemoryBuilder::default()
            .limit(100)
            .swap(-1)
            .build()
            .unwrap();
        log::take(&d);
        set(Target::V1(&d), &m).unwrap();
        assert_eq!(log::take(&d), [(LIMIT.to_string(), "100".to_string())]);
    }

    #[test]
    fn check_before_update_refuses_a_limit_below_usage() {
        let t = TempDir::new();
        let d = v1_dir(&t, "max\n");
        let m = LinuxMemoryBuilder::default()
            .limit(500)
            .check_before_update(true)
            .build()
            .unwrap();
        let e = set(Target::V1(&d), &m).unwrap_err().to_string();
        assert!(e.contains("below current usage 1000"), "{e}");
    }

    #[test]
    fn v2_swap_is_swap_alone() {
        let t = TempDir::new();
        let d = t.path().to_path_buf();
        seed(
            &d,
            &[
                ("memory.max", ""),
                ("memory.swap.max", ""),
                ("memory.low", ""),
            ],
        );
        let m = LinuxMemoryBuilder::default()
            .limit(100_000_000)
            .swap(150_000_000)
            .reservation(-1)
            .swappiness(30u64) // v1 only: ignored
            .build()
            .unwrap();
        validate(&m, true).unwrap();
        log::take(&d);
        set(Target::V2(&d), &m).unwrap();
        assert_eq!(
            log::take(&d),
            [
                ("memory.swap.max", "50000000"),
                ("memory.max", "100000000"),
                ("memory.low", "max"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        // swap == limit: no swap at all.
        let m = LinuxMemoryBuilder::default()
            .limit(10)
            .swap(10)
            .build()
            .unwrap();
        set(Target::V2(&d), &m).unwrap();
        assert_eq!(log::take(&d)[0], ("memory.swap.max".into(), "0".into()));
    }

    #[test]
    fn swap_conversion_and_bad_input() {
        assert_eq!(swap_v2(0, -1).unwrap(), -1);
        assert_eq!(swap_v2(-1, 100).unwrap(), -1);
        assert_eq!(swap_v2(0, 100).unwrap(), 0);
        assert_eq!(swap_v2(300, 100).unwrap(), 200);
        assert!(swap_v2(50, 100).is_err());
        assert!(swap_v2(50, 0).is_err());
        let m = LinuxMemoryBuilder::default()
            .swappiness(101u64)
            .build()
            .unwrap();
        assert!(validate(&m, false)
            .unwrap_err()
            .to_string()
            .contains("0-100"));
        let m = LinuxMemoryBuilder::default()
            .swappiness(u64::MAX)
            .build()
            .unwrap();
        validate(&m, false).unwrap();
        assert!(!wanted(&m, false));
        let m = LinuxMemoryBuilder::default().limit(-5).build().unwrap();
        assert!(validate(&m, false).is_err());
    }
}
