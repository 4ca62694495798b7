//! Block I/O: v1 `blkio` (CFQ/BFQ weights, throttle files) and v2 `io`
//! (`io.bfq.weight` when BFQ is the scheduler, else `io.weight` with the
//! weight converted to its 1-10000 range, and `io.max` for throttling).

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::nz;
use crate::{fs, CgroupError, Target};

fn throttles(b: &LinuxBlockIo) -> [(&'static str, &'static str, &[LinuxThrottleDevice]); 4] {
    fn l(v: &Option<Vec<LinuxThrottleDevice>>) -> &[LinuxThrottleDevice] {
        v.as_deref().unwrap_or(&[])
    }
    [
        (
            "blkio.throttle.read_bps_device",
            "rbps",
            l(b.throttle_read_bps_device()),
        ),
        (
            "blkio.throttle.write_bps_device",
            "wbps",
            l(b.throttle_write_bps_device()),
        ),
        (
            "blkio.throttle.read_iops_device",
            "riops",
            l(b.throttle_read_iops_device()),
        ),
        (
            "blkio.throttle.write_iops_device",
            "wiops",
            l(b.throttle_write_iops_device()),
        ),
    ]
}

pub(crate) fn wanted(b: &LinuxBlockIo) -> bool {
    nz(b.weight()).is_some()
        || nz(b.leaf_weight()).is_some()
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || throttles(b).iter().any(|(_, _, l)| !l.is_empty())
}

fn check_dev(major: i64, minor: i64) -> Result<(), CgroupError> {
    if !(0..=u32::MAX as i64).contains(&major) || !(0..=u32::MAX as i64).contains(&minor) {
        return Err(CgroupError::invalid(
            "block device",
            format!("{major}:{minor} is not a device number"),
        ));
    }
    Ok(())
}

pub(crate) fn validate(b: &LinuxBlockIo, v2: bool) -> Result<(), CgroupError> {
    for w in b.weight_device().iter().flatten() {
        check_dev(w.major(), w.minor())?;
        if v2 && nz(w.leaf_weight()).is_some() {
            return Err(CgroupError::invalid(
                "blockIO weightDevice leafWeight",
                "leaf weights do not exist in cgroup v2",
            ));
        }
    }
    for (_, _, list) in throttles(b) {
        for t in list {
            check_dev(t.major(), t.minor())?;
        }
    }
    if v2 && nz(b.leaf_weight()).is_some() {
        return Err(CgroupError::invalid(
            "blockIO leafWeight",
            "leaf weights do not exist in cgroup v2",
        ));
    }
    Ok(())
}

/// blkio weight [10, 1000] to io.weight [1, 10000], as runc converts it.
pub fn blkio_weight_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

pub(crate) fn set(t: Target<'_>, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    match t {
        Target::V1(dir) => set_v1(dir, b),
        Target::V2(dir) => set_v2(dir, b),
    }
}

