//! Device access rules. The OCI list is ordered, like writes to v1's
//! `devices.allow`/`devices.deny`: a type-`a` rule resets everything to
//! "allow all" or "deny all", and later rules punch exceptions. [`Emulator`]
//! replays that list the way the kernel would, giving one clean state: the
//! default and a set of exceptions. From it come the minimal v1 writes that
//! move a cgroup from its current rules to the target ones (without a
//! window where everything is denied), and the cgroup v2 eBPF program.

use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::CgroupError;

pub mod program;
pub(crate) mod v1;
pub(crate) mod v2;

/// A device type in a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DevType {
    /// `b`
    Block,
    /// `c` (and OCI's `u`, unbuffered character devices)
    Char,
    /// `a`: every device
    All,
}

impl DevType {
    fn letter(self) -> char {
        match self {
            DevType::Block => 'b',
            DevType::Char => 'c',
            DevType::All => 'a',
        }
    }
}

/// Access bits, with the values the BPF device context uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access(pub u8);

impl Access {
    pub const MKNOD: Access = Access(1);
    pub const READ: Access = Access(2);
    pub const WRITE: Access = Access(4);
    pub const ALL: Access = Access(7);

    /// Parses "rwm" letters; empty means all (as an absent OCI access does).
    pub fn parse(s: &str) -> Option<Access> {
        if s.is_empty() {
            return Some(Access::ALL);
        }
        let mut a = 0;
        for c in s.chars() {
            a |= match c {
                'r' => Access::READ.0,
                'w' => Access::WRITE.0,
                'm' => Access::MKNOD.0,
                _ => return None,
            };
        }
        Some(Access(a))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    fn union(self, o: Access) -> Access {
        Access(self.0 | o.0)
    }
    fn minus(self, o: Access) -> Access {
        Access(self.0 & !o.0)
    }
    fn intersects(self, o: Access) -> bool {
        self.0 & o.0 != 0
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [
            (Access::READ, 'r'),
            (Access::WRITE, 'w'),
            (Access::MKNOD, 'm'),
        ] {
            if self.intersects(bit) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Which devices a rule covers (`None` is the `*` wildcard).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DevMatch {
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub typ: DevType,
}

/// One rule: allow or deny `access` to the devices `dev` matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub dev: DevMatch,
    pub access: Access,
}

impl Rule {
    /// From an OCI rule; rejects what the kernel could never take.
    pub fn from_oci(d: &LinuxDeviceCgroup) -> Result<Rule, CgroupError> {
        let bad = |reason: String| CgroupError::invalid(format!("device rule \"{d}\""), reason);
        let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => DevType::All,
            LinuxDeviceType::C | LinuxDeviceType::U => DevType::Char,
            LinuxDeviceType::B => DevType::Block,
            LinuxDeviceType::P => return Err(bad("FIFOs are not device-cgroup controlled".into())),
        };
        let num = |v: Option<i64>, what: &str| -> Result<Option<u32>, CgroupError> {
            match v {
                None | Some(-1) => Ok(None),
                Some(n) => u32::try_from(n)
                    .map(Some)
                    .map_err(|_| bad(format!("{what} {n} is out of range"))),
            }
        };
        let access = d.access().as_deref().unwrap_or("");
        let access = Access::parse(access)
            .ok_or_else(|| bad(format!("access {access:?} may only contain r, w and m")))?;
        Ok(Rule {
            allow: d.allow(),
            dev: DevMatch {
                major: num(d.major(), "major")?,
                minor: num(d.minor(), "minor")?,
                typ,
            },
            access,
        })
    }
}

impl fmt::Display for Rule {
    /// The devices.allow/devices.deny spelling: `c 1:3 rwm`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.dev.typ.letter(),
            n(self.dev.major),
            n(self.dev.minor),
            self.access
        )
    }
}

/// Exceptions to an emulator's default, kept in the order the rules created them: the
/// kernel lists v1 exceptions in insertion order, and the OCI device list is ordered
/// (runtime-tools checks that devices.list starts with the config's rules, in order).
#[derive(Clone, Debug, Default)]
pub struct Exceptions(Vec<(DevMatch, Access)>);

