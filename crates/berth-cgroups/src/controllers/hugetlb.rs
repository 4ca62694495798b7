//! The hugetlb controller: one limit per page size, written to the
//! reservation file too where the kernel has one (so a limit holds for
//! reserved-but-unfaulted pages, as runc does).

use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::{fs, CgroupError, Target};

/// "2MB", "1GB", "64KB": a number and a unit, nothing that could name
/// another file.
pub(crate) fn validate(limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    for l in limits {
        let ps = l.page_size();
        let digits = ps.trim_end_matches(['K', 'M', 'G', 'B']);
        let unit = &ps[digits.len()..];
        if digits.is_empty()
            || !digits.chars().all(|c| c.is_ascii_digit())
            || !["KB", "MB", "GB"].contains(&unit)
        {
            return Err(CgroupError::invalid(
                "hugepage pageSize",
                format!("{ps:?} (expected a size like \"2MB\" or \"1GB\")"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn set(t: Target<'_>, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    let (dir, suffix, v2) = match t {
        Target::V1(d) => (d, "limit_in_bytes", false),
        Target::V2(d) => (d, "max", true),
    };
    let mut rsvd = true;
    for l in limits {
        let value = match (l.limit(), v2) {
            (v, true) if v < 0 => "max".to_string(),
            (v, false) if v < 0 => "-1".to_string(),
            (v, _) => v.to_string(),
        };
        let file = format!("hugetlb.{}.{suffix}", l.page_size());
        write_limit(dir, &file, &value, l)?;
        if rsvd {
            let file = format!("hugetlb.{}.rsvd.{suffix}", l.page_size());
            match fs::write(dir, &file, &value) {
                // Kernels before 5.7 have no reservation accounting.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => rsvd = false,
                r => r?,
            }
        }
    }
    Ok(())
}

fn write_limit(
    dir: &Path,
    file: &str,
    value: &str,
    l: &LinuxHugepageLimit,
) -> Result<(), CgroupError> {
    match fs::write(dir, file, value) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(CgroupError::Unsupported {
            resource: format!("hugepage limit {} for {} pages", l.limit(), l.page_size()),
            path: dir.join(file),
            hint: "this page size is not offered by the kernel".into(),
        }),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::log;
    use crate::testutil::{seed, TempDir};
    use oci_spec::runtime::LinuxHugepageLimitBuilder;

    fn hp(ps: &str, limit: i64) -> LinuxHugepageLimit {
        LinuxHugepageLimitBuilder::default()
            .page_size(ps)
            .limit(limit)
            .build()
            .unwrap()
    }

    #[test]
    fn v1_and_v2_files() {
        let t = TempDir::new();
        let d = t.path();
        seed(
            d,
            &[
                ("hugetlb.2MB.limit_in_bytes", ""),
                ("hugetlb.1GB.limit_in_bytes", ""),
                ("hugetlb.2MB.max", ""),
                ("hugetlb.2MB.rsvd.max", ""),
            ],
        );
        let limits = [hp("2MB", 4_194_304), hp("1GB", -1)];
        validate(&limits).unwrap();
        log::take(d);
        set(Target::V1(d), &limits).unwrap();
        let w: Vec<(String, String)> = log::take(d);
        assert_eq!(
            w,
            [
                ("hugetlb.2MB.limit_in_bytes", "4194304"),
                ("hugetlb.1GB.limit_in_bytes", "-1")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        set(Target::V2(d), &limits[..1]).unwrap();
        assert_eq!(
            log::take(d),
            [
                ("hugetlb.2MB.max", "4194304"),
                ("hugetlb.2MB.rsvd.max", "4194304")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let e = set(Target::V2(d), &[hp("16MB", 1)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("hugetlb.16MB.max does not exist"), "{e}");
    }

    #[test]
    fn page_sizes_cannot_name_other_files() {
        for bad in ["../../x", "2MB/../../x", "MB", "2mb", "2", "2MB.rsvd", ""] {
            assert!(validate(&[hp(bad, 1)]).is_err(), "{bad}");
        }
        validate(&[hp("64KB", 1), hp("2MB", 1), hp("1GB", 1)]).unwrap();
    }
}