fn set_v1(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    // CFQ's files, else BFQ's.
    let (weight_file, weight_device_file) = if fs::exists(dir, "blkio.weight") {
        ("blkio.weight", "blkio.weight_device")
    } else if fs::exists(dir, "blkio.bfq.weight") {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    let unsupported = |resource: String, file: &str| CgroupError::Unsupported {
        resource,
        path: dir.join(file),
        hint: "the block I/O scheduler offers no weights (CFQ or BFQ needed)".into(),
    };
    if let Some(w) = nz(b.weight()) {
        if !fs::exists(dir, weight_file) {
            return Err(unsupported(format!("blkio weight {w}"), weight_file));
        }
        fs::write(dir, weight_file, &w.to_string())?;
    }
    if let Some(w) = nz(b.leaf_weight()) {
        if !fs::exists(dir, "blkio.leaf_weight") {
            return Err(unsupported(
                format!("blkio leaf weight {w}"),
                "blkio.leaf_weight",
            ));
        }
        fs::write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = nz(d.weight()) {
            let v = format!("{}:{} {w}", d.major(), d.minor());
            if !fs::exists(dir, weight_device_file) {
                return Err(unsupported(
                    format!("blkio device weight {v:?}"),
                    weight_device_file,
                ));
            }
            fs::write(dir, weight_device_file, &v)?;
        }
        if let Some(w) = nz(d.leaf_weight()) {
            let v = format!("{}:{} {w}", d.major(), d.minor());
            fs::write(dir, "blkio.leaf_weight_device", &v)?;
        }
    }
    for (file, _, list) in throttles(b) {
        for t in list {
            fs::write(
                dir,
                file,
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

fn set_v2(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let bfq = fs::read_opt(dir, "io.bfq.weight")?;
    if let Some(w) = nz(b.weight()) {
        match &bfq {
            Some(_) => fs::write(dir, "io.bfq.weight", &w.to_string())?,
            None => fs::write(dir, "io.weight", &blkio_weight_to_io_weight(w).to_string())?,
        }
    }
    // Old BFQ prints a bare number and has no per-device weights.
    let bfq_per_device = bfq
        .as_deref()
        .is_some_and(|s| s.trim().parse::<i64>().is_err());
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = nz(d.weight()) {
            if bfq_per_device {
                fs::write(
                    dir,
                    "io.bfq.weight",
                    &format!("{}:{} {w}", d.major(), d.minor()),
                )?;
            } else {
                let v = blkio_weight_to_io_weight(w);
                fs::write(
                    dir,
                    "io.weight",
                    &format!("{}:{} {v}", d.major(), d.minor()),
                )?;
            }
        }
    }
    for (_, key, list) in throttles(b) {
        for t in list {
            // v1 drops a rule with rate 0; v2 says so with "max".
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            fs::write(
                dir,
                "io.max",
                &format!("{}:{} {key}={rate}", t.major(), t.minor()),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::log;
    use crate::testutil::{seed, TempDir};
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
    };

    fn td(major: i64, minor: i64, rate: u64) -> LinuxThrottleDevice {
        LinuxThrottleDeviceBuilder::default()
            .major(major)
            .minor(minor)
            .rate(rate)
            .build()
            .unwrap()
    }

    fn rich() -> LinuxBlockIo {
        LinuxBlockIoBuilder::default()
            .weight(500u16)
            .weight_device(vec![LinuxWeightDeviceBuilder::default()
                .major(8)
                .minor(0)
                .weight(300u16)
                .build()
                .unwrap()])
            .throttle_read_bps_device(vec![td(8, 0, 1_048_576), td(8, 16, 0)])
            .throttle_write_bps_device(vec![td(8, 0, 2_097_152)])
            .throttle_read_iops_device(vec![td(8, 0, 100)])
            .throttle_write_iops_device(vec![td(8, 0, 200)])
            .build()
            .unwrap()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn v1_values() {
        let t = TempDir::new();
        let d = t.path();
        seed(
            d,
            &[
                ("blkio.weight", ""),
                ("blkio.weight_device", ""),
                ("blkio.throttle.read_bps_device", ""),
                ("blkio.throttle.write_bps_device", ""),
                ("blkio.throttle.read_iops_device", ""),
                ("blkio.throttle.write_iops_device", ""),
            ],
        );
        let b = rich();
        validate(&b, false).unwrap();
        log::take(d);
        set(Target::V1(d), &b).unwrap();
        assert_eq!(
            log::take(d),
            pairs(&[
                ("blkio.weight", "500"),
                ("blkio.weight_device", "8:0 300"),
                ("blkio.throttle.read_bps_device", "8:0 1048576"),
                ("blkio.throttle.read_bps_device", "8:16 0"),
                ("blkio.throttle.write_bps_device", "8:0 2097152"),
                ("blkio.throttle.read_iops_device", "8:0 100"),
                ("blkio.throttle.write_iops_device", "8:0 200"),
            ])
        );
    }

    #[test]
    fn v1_weight_without_a_weight_file_names_it() {
        // This host's blkio: throttling only, no CFQ/BFQ weight files.
        let t = TempDir::new();
        seed(t.path(), &[("blkio.throttle.read_bps_device", "")]);
        let b = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .build()
            .unwrap();
        let e = set(Target::V1(t.path()), &b).unwrap_err().to_string();
        assert!(
            e.contains("blkio weight 500") && e.contains("/blkio.weight does not exist"),
            "{e}"
        );
        // Throttling alone is fine.
        let b = LinuxBlockIoBuilder::default()
            .throttle_read_bps_device(vec![td(8, 0, 1)])
            .build()
            .unwrap();
        set(Target::V1(t.path()), &b).unwrap();
    }

    #[test]
    fn v2_values_with_and_without_bfq() {
        let t = TempDir::new();
        let d = t.path();
        seed(d, &[("io.weight", "default 100\n"), ("io.max", "")]);
        let b = rich();
        validate(&b, true).unwrap();
        log::take(d);
        set(Target::V2(d), &b).unwrap();
        assert_eq!(
            log::take(d),
            pairs(&[
                ("io.weight", "4950"),
                ("io.weight", "8:0 2930"),
                ("io.max", "8:0 rbps=1048576"),
                ("io.max", "8:16 rbps=max"),
                ("io.max", "8:0 wbps=2097152"),
                ("io.max", "8:0 riops=100"),
                ("io.max", "8:0 wiops=200"),
            ])
        );
        seed(d, &[("io.bfq.weight", "default 100\n")]);
        set(Target::V2(d), &b).unwrap();
        let w = log::take(d);
        assert_eq!(w[0], ("io.bfq.weight".into(), "500".into()));
        assert_eq!(w[1], ("io.bfq.weight".into(), "8:0 300".into()));
    }

    #[test]
    fn conversions_and_bad_input() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(1), 1);
        let b = LinuxBlockIoBuilder::default()
            .leaf_weight(100u16)
            .build()
            .unwrap();
        assert!(validate(&b, true).is_err());
        validate(&b, false).unwrap();
        let b = LinuxBlockIoBuilder::default()
            .throttle_read_bps_device(vec![td(-8, 0, 1)])
            .build()
            .unwrap();
        assert!(validate(&b, false)
            .unwrap_err()
            .to_string()
            .contains("-8:0"));
    }
}