impl Exceptions {
    pub fn get(&self, d: &DevMatch) -> Option<&Access> {
        self.0.iter().find(|(k, _)| k == d).map(|(_, a)| a)
    }
    pub fn get_mut(&mut self, d: &DevMatch) -> Option<&mut Access> {
        self.0.iter_mut().find(|(k, _)| k == d).map(|(_, a)| a)
    }
    pub fn entry_or_default(&mut self, d: DevMatch) -> &mut Access {
        let i = match self.0.iter().position(|(k, _)| *k == d) {
            Some(i) => i,
            None => {
                self.0.push((d, Access::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }
    pub fn remove(&mut self, d: &DevMatch) {
        self.0.retain(|(k, _)| k != d);
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&DevMatch, &Access)> {
        self.0.iter().map(|(k, a)| (k, a))
    }
}

impl<'a> IntoIterator for &'a Exceptions {
    type Item = (&'a DevMatch, &'a Access);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (DevMatch, Access)>,
        fn(&'a (DevMatch, Access)) -> (&'a DevMatch, &'a Access),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, a)| (k, a))
    }
}

/// Equal when they hold the same exceptions, whatever their order.
impl PartialEq for Exceptions {
    fn eq(&self, o: &Exceptions) -> bool {
        self.len() == o.len() && self.iter().all(|(k, a)| o.get(k) == Some(a))
    }
}

impl Eq for Exceptions {}

/// The state a v1 devices cgroup would reach after a list of rules: a
/// default and exceptions to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Emulator {
    /// true: everything allowed but the exceptions (a "blacklist").
    pub default_allow: bool,
    /// Exceptions, with the access bits each one carves out.
    pub exceptions: Exceptions,
}

impl Emulator {
    /// Replays OCI rules, starting from "deny all" (runc's start too).
    pub fn from_oci(rules: &[LinuxDeviceCgroup]) -> Result<Emulator, CgroupError> {
        let mut e = Emulator::default();
        for r in rules {
            e.apply(Rule::from_oci(r)?)?;
        }
        Ok(e)
    }

    /// Reads v1's devices.list: the allowed set ("a *:* rwm" means allow all;
    /// a blacklist's exceptions are not listed).
    pub fn from_list(list: &str) -> Result<Emulator, String> {
        let mut e = Emulator::default();
        for line in list.lines().filter(|l| !l.trim().is_empty()) {
            let rule = parse_list_line(line).ok_or_else(|| format!("malformed rule {line:?}"))?;
            e.apply(rule).map_err(|err| err.to_string())?;
        }
        Ok(e)
    }

    /// Applies one rule as the kernel would.
    pub fn apply(&mut self, r: Rule) -> Result<(), CgroupError> {
        if r.dev.typ == DevType::All {
            *self = Emulator {
                default_allow: r.allow,
                exceptions: Exceptions::default(),
            };
            return Ok(());
        }
        if r.allow == self.default_allow {
            self.remove(r)
        } else {
            let e = self.exceptions.entry_or_default(r.dev);
            *e = e.union(r.access);
            Ok(())
        }
    }

    fn remove(&mut self, r: Rule) -> Result<(), CgroupError> {
        let wild = [
            DevMatch {
                major: None,
                ..r.dev
            },
            DevMatch {
                minor: None,
                ..r.dev
            },
            DevMatch {
                major: None,
                minor: None,
                ..r.dev
            },
        ];
        for w in wild {
            if w == r.dev {
                continue;
            }
            if let Some(a) = self.exceptions.get(&w) {
                if a.intersects(r.access) {
                    let existing = Rule {
                        allow: !self.default_allow,
                        dev: w,
                        access: *a,
                    };
                    return Err(CgroupError::invalid(
                        format!("device rule \"{r}\""),
                        format!("cannot punch a hole in the earlier wildcard rule \"{existing}\" (the kernel cannot express it)"),
                    ));
                }
            }
        }
        if let Some(a) = self.exceptions.get_mut(&r.dev) {
            *a = a.minus(r.access);
            if a.is_empty() {
                self.exceptions.remove(&r.dev);
            }
        }
        Ok(())
    }

    /// The rules that take a v1 cgroup from `self` to `target`: a reset when
    /// the default changes (or when `self` is a blacklist, whose exceptions
    /// devices.list does not show), then dropped access, then gained access.
    pub fn transition(&self, target: &Emulator) -> Vec<Rule> {
        let mut out = Vec::new();
        let mut old = &self.exceptions;
        let empty = Exceptions::default();
        if self.default_allow || self.default_allow != target.default_allow {
            out.push(Rule {
                allow: target.default_allow,
                dev: DevMatch {
                    major: None,
                    minor: None,
                    typ: DevType::All,
                },
                access: Access::ALL,
            });
            old = &empty;
        }
        for (dev, a) in old {
            let dropped = a.minus(target.exceptions.get(dev).copied().unwrap_or_default());
            if !dropped.is_empty() {
                out.push(Rule {
                    allow: target.default_allow,
                    dev: *dev,
                    access: dropped,
                });
            }
        }
        for (dev, a) in &target.exceptions {
            let gained = a.minus(old.get(dev).copied().unwrap_or_default());
            if !gained.is_empty() {
                out.push(Rule {
                    allow: !target.default_allow,
                    dev: *dev,
                    access: gained,
                });
            }
        }
        out
    }

    /// Whether an access is allowed: what the kernel (v1) and our eBPF
    /// program (v2) decide. Allow exceptions must cover the whole request;
    /// deny exceptions bite on any overlap.
    pub fn allows(&self, typ: DevType, major: u32, minor: u32, access: Access) -> bool {
        for (dev, a) in &self.exceptions {
            let matches = dev.typ == typ
                && (dev.major.is_none() || dev.major == Some(major))
                && (dev.minor.is_none() || dev.minor == Some(minor));
            if !matches {
                continue;
            }
            let hit = if self.default_allow {
                a.intersects(access)
            } else {
                access.minus(*a).is_empty()
            };
            if hit {
                return !self.default_allow;
            }
        }
        self.default_allow
    }
}

fn parse_list_line(line: &str) -> Option<Rule> {
    let mut it = line.split_whitespace();
    let (t, mm, a) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let typ = match t {
        "a" => DevType::All,
        "c" => DevType::Char,
        "b" => DevType::Block,
        _ => return None,
    };
    let (ma, mi) = mm.split_once(':')?;
    let n = |s: &str| -> Option<Option<u32>> {
        if s == "*" {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    let access = Access::parse(a).filter(|a| !a.is_empty())?;
    Some(Rule {
        allow: true,
        dev: DevMatch {
            major: n(ma)?,
            minor: n(mi)?,
            typ,
        },
        access,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    pub(crate) fn oci(
        allow: bool,
        t: &str,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access(access);
        b = b.typ(match t {
            "a" => LinuxDeviceType::A,
            "b" => LinuxDeviceType::B,
            "c" => LinuxDeviceType::C,
            "u" => LinuxDeviceType::U,
            _ => LinuxDeviceType::P,
        });
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    /// Docker's defaults, roughly: deny all, mknod anything, the usual nodes.
    pub(crate) fn docker_like() -> Vec<LinuxDeviceCgroup> {
        vec![
            oci(false, "a", None, None, "rwm"),
            oci(true, "c", None, None, "m"),
            oci(true, "b", None, None, "m"),
            oci(true, "c", Some(1), Some(3), "rwm"),
            oci(true, "c", Some(1), Some(5), "rwm"),
            oci(true, "c", Some(136), None, "rwm"),
            oci(true, "c", Some(5), Some(2), "rw"),
            oci(false, "c", Some(1), Some(5), "w"),
        ]
    }

    #[test]
    fn replays_an_ordered_list() {
        let e = Emulator::from_oci(&docker_like()).unwrap();
        assert!(!e.default_allow);
        let r = |t, ma, mi, a| e.allows(t, ma, mi, Access::parse(a).unwrap());
        assert!(r(DevType::Char, 1, 3, "rw"));
        assert!(r(DevType::Char, 1, 5, "r"));
        assert!(!r(DevType::Char, 1, 5, "w"), "the later deny removes write");
        assert!(!r(DevType::Char, 1, 5, "rw"));
        assert!(r(DevType::Char, 136, 7, "rw"));
        assert!(r(DevType::Block, 8, 0, "m"));
        assert!(!r(DevType::Block, 8, 0, "r"));
        assert!(r(DevType::Char, 5, 2, "m"), "c *:* m covers it");
        assert!(
            !r(DevType::Char, 5, 2, "rwm"),
            "no single rule covers rwm, as in the kernel"
        );
        assert!(r(DevType::Char, 4, 1, "m"));
        assert!(!r(DevType::Char, 4, 1, "rw"));
    }

    #[test]
    fn a_rule_resets_and_blacklists_use_overlap() {
        let e = Emulator::from_oci(&[
            oci(false, "c", Some(1), Some(3), "r"), // wiped by the reset below
            oci(true, "a", None, None, "rwm"),
            oci(false, "c", Some(1), Some(3), "w"),
        ])
        .unwrap();
        assert!(e.default_allow);
        assert_eq!(e.exceptions.len(), 1);
        assert!(e.allows(DevType::Char, 1, 3, Access::READ));
        assert!(!e.allows(DevType::Char, 1, 3, Access::WRITE));
        // O_RDWR asks for both: the deny on write must still bite.
        assert!(!e.allows(
            DevType::Char,
            1,
            3,
            Access(Access::READ.0 | Access::WRITE.0)
        ));
        assert!(e.allows(DevType::Block, 1, 3, Access::WRITE));
    }

    #[test]
    fn no_holes_in_wildcards() {
        let e = Emulator::from_oci(&[
            oci(false, "a", None, None, "rwm"),
            oci(true, "c", None, None, "rwm"),
            oci(false, "c", Some(1), Some(3), "r"),
        ]);
        assert!(e.unwrap_err().to_string().contains("cannot punch a hole"));
    }

    #[test]
    fn bad_rules() {
        assert!(Rule::from_oci(&oci(true, "p", None, None, "rwm")).is_err());
        assert!(Rule::from_oci(&oci(true, "c", Some(1), Some(3), "rwx")).is_err());
        assert!(Rule::from_oci(&oci(true, "c", Some(-7), Some(3), "r")).is_err());
        assert!(Rule::from_oci(&oci(true, "c", Some(1 << 40), Some(3), "r")).is_err());
        let r = Rule::from_oci(&oci(true, "u", Some(-1), Some(3), "")).unwrap();
        assert_eq!(r.to_string(), "c *:3 rwm");
    }

    #[test]
    fn transition_from_allow_all_to_docker_like() {
        // Exceptions keep the order of the rules that made them, as the kernel lists them.
        let current = Emulator::from_list("a *:* rwm\n").unwrap();
        let target = Emulator::from_oci(&docker_like()).unwrap();
        let t: Vec<String> = current
            .transition(&target)
            .iter()
            .map(|r| format!("{} {r}", if r.allow { "allow" } else { "deny" }))
            .collect();
        assert_eq!(
            t,
            [
                "deny a *:* rwm",
                "allow c *:* m",
                "allow b *:* m",
                "allow c 1:3 rwm",
                "allow c 1:5 rm",
                "allow c 136:* rwm",
                "allow c 5:2 rw"
            ]
        );
        // Already there: nothing to write.
        let list = "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rm\nc 5:2 rw\nc 136:* rwm\n";
        let now = Emulator::from_list(list).unwrap();
        assert_eq!(now, target);
        assert!(now.transition(&target).is_empty());
        // Narrowing: only the difference is written, no deny-all window.
        let narrower = Emulator::from_oci(&[
            oci(false, "a", None, None, "rwm"),
            oci(true, "c", Some(1), Some(3), "r"),
        ])
        .unwrap();
        let t: Vec<String> = now
            .transition(&narrower)
            .iter()
            .map(|r| format!("{} {r}", r.allow))
            .collect();
        assert_eq!(
            t,
            [
                "false c *:* m",
                "false b *:* m",
                "false c 1:3 wm",
                "false c 1:5 rm",
                "false c 5:2 rw",
                "false c 136:* rwm"
            ]
        );
        assert!(Emulator::from_list("x 1:2 r\n").is_err());
    }
}
