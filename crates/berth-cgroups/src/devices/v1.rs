//! v1 devices: read `devices.list`, then write only the rules that move the
//! cgroup from there to the target state.

use std::path::Path;

use super::Emulator;
use crate::{fs, CgroupError};

pub(crate) fn set(dir: &Path, target: &Emulator) -> Result<(), CgroupError> {
    let list = fs::read(dir, "devices.list")?;
    let current = Emulator::from_list(&list)
        .map_err(|reason| fs::parse_error(&dir.join("devices.list"), &list, reason))?;
    for rule in current.transition(target) {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        fs::write(dir, file, &rule.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::tests::docker_like;
    use crate::fs::log;
    use crate::testutil::{seed, TempDir};

    #[test]
    fn deny_all_then_allows() {
        let t = TempDir::new();
        let d = t.path();
        seed(
            d,
            &[
                ("devices.list", "a *:* rwm\n"),
                ("devices.allow", ""),
                ("devices.deny", ""),
            ],
        );
        log::take(d);
        set(d, &Emulator::from_oci(&docker_like()).unwrap()).unwrap();
        let w = log::take(d);
        assert_eq!(w[0], ("devices.deny".to_string(), "a *:* rwm".to_string()));
        assert_eq!(w[1], ("devices.allow".to_string(), "c *:* m".to_string()));
        assert_eq!(w.len(), 7);
        assert!(w[1..].iter().all(|(f, _)| f == "devices.allow"));
        seed(d, &[("devices.list", "garbage\n")]);
        let e = set(d, &Emulator::default()).unwrap_err().to_string();
        assert!(e.contains("devices.list"), "{e}");
    }
}
