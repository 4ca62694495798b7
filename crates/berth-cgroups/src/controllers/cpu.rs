//! The cpu controller: shares (v1) or weight (v2), CFS quota/period/burst,
//! `cpu.idle`, and v1's realtime budget. A period the kernel refuses on its
//! own (because the current quota does not fit it) is retried after the
//! quota is written, as runc does.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use super::nz;
use crate::{fs, CgroupError, Target};

pub(crate) fn wanted(c: &LinuxCpu) -> bool {
    nz(c.shares()).is_some()
        || nz(c.quota()).is_some()
        || nz(c.period()).is_some()
        || c.burst().is_some()
        || c.idle().is_some()
        || nz(c.realtime_runtime()).is_some()
        || nz(c.realtime_period()).is_some()
}

pub(crate) fn validate(c: &LinuxCpu, v2: bool) -> Result<(), CgroupError> {
    if v2 && (nz(c.realtime_runtime()).is_some() || nz(c.realtime_period()).is_some()) {
        return Err(CgroupError::invalid(
            "cpu realtimeRuntime/realtimePeriod",
            "realtime scheduling budgets do not exist in cgroup v2",
        ));
    }
    if let Some(i) = c.idle() {
        if !(0..=1).contains(&i) {
            return Err(CgroupError::invalid(
                "cpu idle",
                format!("{i} (must be 0 or 1)"),
            ));
        }
    }
    if let Some(q) = c.quota() {
        if q < -1 {
            return Err(CgroupError::invalid(
                "cpu quota",
                format!("{q} (use -1 for unlimited)"),
            ));
        }
    }
    Ok(())
}

/// cgroup v1 cpu.shares to cgroup v2 cpu.weight: the linear map crun uses,
/// [2, 262144] onto [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

pub(crate) fn set(t: Target<'_>, c: &LinuxCpu) -> Result<(), CgroupError> {
    match t {
        Target::V1(dir) => set_v1(dir, c),
        Target::V2(dir) => set_v2(dir, c),
    }
}

fn is_einval(e: &CgroupError) -> bool {
    e.raw_os_error() == Some(libc::EINVAL)
}

fn set_v1(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(shares) = nz(c.shares()) {
        fs::write(dir, "cpu.shares", &shares.to_string())?;
        // The kernel clamps silently; say so instead.
        check_shares(shares, fs::read_u64(dir, "cpu.shares")?)?;
    }
    let quota = nz(c.quota());
    let mut retry_period = None;
    if let Some(p) = nz(c.period()) {
        match fs::write(dir, "cpu.cfs_period_us", &p.to_string()) {
            Err(e) if is_einval(&e) && quota.is_some() => retry_period = Some(p),
            r => r?,
        }
    }
    let mut retry_burst = None;
    if let Some(b) = c.burst() {
        match fs::write(dir, "cpu.cfs_burst_us", &b.to_string()) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                return Err(CgroupError::Unsupported {
                    resource: format!("cpu burst {b}"),
                    path: dir.join("cpu.cfs_burst_us"),
                    hint: "this kernel has no CFS burst".into(),
                })
            }
            Err(e) if is_einval(&e) && quota.is_some() => retry_burst = Some(b),
            r => r?,
        }
    }
    if let Some(q) = quota {
        fs::write(dir, "cpu.cfs_quota_us", &q.to_string())?;
        if let Some(p) = retry_period {
            fs::write(dir, "cpu.cfs_period_us", &p.to_string())?;
        }
        if let Some(b) = retry_burst {
            fs::write(dir, "cpu.cfs_burst_us", &b.to_string())?;
        }
    }
    if let Some(i) = c.idle() {
        fs::write(dir, "cpu.idle", &i.to_string())?;
    }
    set_rt_v1(dir, c)
}

fn check_shares(asked: u64, got: u64) -> Result<(), CgroupError> {
    let bound = match asked.cmp(&got) {
        std::cmp::Ordering::Equal => return Ok(()),
        std::cmp::Ordering::Greater => "maximum",
        std::cmp::Ordering::Less => "minimum",
    };
    Err(CgroupError::invalid(
        "cpu shares",
        format!("{asked}: the {bound} allowed cpu-shares is {got}"),
    ))
}

