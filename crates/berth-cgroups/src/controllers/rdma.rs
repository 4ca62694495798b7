//! The rdma controller: `rdma.max` lines "DEVICE hca_handle=N hca_object=M"
//! (same file in v1 and v2).

use std::collections::HashMap;

use oci_spec::runtime::LinuxRdma;

use crate::{fs, CgroupError, Target};

pub(crate) fn validate(r: &HashMap<String, LinuxRdma>) -> Result<(), CgroupError> {
    for dev in r.keys() {
        if dev.is_empty() || dev.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(CgroupError::invalid("rdma device name", format!("{dev:?}")));
        }
    }
    Ok(())
}

/// The rdma.max lines, sorted by device.
pub(crate) fn lines(r: &HashMap<String, LinuxRdma>) -> Vec<String> {
    let mut devs: Vec<&String> = r.keys().collect();
    devs.sort();
    devs.into_iter()
        .filter_map(|dev| {
            let l = &r[dev];
            let mut s = dev.clone();
            if let Some(h) = l.hca_handles() {
                s.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                s.push_str(&format!(" hca_object={o}"));
            }
            (s.len() > dev.len()).then_some(s)
        })
        .collect()
}

pub(crate) fn set(t: Target<'_>, r: &HashMap<String, LinuxRdma>) -> Result<(), CgroupError> {
    let (Target::V1(dir) | Target::V2(dir)) = t;
    for line in lines(r) {
        fs::write(dir, "rdma.max", &line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxRdmaBuilder;

    #[test]
    fn lines_for_each_device() {
        let mut m = HashMap::new();
        m.insert(
            "mlx5_1".to_string(),
            LinuxRdmaBuilder::default()
                .hca_objects(1000u32)
                .build()
                .unwrap(),
        );
        m.insert(
            "mlx5_0".to_string(),
            LinuxRdmaBuilder::default()
                .hca_handles(3u32)
                .hca_objects(10u32)
                .build()
                .unwrap(),
        );
        m.insert(
            "empty".to_string(),
            LinuxRdmaBuilder::default().build().unwrap(),
        );
        validate(&m).unwrap();
        assert_eq!(
            lines(&m),
            [
                "mlx5_0 hca_handle=3 hca_object=10",
                "mlx5_1 hca_object=1000"
            ]
        );
        m.insert(
            "bad dev".to_string(),
            LinuxRdmaBuilder::default().build().unwrap(),
        );
        assert!(validate(&m).is_err());
    }
}
