//! `/proc/PID/mountinfo` lines (proc(5)), parsed once for the whole project: the
//! cgroup layout, the runtime's rootfs set-up and the engine's mount-point check all
//! read the same format. No syscalls here, only text.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One mountinfo line:
/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Unique id of the mount (may be reused after umount).
    pub mount_id: u32,
    /// Id of the parent mount (its own id for the root of the mount tree).
    pub parent_id: u32,
    /// `st_dev` major of files on this filesystem.
    pub major: u32,
    /// `st_dev` minor.
    pub minor: u32,
    /// The directory of the filesystem that forms the root of this mount (unescaped).
    pub root: PathBuf,
    /// Where it is mounted, relative to the reading process's root (unescaped).
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`), as the kernel wrote them.
    pub options: String,
    /// Zero or more `tag[:value]` fields: `shared:N`, `master:N`, `propagate_from:N`,
    /// `unbindable`.
    pub optional_fields: Vec<String>,
    /// Filesystem type, `type[.subtype]` (unescaped).
    pub fs_type: String,
    /// Filesystem-specific source, such as a device path or `none` (unescaped; bytes
    /// that are not UTF-8 become U+FFFD).
    pub source: String,
    /// Per-superblock options (`rw,memory`), as the kernel wrote them: split at `,`
    /// first, since a value's own commas are escaped.
    pub super_options: String,
}

impl MountInfo {
    /// Parses one line (without its newline). None when it is not a mountinfo line:
    /// too few fields, no `-` separator, or ids that are not numbers.
    pub fn parse(line: &str) -> Option<MountInfo> {
        // The kernel separates fields with one space and escapes spaces inside them.
        let fields: Vec<&str> = line.split(' ').collect();
        let sep = 6 + fields.get(6..)?.iter().position(|f| *f == "-")?;
        let after = fields.get(sep + 1..)?;
        if after.len() < 3 {
            return None;
        }
        let (major, minor) = fields[2].split_once(':')?;
        Some(MountInfo {
            mount_id: fields[0].parse().ok()?,
            parent_id: fields[1].parse().ok()?,
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
            root: unescape_path(fields[3]),
            mount_point: unescape_path(fields[4]),
            options: fields[5].to_string(),
            optional_fields: fields[6..sep].iter().map(|f| f.to_string()).collect(),
            fs_type: unescape_lossy(after[0]),
            source: unescape_lossy(after[1]),
            super_options: after[2].to_string(),
        })
    }
}

/// Undoes mountinfo's octal escapes: the kernel writes space, tab, newline and
/// backslash in paths as `\040`, `\011`, `\012` and `\134`. A backslash not followed by
/// three octal digits (of a value up to 255) stays as it is.
pub fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if let Some(byte) = b.get(i + 1..i + 4).and_then(octal_byte) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn octal_byte(digits: &[u8]) -> Option<u8> {
    digits.iter().try_fold(0u8, |acc, &c| {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        acc.checked_mul(8)?.checked_add(c - b'0')
    })
}

/// [`unescape`] as a path (paths need not be UTF-8).
pub fn unescape_path(field: &str) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(field)))
}

/// [`unescape`] as text.
pub fn unescape_lossy(field: &str) -> String {
    String::from_utf8_lossy(&unescape(field)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    #[test]
    fn parses_the_proc5_example() {
        let m = MountInfo::parse(
            "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
        )
        .expect("a valid line");
        assert_eq!(
            m,
            MountInfo {
                mount_id: 36,
                parent_id: 35,
                major: 98,
                minor: 0,
                root: "/mnt1".into(),
                mount_point: "/mnt2".into(),
                options: "rw,noatime".into(),
                optional_fields: vec!["master:1".into()],
                fs_type: "ext3".into(),
                source: "/dev/root".into(),
                super_options: "rw,errors=continue".into(),
            }
        );
    }

    #[test]
    fn optional_fields_none_or_several() {
        let m = MountInfo::parse("22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw").unwrap();
        assert!(m.optional_fields.is_empty());
        assert_eq!(
            (m.fs_type.as_str(), m.source.as_str()),
            ("ext4", "/dev/sda1")
        );
        let m = MountInfo::parse(
            "40 22 0:35 / /sys/fs/cgroup rw shared:9 master:2 propagate_from:1 unbindable \
             - cgroup2 cgroup2 rw,nsdelegate",
        )
        .unwrap();
        assert_eq!(
            m.optional_fields,
            ["shared:9", "master:2", "propagate_from:1", "unbindable"]
        );
        assert_eq!(m.fs_type, "cgroup2");
        assert_eq!(m.super_options, "rw,nsdelegate");
        // An empty source is still a field.
        let m = MountInfo::parse("50 22 0:40 / /x rw - tmpfs  rw,size=64k").unwrap();
        assert_eq!(
            (m.source.as_str(), m.super_options.as_str()),
            ("", "rw,size=64k")
        );
    }

    #[test]
    fn unescapes_paths_and_source() {
        let m = MountInfo::parse(
            "60 22 0:41 /a\\134b /mnt/with\\040space\\011tab\\012nl rw - fuse.sshfs \
             me@host:/my\\040dir rw",
        )
        .unwrap();
        assert_eq!(m.root, Path::new("/a\\b"));
        assert_eq!(m.mount_point, Path::new("/mnt/with space\ttab\nnl"));
        assert_eq!(m.fs_type, "fuse.sshfs");
        assert_eq!(m.source, "me@host:/my dir");
    }

    #[test]
    fn unescape_leaves_what_is_not_an_escape() {
        assert_eq!(unescape("/plain"), b"/plain");
        assert_eq!(unescape("/a\\040b"), b"/a b");
        assert_eq!(unescape("\\040"), b" ");
        assert_eq!(unescape("/end\\04"), b"/end\\04");
        assert_eq!(unescape("/not\\089"), b"/not\\089");
        // 0o400 does not fit a byte.
        assert_eq!(unescape("/big\\400"), b"/big\\400");
        assert_eq!(unescape("/trailing\\"), b"/trailing\\");
        assert_eq!(unescape("/caf\u{e9}\\040x"), "/caf\u{e9} x".as_bytes());
        // Paths need not be UTF-8.
        assert_eq!(unescape_path("/\\377").as_os_str().as_bytes(), b"/\xff");
        assert_eq!(unescape_lossy("/\\377"), "/\u{fffd}");
    }

    #[test]
    fn malformed_lines_are_none() {
        for line in [
            "",
            "this is not mountinfo",
            // No separator.
            "22 1 8:1 / / rw,relatime ext4 /dev/sda1 rw",
            // Nothing after the separator, or too little.
            "22 1 8:1 / / rw -",
            "22 1 8:1 / / rw - ext4 /dev/sda1",
            // Too few fields before it (the `-` is taken for the options).
            "22 1 8:1 / / - ext4 /dev/sda1 rw",
            // Ids and device numbers that are not numbers.
            "x 1 8:1 / / rw - ext4 /dev/sda1 rw",
            "22 y 8:1 / / rw - ext4 /dev/sda1 rw",
            "22 1 8-1 / / rw - ext4 /dev/sda1 rw",
            "22 1 8:z / / rw - ext4 /dev/sda1 rw",
        ] {
            assert_eq!(MountInfo::parse(line), None, "{line:?}");
        }
    }

    #[test]
    fn this_process_mountinfo_parses() {
        let text = std::fs::read_to_string("/proc/self/mountinfo").expect("procfs");
        let mounts: Vec<MountInfo> = text
            .lines()
            .map(|l| MountInfo::parse(l).unwrap_or_else(|| panic!("{l:?}")))
            .collect();
        assert!(mounts.iter().any(|m| m.mount_point == Path::new("/")));
        assert!(mounts.iter().any(|m| m.fs_type == "proc"));
    }
}
