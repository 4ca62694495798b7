//! The names the resolver answers itself: one table per network, and the lookup
//! through the networks a container sees, its links' aliases first. No I/O.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One container's entry in a network's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Container name, aliases, short id, service names. The first is the name a
    /// reverse (PTR) lookup of the addresses answers with.
    pub names: Vec<String>,
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
}

/// A link of one container on a user-defined network (`--link NAME:ALIAS` there):
/// `alias`, asked by that container alone, answers as `target` does on `network`, as
/// Docker's resolver keeps a link per endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAlias {
    pub network: String,
    pub alias: String,
    pub target: String,
}

/// What a query type asks the table for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    A,
    Aaaa,
    Ptr,
    /// Any other type: answered empty for a local name, forwarded otherwise.
    Other,
}

/// The table's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// Not a name (or address) of any network in view: the upstreams answer it.
    Unknown,
    /// The addresses of the asked family; empty when the name is known but has none
    /// of that family (NOERROR with no answers, as Docker).
    Addrs(Vec<IpAddr>),
    /// The names of an address (PTR), without trailing dot.
    Names(Vec<String>),
}

/// The form names are compared in: lower case, no trailing dot.
pub fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// One network's records, indexed by name.
#[derive(Debug, Default)]
struct Table {
    records: Vec<Record>,
    by_name: HashMap<String, Vec<usize>>,
}