fn set_rt_v1(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    let runtime = nz(c.realtime_runtime());
    let mut retry_period = None;
    if let Some(p) = nz(c.realtime_period()) {
        match fs::write(dir, "cpu.rt_period_us", &p.to_string()) {
            Err(e) if is_einval(&e) && runtime.is_some() => retry_period = Some(p),
            r => r?,
        }
    }
    if let Some(r) = runtime {
        fs::write(dir, "cpu.rt_runtime_us", &r.to_string())?;
        if let Some(p) = retry_period {
            fs::write(dir, "cpu.rt_period_us", &p.to_string())?;
        }
    }
    Ok(())
}

fn set_v2(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(i) = c.idle() {
        fs::write(dir, "cpu.idle", &i.to_string())?;
    }
    if let Some(shares) = nz(c.shares()) {
        fs::write(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
    }
    let quota = nz(c.quota());
    let period = nz(c.period());
    let mut retry_burst = None;
    if let Some(b) = c.burst() {
        match fs::write(dir, "cpu.max.burst", &b.to_string()) {
            Err(e) if is_einval(&e) && quota.is_some() => retry_burst = Some(b),
            r => r?,
        }
    }
    if quota.is_some() || period.is_some() {
        let q = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        let p = period.unwrap_or(100_000);
        fs::write(dir, "cpu.max", &format!("{q} {p}"))?;
        if let Some(b) = retry_burst {
            fs::write(dir, "cpu.max.burst", &b.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::log;
    use crate::testutil::{seed, TempDir};
    use oci_spec::runtime::LinuxCpuBuilder;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn weight_formula() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(u64::MAX), 10_000);
    }

    #[test]
    fn v1_values() {
        let t = TempDir::new();
        let d = t.path();
        seed(
            d,
            &[
                ("cpu.shares", ""),
                ("cpu.cfs_period_us", ""),
                ("cpu.cfs_quota_us", ""),
                ("cpu.cfs_burst_us", ""),
                ("cpu.idle", ""),
                ("cpu.rt_period_us", ""),
                ("cpu.rt_runtime_us", ""),
            ],
        );
        let c = LinuxCpuBuilder::default()
            .shares(512u64)
            .quota(50_000)
            .period(100_000u64)
            .burst(1000u64)
            .idle(1)
            .realtime_runtime(950)
            .realtime_period(1000u64)
            .cpus("0-1")
            .build()
            .unwrap();
        validate(&c, false).unwrap();
        log::take(d);
        set(Target::V1(d), &c).unwrap();
        assert_eq!(
            log::take(d),
            pairs(&[
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_burst_us", "1000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpu.idle", "1"),
                ("cpu.rt_period_us", "1000"),
                ("cpu.rt_runtime_us", "950"),
            ])
        );
    }

    #[test]
    fn clamped_shares_are_an_error() {
        check_shares(1024, 1024).unwrap();
        let e = check_shares(1_000_000, 262_144).unwrap_err().to_string();
        assert!(e.contains("maximum allowed cpu-shares is 262144"), "{e}");
        let e = check_shares(1, 2).unwrap_err().to_string();
        assert!(e.contains("minimum allowed cpu-shares is 2"), "{e}");
    }

    #[test]
    fn v2_values() {
        let t = TempDir::new();
        let d = t.path();
        seed(
            d,
            &[
                ("cpu.idle", ""),
                ("cpu.weight", ""),
                ("cpu.max", ""),
                ("cpu.max.burst", ""),
            ],
        );
        let c = LinuxCpuBuilder::default()
            .shares(1024u64)
            .quota(50_000)
            .burst(10u64)
            .idle(0)
            .build()
            .unwrap();
        validate(&c, true).unwrap();
        log::take(d);
        set(Target::V2(d), &c).unwrap();
        assert_eq!(
            log::take(d),
            pairs(&[
                ("cpu.idle", "0"),
                ("cpu.weight", "39"),
                ("cpu.max.burst", "10"),
                ("cpu.max", "50000 100000"),
            ])
        );
        let c = LinuxCpuBuilder::default()
            .quota(-1)
            .period(20_000u64)
            .build()
            .unwrap();
        set(Target::V2(d), &c).unwrap();
        assert_eq!(log::take(d), pairs(&[("cpu.max", "max 20000")]));
    }

    #[test]
    fn v2_refuses_realtime_and_bad_idle() {
        let c = LinuxCpuBuilder::default()
            .realtime_runtime(10)
            .build()
            .unwrap();
        assert!(validate(&c, true)
            .unwrap_err()
            .to_string()
            .contains("realtime"));
        validate(&c, false).unwrap();
        let c = LinuxCpuBuilder::default().idle(7).build().unwrap();
        assert!(validate(&c, false).is_err());
    }
}
