//! Device cgroup rules (`--device-cgroup-rule`, compose's `device_cgroup_rules`):
//! dockerd's grammar, read the same way by the CLI side and the daemon.

/// `TYPE MAJOR:MINOR ACCESS`: `c 1:3 mr`, `a *:* rwm`, `b 8:* r`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCgroupRule {
    /// `a` (all), `b` (block) or `c` (character).
    pub kind: char,
    /// `None` for `*`.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// One to three of `r`, `w`, `m`.
    pub access: String,
}

/// What a malformed rule's error says after naming it.
pub const DEVICE_CGROUP_RULE_FORM: &str = "expected \"<a|b|c> <major|*>:<minor|*> <rwm>\"";

impl DeviceCgroupRule {
    /// Reads one rule; the error is [`DEVICE_CGROUP_RULE_FORM`].
    pub fn parse(rule: &str) -> Result<Self, &'static str> {
        let parts: Vec<&str> = rule.split_whitespace().collect();
        let [kind, nums, access] = parts[..] else {
            return Err(DEVICE_CGROUP_RULE_FORM);
        };
        let kind = match kind {
            "a" => 'a',
            "b" => 'b',
            "c" => 'c',
            _ => return Err(DEVICE_CGROUP_RULE_FORM),
        };
        let (major, minor) = nums.split_once(':').ok_or(DEVICE_CGROUP_RULE_FORM)?;
        let num = |s: &str| match s {
            "*" => Ok(None),
            _ => s
                .parse::<u32>()
                .map(Some)
                .map_err(|_| DEVICE_CGROUP_RULE_FORM),
        };
        if access.is_empty()
            || access.len() > 3
            || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
        {
            return Err(DEVICE_CGROUP_RULE_FORM);
        }
        Ok(Self {
            kind,
            major: num(major)?,
            minor: num(minor)?,
            access: access.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_by_dockerds_grammar() {
        assert_eq!(
            DeviceCgroupRule::parse("c 1:3 mr"),
            Ok(DeviceCgroupRule {
                kind: 'c',
                major: Some(1),
                minor: Some(3),
                access: "mr".into()
            })
        );
        let all = DeviceCgroupRule::parse("a *:* rwm").unwrap();
        assert_eq!((all.kind, all.major, all.minor), ('a', None, None));
        for bad in [
            "c 1:3 rwx",
            "x 1:3 r",
            "c 1 r",
            "c a:3 r",
            "c 1:3",
            "c 1:3 r w",
            "",
        ] {
            assert_eq!(
                DeviceCgroupRule::parse(bad),
                Err(DEVICE_CGROUP_RULE_FORM),
                "{bad}"
            );
        }
    }
}