impl Table {
    fn new(mut records: Vec<Record>) -> Table {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in records.iter_mut().enumerate() {
            r.names.retain(|n| !normalize(n).is_empty());
            for n in &r.names {
                let list = by_name.entry(normalize(n)).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
        Table { records, by_name }
    }
}

/// Every network's table, by network id.
#[derive(Debug, Default)]
pub struct Names {
    networks: HashMap<String, Table>,
}

impl Names {
    /// Replaces the whole table of `network`.
    pub fn set(&mut self, network: &str, records: Vec<Record>) {
        self.networks
            .insert(network.to_owned(), Table::new(records));
    }

    pub fn remove(&mut self, network: &str) {
        self.networks.remove(network);
    }

    /// Looks `name` (as asked: any case, trailing dot or not) up in the networks of
    /// `view`: the first network in view order that has addresses of the asked family
    /// for it answers alone, in record order, as Docker's resolver does (a container on
    /// two networks gets a replica set's addresses on one of them, not on both).
    pub fn lookup(&self, view: &[String], name: &str, kind: Kind) -> Local {
        let tables = view.iter().filter_map(|n| self.networks.get(n));
        if kind == Kind::Ptr {
            let Some(ip) = reverse_address(name) else {
                return Local::Unknown;
            };
            let mut names: Vec<String> = Vec::new();
            for r in tables.flat_map(|t| &t.records) {
                let hit = match ip {
                    IpAddr::V4(a) => r.v4 == Some(a),
                    IpAddr::V6(a) => r.v6 == Some(a),
                };
                if let Some(first) = r.names.first().filter(|_| hit) {
                    let first = first.strip_suffix('.').unwrap_or(first);
                    if !names.iter().any(|n| n == first) {
                        names.push(first.to_owned());
                    }
                }
            }
            return if names.is_empty() {
                Local::Unknown
            } else {
                Local::Names(names)
            };
        }
        let name = normalize(name);
        let mut known = false;
        for t in tables {
            let Some(hits) = t.by_name.get(&name) else {
                continue;
            };
            known = true;
            let mut addrs: Vec<IpAddr> = Vec::new();
            for r in hits.iter().filter_map(|&i| t.records.get(i)) {
                let ip = match kind {
                    Kind::A => r.v4.map(IpAddr::V4),
                    Kind::Aaaa => r.v6.map(IpAddr::V6),
                    Kind::Ptr | Kind::Other => None,
                };
                if let Some(ip) = ip.filter(|ip| !addrs.contains(ip)) {
                    addrs.push(ip);
                }
            }
            if !addrs.is_empty() {
                return Local::Addrs(addrs);
            }
        }
        if known {
            Local::Addrs(Vec::new())
        } else {
            Local::Unknown
        }
    }
}

impl Names {
    /// [`Names::lookup`] for a container with `links`, as Docker's resolver: a name
    /// that is one of its link aliases answers as the link's target on the link's
    /// network (the first link with addresses of the asked family wins); failing
    /// that, it is looked up as a name only in the networks where it is not an alias.
    pub fn lookup_linked(
        &self,
        view: &[String],
        links: &[LinkAlias],
        name: &str,
        kind: Kind,
    ) -> Local {
        if kind == Kind::Ptr || links.is_empty() {
            return self.lookup(view, name, kind);
        }
        let wanted = normalize(name);
        let mut aliased: Vec<&String> = Vec::new();
        let mut known = false;
        for l in links {
            if normalize(&l.alias) != wanted || !view.contains(&l.network) {
                continue;
            }
            aliased.push(&l.network);
            match self.lookup(std::slice::from_ref(&l.network), &l.target, kind) {
                Local::Addrs(a) if !a.is_empty() => return Local::Addrs(a),
                Local::Addrs(_) => known = true,
                _ => {}
            }
        }
        if known {
            // The target is there without an address of this family.
            return Local::Addrs(Vec::new());
        }
        let rest: Vec<String> = view
            .iter()
            .filter(|n| !aliased.contains(n))
            .cloned()
            .collect();
        self.lookup(&rest, name, kind)
    }
}

/// The address a reverse name stands for: `d.c.b.a.in-addr.arpa` or the 32 nibbles
/// of `….ip6.arpa`, any case, trailing dot or not. Partial names are not addresses.
pub fn reverse_address(name: &str) -> Option<IpAddr> {
    let name = normalize(name);
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let mut labels = rest.split('.');
        for o in octets.iter_mut().rev() {
            let label = labels.next()?;
            // Decimal only: "010" or "+1" are not how an address is written.
            if label.is_empty() || (label.len() > 1 && label.starts_with('0')) {
                return None;
            }
            if !label.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *o = label.parse().ok()?;
        }
        return labels
            .next()
            .is_none()
            .then_some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let mut bits: u128 = 0;
    let mut count = 0;
    for label in rest.split('.').rev() {
        let &[c] = label.as_bytes() else {
            return None;
        };
        let nibble = char::from(c).to_digit(16)?;
        bits = (bits << 4) | u128::from(nibble);
        count += 1;
    }
    (count == 32).then_some(IpAddr::V6(Ipv6Addr::from(bits)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(names: &[&str], v4: Option<&str>, v6: Option<&str>) -> Record {
        Record {
            names: names.iter().map(|n| n.to_string()).collect(),
            v4: v4.map(|a| a.parse().unwrap()),
            v6: v6.map(|a| a.parse().unwrap()),
        }
    }

    fn view(v: &[&str]) -> Vec<String> {
        v.iter().map(|n| n.to_string()).collect()
    }

    fn addrs(v: &[&str]) -> Local {
        Local::Addrs(v.iter().map(|a| a.parse().unwrap()).collect())
    }

    fn names() -> Names {
        let mut n = Names::default();
        n.set(
            "front",
            vec![
                rec(&["web", "www", "0123456789ab"], Some("10.1.0.2"), None),
                rec(&["db"], Some("10.1.0.3"), Some("fd00::3")),
            ],
        );
        n.set(
            "back",
            vec![
                rec(&["db", "Primary"], Some("10.2.0.3"), Some("fd01::3")),
                rec(&["cache"], Some("10.2.0.4"), None),
            ],
        );
        n
    }

    #[test]
    fn names_are_case_insensitive_with_or_without_trailing_dot() {
        let n = names();
        let v = view(&["front"]);
        for q in ["web", "WEB", "Web.", "www", "wWw.", "0123456789AB"] {
            assert_eq!(n.lookup(&v, q, Kind::A), addrs(&["10.1.0.2"]), "{q}");
        }
        let v = view(&["back"]);
        assert_eq!(n.lookup(&v, "primary.", Kind::A), addrs(&["10.2.0.3"]));
        assert_eq!(n.lookup(&v, "web", Kind::A), Local::Unknown);
        assert_eq!(n.lookup(&v, "", Kind::A), Local::Unknown);
        assert_eq!(n.lookup(&v, ".", Kind::A), Local::Unknown);
    }

    #[test]
    fn a_name_on_several_networks_answers_from_the_first_that_has_it() {
        let mut n = names();
        // Replicas of a service: every one of its addresses on the first network.
        n.set(
            "front",
            vec![
                rec(&["app"], Some("10.1.0.5"), None),
                rec(&["app"], Some("10.1.0.6"), Some("fd00::6")),
                rec(&["db"], Some("10.1.0.3"), Some("fd00::3")),
            ],
        );
        n.set(
            "back",
            vec![
                rec(&["app"], Some("10.2.0.5"), Some("fd01::5")),
                rec(&["app"], Some("10.2.0.6"), Some("fd01::6")),
                rec(&["db"], Some("10.2.0.3"), Some("fd01::3")),
            ],
        );
        let v = view(&["front", "back"]);
        assert_eq!(
            n.lookup(&v, "app", Kind::A),
            addrs(&["10.1.0.5", "10.1.0.6"])
        );
        assert_eq!(n.lookup(&v, "DB.", Kind::Aaaa), addrs(&["fd00::3"]));
        assert_eq!(
            n.lookup(&view(&["back", "front"]), "app", Kind::A),
            addrs(&["10.2.0.5", "10.2.0.6"])
        );
        // A network where the name has no address of the family passes the question on.
        n.set("front", vec![rec(&["db"], Some("10.1.0.3"), None)]);
        assert_eq!(n.lookup(&v, "db", Kind::Aaaa), addrs(&["fd01::3"]));
        // A view naming a network twice, or one that has no table, changes nothing.
        let v = view(&["gone", "front", "front"]);
        assert_eq!(n.lookup(&v, "db", Kind::A), addrs(&["10.1.0.3"]));
    }

    #[test]
    fn only_the_networks_in_view_answer() {
        let n = names();
        assert_eq!(
            n.lookup(&view(&["front"]), "cache", Kind::A),
            Local::Unknown
        );
        assert_eq!(
            n.lookup(&view(&["back"]), "cache", Kind::A),
            addrs(&["10.2.0.4"])
        );
        assert_eq!(n.lookup(&[], "web", Kind::A), Local::Unknown);
    }

    #[test]
    fn a_known_name_without_the_family_is_empty_not_unknown() {
        let n = names();
        let v = view(&["front"]);
        assert_eq!(n.lookup(&v, "web", Kind::Aaaa), Local::Addrs(vec![]));
        assert_eq!(n.lookup(&v, "web", Kind::Other), Local::Addrs(vec![]));
        assert_eq!(n.lookup(&v, "nope", Kind::Other), Local::Unknown);
    }

    #[test]
    fn replacing_and_removing_tables() {
        let mut n = names();
        let v = view(&["front"]);
        n.set("front", vec![rec(&["web"], Some("10.1.0.9"), None)]);
        assert_eq!(n.lookup(&v, "web", Kind::A), addrs(&["10.1.0.9"]));
        assert_eq!(n.lookup(&v, "www", Kind::A), Local::Unknown);
        n.remove("front");
        assert_eq!(n.lookup(&v, "web", Kind::A), Local::Unknown);
        // Empty names never match the root.
        n.set("front", vec![rec(&["", "."], Some("10.1.0.9"), None)]);
        assert_eq!(n.lookup(&v, ".", Kind::A), Local::Unknown);
    }

    fn link(network: &str, alias: &str, target: &str) -> LinkAlias {
        LinkAlias {
            network: network.into(),
            alias: alias.into(),
            target: target.into(),
        }
    }

    #[test]
    fn link_aliases_answer_as_their_target_on_their_network() {
        let n = names();
        let v = view(&["front", "back"]);
        let links = [
            link("back", "store", "primary"),
            link("front", "site", "web"),
        ];
        assert_eq!(
            n.lookup_linked(&v, &links, "STORE.", Kind::A),
            addrs(&["10.2.0.3"])
        );
        assert_eq!(
            n.lookup_linked(&v, &links, "store", Kind::Aaaa),
            addrs(&["fd01::3"])
        );
        assert_eq!(
            n.lookup_linked(&v, &links, "site", Kind::A),
            addrs(&["10.1.0.2"])
        );
        // The target has no address of that family: known, empty (NOERROR).
        assert_eq!(
            n.lookup_linked(&v, &links, "site", Kind::Aaaa),
            Local::Addrs(vec![])
        );
        // Other names as before (from the first network that has them); without
        // links, aliases are unknown.
        assert_eq!(
            n.lookup_linked(&v, &links, "db", Kind::A),
            addrs(&["10.1.0.3"])
        );
        assert_eq!(n.lookup_linked(&v, &[], "store", Kind::A), Local::Unknown);
        assert_eq!(n.lookup(&v, "store", Kind::A), Local::Unknown);
        // A link on a network out of view, or whose target is not there, answers
        // nothing of its own.
        let gone = [
            link("back", "site", "nobody"),
            link("elsewhere", "x", "web"),
        ];
        assert_eq!(n.lookup_linked(&v, &gone, "x", Kind::A), Local::Unknown);
        assert_eq!(n.lookup_linked(&v, &gone, "site", Kind::A), Local::Unknown);
        // An alias shadows the same name on its own network only: "db" linked to the
        // cache on "back" answers the cache there, not the "db" records.
        let shadow = [link("back", "db", "cache")];
        assert_eq!(
            n.lookup_linked(&v, &shadow, "db", Kind::A),
            addrs(&["10.2.0.4"])
        );
        let stale = [link("back", "db", "nobody")];
        assert_eq!(
            n.lookup_linked(&v, &stale, "db", Kind::A),
            addrs(&["10.1.0.3"])
        );
        // Reverse lookups are not changed by links.
        assert_eq!(
            n.lookup_linked(&v, &links, "4.0.2.10.in-addr.arpa", Kind::Ptr),
            Local::Names(vec!["cache".into()])
        );
    }

    #[test]
    fn reverse_lookups() {
        let n = names();
        let v = view(&["front", "back"]);
        assert_eq!(
            n.lookup(&v, "2.0.1.10.in-addr.arpa.", Kind::Ptr),
            Local::Names(vec!["web".into()])
        );
        assert_eq!(
            n.lookup(&v, "3.0.2.10.IN-ADDR.ARPA", Kind::Ptr),
            Local::Names(vec!["db".into()])
        );
        let six = "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.d.f.ip6.arpa.";
        assert_eq!(
            n.lookup(&v, six, Kind::Ptr),
            Local::Names(vec!["db".into()])
        );
        // Out of view, unknown, or not an address: the upstreams answer.
        assert_eq!(
            n.lookup(&view(&["back"]), "2.0.1.10.in-addr.arpa", Kind::Ptr),
            Local::Unknown
        );
        assert_eq!(
            n.lookup(&v, "9.0.1.10.in-addr.arpa", Kind::Ptr),
            Local::Unknown
        );
        assert_eq!(n.lookup(&v, "web", Kind::Ptr), Local::Unknown);
    }

    #[test]
    fn reverse_names() {
        let a = |s: &str| reverse_address(s);
        assert_eq!(a("4.3.2.1.in-addr.arpa"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(a("0.0.0.0.in-addr.arpa."), Some("0.0.0.0".parse().unwrap()));
        for bad in [
            "3.2.1.in-addr.arpa",
            "5.4.3.2.1.in-addr.arpa",
            "256.3.2.1.in-addr.arpa",
            "04.3.2.1.in-addr.arpa",
            "+4.3.2.1.in-addr.arpa",
            "4..2.1.in-addr.arpa",
            "in-addr.arpa",
            "1.ip6.arpa",
            "example.org",
        ] {
            assert_eq!(a(bad), None, "{bad}");
        }
        let six = format!("{}8.b.d.0.1.0.0.2.ip6.arpa", "1.0.".repeat(12));
        assert_eq!(
            a(&six),
            Some("2001:db8:101:101:101:101:101:101".parse().unwrap())
        );
        assert_eq!(a(&six.replace("8.b.d", "8.bd")), None);
    }
}
