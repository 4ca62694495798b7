//! The nftables backend: one table of family `inet` (`berth`, or `berth-BRIDGE` for a
//! daemon on another bridge), which [`apply`] replaces whole in one nft transaction
//! (add it, delete it, add it again with its contents, so the delete works whether or
//! not it existed), so the kernel never holds part of an old state and part of a new
//! one; [`remove`] deletes it. [`render`] is the pure part.
//!
//! The batch is built from the `nftables` crate's JSON types; berth pipes it to
//! `nft -j -f -` itself because the crate's helper leaves nft's stderr uncaptured, and
//! an error must quote it. `BERTH_NFT` names another nft program. Every expression
//! berth needs exists in the crate.
//!
//! The chains: `guard` (filter, prerouting, priority raw); `prerouting` and `output`
//! (nat, priority dstnat), which jump to `ports` for a packet to a local address
//! (`fib daddr type local`); `postrouting` (nat, srcnat); `forward` (filter, policy
//! accept). What each does is in the [parent module](super).

use std::borrow::Cow;
use std::ffi::OsString;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

use nftables::batch::Batch;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix, SetItem, CT,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{JumpTarget, Match, NATFamily, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::{
    check, check_table, describe_port, host_ip, network, pipe_to, run_for_stdout,
    specific_ports_first, subnet_text, Family, FirewallError, NetworkRules, PortRule, Result,
    Ruleset,
};

/// Replaces berth's table with `r`, atomically.
pub fn apply(r: &Ruleset) -> Result<()> {
    let doc = render(r)?;
    nft(&format!("replacing table inet {}", r.table), &doc)
}

/// Deletes berth's table `table`; nothing to do when there is none.
pub fn remove(table: &str) -> Result<()> {
    check_table(table, &format!("table inet {table:?}"))?;
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(inet_table(table)));
    batch.delete(NfListObject::Table(inet_table(table)));
    nft(
        &format!("removing table inet {table}"),
        &batch.to_nftables(),
    )
}

const GUARD: &str = "guard";
const PREROUTING: &str = "prerouting";
const OUTPUT: &str = "output";
const PORTS: &str = "ports";
const POSTROUTING: &str = "postrouting";
const FORWARD: &str = "forward";

// The hook priorities nft calls raw, dstnat, srcnat and filter (nft 1.0.6 accepts the
// names only on some hooks; the JSON API wants numbers anyway).
const RAW: i32 = -300;
const DSTNAT: i32 = -100;
const SRCNAT: i32 = 100;
const FILTER: i32 = 0;

/// The nft batch that [`apply`] runs: pure, so it can be checked without root. Port
/// rules on an internal network are left out (Docker publishes nothing there).
pub fn render(r: &Ruleset) -> Result<Nftables<'static>> {
    check_table(&r.table, &format!("table inet {:?}", r.table))?;
    check(r, &format!("table inet {}", r.table))?;
    let mut t = TableBuilder {
        table: r.table.clone(),
        batch: Batch::new(),
    };
    t.batch.add(NfListObject::Table(inet_table(&r.table)));
    t.batch.delete(NfListObject::Table(inet_table(&r.table)));
    t.batch.add(NfListObject::Table(inet_table(&r.table)));
    t.base_chain(GUARD, NfChainType::Filter, NfHook::Prerouting, RAW);
    t.base_chain(PREROUTING, NfChainType::NAT, NfHook::Prerouting, DSTNAT);
    t.base_chain(OUTPUT, NfChainType::NAT, NfHook::Output, DSTNAT);
    t.regular_chain(PORTS);
    t.base_chain(POSTROUTING, NfChainType::NAT, NfHook::Postrouting, SRCNAT);
    t.base_chain(FORWARD, NfChainType::Filter, NfHook::Forward, FILTER);

    if !r.networks.is_empty() {
        t.rule(
            GUARD,
            "nothing from a bridge to the host's loopback",
            vec![
                is(meta(MetaKey::Iifname), bridge_set(&r.networks)),
                is(
                    field("ip", "daddr"),
                    prefix(IpAddr::V4(Ipv4Addr::LOCALHOST), 8),
                ),
                drop(),
            ],
        );
    }
    for chain in [PREROUTING, OUTPUT] {
        t.rule(
            chain,
            "published ports on local addresses",
            vec![
                is(fib_type(FibFlag::Daddr), text("local")),
                Statement::Jump(JumpTarget {
                    target: PORTS.into(),
                }),
            ],
        );
    }

    for p in specific_ports_first(r) {
        t.port(p);
    }

    for n in r.networks.iter().filter(|n| !n.internal) {
        t.postrouting(n);
    }
    t.forward(&r.networks);
    Ok(t.batch.to_nftables())
}

struct TableBuilder {
    table: String,
    batch: Batch<'static>,
}

impl TableBuilder {
    fn base_chain(&mut self, name: &'static str, kind: NfChainType, hook: NfHook, prio: i32) {
        self.batch.add(NfListObject::Chain(Chain {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            name: name.into(),
            _type: Some(kind),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some(NfChainPolicy::Accept),
            ..Chain::default()
        }));
    }

    fn regular_chain(&mut self, name: &'static str) {
        self.batch.add(NfListObject::Chain(Chain {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            name: name.into(),
            ..Chain::default()
        }));
    }

    fn rule(&mut self, chain: &'static str, comment: &str, expr: Vec<Statement<'static>>) {
        self.batch.add(NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            chain: chain.into(),
            expr: expr.into(),
            comment: Some(format!("berth: {comment}").into()),
            ..Rule::default()
        }));
    }

    /// `[ip daddr HOST_IP | meta nfproto ipv4] tcp dport PORT dnat ip to CIP:CPORT`
    fn port(&mut self, p: &PortRule) {
        let family = Family::of(p.container_ip);
        let mut expr = vec![match host_ip(p) {
            Some(ip) => is(family.field("daddr"), text(ip.to_string())),
            None => is(meta(MetaKey::Nfproto), text(family.nfproto())),
        }];
        expr.push(is(
            field(p.proto.as_str(), "dport"),
            Expression::Number(p.host_port.into()),
        ));
        expr.push(Statement::DNAT(Some(NAT {
            addr: Some(text(p.container_ip.to_string())),
            family: Some(family.nat()),
            port: Some(Expression::Number(p.container_port.into())),
            flags: None,
        })));
        self.rule(PORTS, &describe_port(p), expr);
    }

    fn postrouting(&mut self, n: &NetworkRules) {
        let bridge = || text(n.bridge.clone());
        for &(addr, len) in &n.subnets {
            let family = Family::of(addr);
            let subnet = || prefix(addr, len);
            if n.masquerade {
                self.rule(
                    POSTROUTING,
                    &format!("masquerade {} leaving {}", subnet_text(addr, len), n.bridge),
                    vec![
                        is(family.field("saddr"), subnet()),
                        is_not(meta(MetaKey::Oifname), bridge()),
                        masquerade(),
                    ],
                );
            }
            // Not by interface: a bridged hairpin (br_netfilter) has no input interface.
            self.rule(
                POSTROUTING,
                &format!("hairpin on {}", n.bridge),
                vec![
                    is(meta(MetaKey::Oifname), bridge()),
                    is_in(ct_status(), text("dnat")),
                    is(family.field("saddr"), subnet()),
                    is(family.field("daddr"), subnet()),
                    masquerade(),
                ],
            );
        }
        self.rule(
            POSTROUTING,
            &format!("published ports reached from the host into {}", n.bridge),
            vec![
                is(meta(MetaKey::Oifname), bridge()),
                is_in(ct_status(), text("dnat")),
                is(fib_type(FibFlag::Saddr), text("local")),
                masquerade(),
            ],
        );
    }

    fn forward(&mut self, networks: &[NetworkRules]) {
        if networks.is_empty() {
            return;
        }
        for n in networks.iter().filter(|n| n.internal) {
            let bridge = || text(n.bridge.clone());
            self.rule(
                FORWARD,
                &format!("internal network {}: nothing out", n.bridge),
                vec![
                    is(meta(MetaKey::Iifname), bridge()),
                    is_not(meta(MetaKey::Oifname), bridge()),
                    drop(),
                ],
            );
            self.rule(
                FORWARD,
                &format!("internal network {}: nothing in", n.bridge),
                vec![
                    is(meta(MetaKey::Oifname), bridge()),
                    is_not(meta(MetaKey::Iifname), bridge()),
                    drop(),
                ],
            );
        }
        self.rule(
            FORWARD,
            "published ports, from any network",
            vec![is_in(ct_status(), text("dnat")), accept()],
        );
        for n in networks {
            let bridge = || text(n.bridge.clone());
            let (verdict, what) = if n.icc {
                (accept(), "traffic within")
            } else {
                (drop(), "icc off: nothing within")
            };
            self.rule(
                FORWARD,
                &format!("{what} {}", n.bridge),
                vec![
                    is(meta(MetaKey::Iifname), bridge()),
                    is(meta(MetaKey::Oifname), bridge()),
                    verdict,
                ],
            );
        }
        if networks.len() > 1 {
            self.rule(
                FORWARD,
                "isolation between networks",
                vec![
                    is(meta(MetaKey::Iifname), bridge_set(networks)),
                    is(meta(MetaKey::Oifname), bridge_set(networks)),
                    drop(),
                ],
            );
        }
    }
}

impl Family {
    fn field(self, name: &'static str) -> Expression<'static> {
        field(
            match self {
                Family::V4 => "ip",
                Family::V6 => "ip6",
            },
            name,
        )
    }

    fn nfproto(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    fn nat(self) -> NATFamily {
        match self {
            Family::V4 => NATFamily::IP,
            Family::V6 => NATFamily::IP6,
        }
    }
}

fn text(s: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(s.into()))
}

/// `{ "br-a", "br-b" }`: the networks' bridges.
fn bridge_set(networks: &[NetworkRules]) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(
        networks
            .iter()
            .map(|n| SetItem::Element(text(n.bridge.clone())))
            .collect(),
    ))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn field(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

/// `fib saddr|daddr type`
fn fib_type(flag: FibFlag) -> Expression<'static> {
    Expression::Named(NamedExpression::Fib(Fib {
        result: FibResult::Type,
        flags: [flag].into_iter().collect(),
    }))
}

fn ct_status() -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: "status".into(),
        family: None,
        dir: None,
    }))
}

fn prefix(addr: IpAddr, len: u8) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(text(network(addr, len).to_string())),
        len: len.into(),
    }))
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn is(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(left, Operator::EQ, right)
}

fn is_not(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(left, Operator::NEQ, right)
}

/// A flag test (`ct status dnat`).
fn is_in(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(left, Operator::IN, right)
}

fn masquerade() -> Statement<'static> {
    Statement::Masquerade(None)
}

fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

fn drop() -> Statement<'static> {
    Statement::Drop(None)
}

fn inet_table(name: &str) -> Table<'static> {
    Table {
        family: NfFamily::INet,
        name: name.to_owned().into(),
        handle: None,
    }
}

/// The nft program: `BERTH_NFT`, else `nft` from PATH.
fn nft_program() -> OsString {
    std::env::var_os("BERTH_NFT").unwrap_or_else(|| "nft".into())
}

/// Runs one nft transaction.
fn nft(what: &str, doc: &Nftables<'_>) -> Result<()> {
    let program = nft_program();
    let payload = serde_json::to_vec(doc).map_err(|e| FirewallError::Spawn {
        what: what.to_owned(),
        command: format!("{} -j -f -", program.to_string_lossy()),
        source: io::Error::other(e),
    })?;
    pipe_to(what, &program, &["-j", "-f", "-"], &payload)
}

/// Whether nft works here: `nft list tables` succeeds. Else the error saying why.
pub fn usable() -> Result<()> {
    run_for_stdout("looking for nft", &nft_program(), &["list", "tables"]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ip, sample};
    use super::*;
    use serde_json::{json, Value};

    fn rendered(r: &Ruleset) -> Vec<Value> {
        let v = serde_json::to_value(render(r).unwrap()).unwrap();
        v["nftables"].as_array().unwrap().clone()
    }

    /// The `add rule` objects of `chain`, as (comment, expr) pairs.
    fn rules(objs: &[Value], chain: &str) -> Vec<(String, Vec<Value>)> {
        objs.iter()
            .filter_map(|o| o.get("add")?.get("rule"))
            .filter(|r| r["chain"] == chain)
            .map(|r| {
                assert_eq!(r["family"], "inet");
                assert_eq!(r["table"], "berth-unit");
                (
                    r["comment"].as_str().unwrap_or_default().to_owned(),
                    r["expr"].as_array().unwrap().clone(),
                )
            })
            .collect()
    }

    fn mentions(exprs: &[Value], s: &str) -> bool {
        exprs.iter().any(|e| e.to_string().contains(s))
    }

    #[test]
    fn replaces_the_whole_table_in_one_batch() {
        let objs = rendered(&sample());
        let table = json!({"table": {"family": "inet", "name": "berth-unit"}});
        assert_eq!(objs[0], json!({"add": table}));
        assert_eq!(objs[1], json!({"delete": table}));
        assert_eq!(objs[2], json!({"add": table}));
        let chains: Vec<&Value> = objs
            .iter()
            .filter_map(|o| o.get("add")?.get("chain"))
            .collect();
        let base = |name: &str| {
            chains
                .iter()
                .find(|c| c["name"] == name)
                .map(|c| (c["type"].clone(), c["hook"].clone(), c["prio"].clone()))
        };
        assert_eq!(
            base("guard"),
            Some((json!("filter"), json!("prerouting"), json!(-300)))
        );
        assert_eq!(
            base("prerouting"),
            Some((json!("nat"), json!("prerouting"), json!(-100)))
        );
        assert_eq!(
            base("output"),
            Some((json!("nat"), json!("output"), json!(-100)))
        );
        assert_eq!(
            base("postrouting"),
            Some((json!("nat"), json!("postrouting"), json!(100)))
        );
        assert_eq!(
            base("forward"),
            Some((json!("filter"), json!("forward"), json!(0)))
        );
        assert_eq!(base("ports"), Some((Value::Null, Value::Null, Value::Null)));
        // Nothing outside the table.
        for o in &objs[3..] {
            let (_, obj) = o["add"].as_object().unwrap().iter().next().unwrap();
            assert_eq!(obj["table"], "berth-unit", "{o}");
        }
    }

    #[test]
    fn bridges_cannot_reach_the_hosts_loopback() {
        let guard = rules(&rendered(&sample()), "guard");
        assert_eq!(guard.len(), 1);
        assert_eq!(
            guard[0].1,
            vec![
                json!({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": {"set": ["br-web", "br-db"]}}}),
                json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}}}),
                json!({"drop": null}),
            ]
        );
    }

    #[test]
    fn local_addresses_jump_to_the_ports() {
        let objs = rendered(&sample());
        for chain in ["prerouting", "output"] {
            let r = rules(&objs, chain);
            assert_eq!(r.len(), 1, "{chain}");
            assert_eq!(
                r[0].1,
                vec![
                    json!({"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}}),
                    json!({"jump": {"target": "ports"}}),
                ]
            );
        }
    }

    #[test]
    fn one_dnat_per_port_specific_addresses_first() {
        let ports = rules(&rendered(&sample()), "ports");
        // The internal network's port is not published.
        assert_eq!(ports.len(), 3, "{ports:?}");
        assert!(!ports.iter().any(|(_, e)| mentions(e, "172.19.0.2")));

        // 192.0.2.10:5353/udp, the one rule with an address, comes first.
        assert_eq!(
            ports[0].1,
            vec![
                json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "192.0.2.10"}}),
                json!({"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 5353}}),
                json!({"dnat": {"addr": "172.18.0.3", "family": "ip", "port": 53}}),
            ]
        );
        assert_eq!(
            ports[0].0,
            "berth: publish 192.0.2.10:5353/udp to 172.18.0.3:53"
        );
        // Every IPv4 address.
        assert_eq!(
            ports[1].1,
            vec![
                json!({"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}}),
                json!({"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}}),
                json!({"dnat": {"addr": "172.18.0.2", "family": "ip", "port": 80}}),
            ]
        );
        // `::` is every IPv6 address.
        assert_eq!(
            ports[2].1,
            vec![
                json!({"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv6"}}),
                json!({"match": {"op": "==", "left": {"payload": {"protocol": "sctp", "field": "dport"}}, "right": 9999}}),
                json!({"dnat": {"addr": "fd00:18::2", "family": "ip6", "port": 99}}),
            ]
        );
    }

    #[test]
    fn masquerade_and_hairpin_but_not_for_the_internal_network() {
        let post = rules(&rendered(&sample()), "postrouting");
        assert!(!post.iter().any(|(_, e)| mentions(e, "br-db")), "{post:?}");
        let masq = |family: &str, net: &str, len: u8| {
            vec![
                json!({"match": {"op": "==", "left": {"payload": {"protocol": family, "field": "saddr"}}, "right": {"prefix": {"addr": net, "len": len}}}}),
                json!({"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "br-web"}}),
                json!({"masquerade": null}),
            ]
        };
        assert!(post.iter().any(|(_, e)| *e == masq("ip", "172.18.0.0", 16)));
        // Host bits are cleared.
        assert!(post.iter().any(|(_, e)| *e == masq("ip6", "fd00:18::", 64)));
        let hairpin = vec![
            json!({"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "br-web"}}),
            json!({"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}),
            json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "172.18.0.0", "len": 16}}}}),
            json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "172.18.0.0", "len": 16}}}}),
            json!({"masquerade": null}),
        ];
        assert!(post.iter().any(|(_, e)| *e == hairpin), "{post:?}");
        assert!(post
            .iter()
            .any(|(_, e)| mentions(e, r#""flags":["saddr"]"#) && mentions(e, "br-web")));

        // Without masquerade, only what published ports need.
        let mut r = sample();
        r.networks[0].masquerade = false;
        let post = rules(&rendered(&r), "postrouting");
        assert!(
            !post.iter().any(|(_, e)| mentions(e, r#""op":"!=""#)),
            "{post:?}"
        );
        assert_eq!(post.len(), 3);
    }

    #[test]
    fn forward_isolates_networks_and_seals_internal_ones() {
        let fwd = rules(&rendered(&sample()), "forward");
        let comments: Vec<&str> = fwd.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            comments,
            [
                "berth: internal network br-db: nothing out",
                "berth: internal network br-db: nothing in",
                "berth: published ports, from any network",
                "berth: traffic within br-web",
                "berth: icc off: nothing within br-db",
                "berth: isolation between networks",
            ]
        );
        assert_eq!(
            fwd[0].1,
            vec![
                json!({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "br-db"}}),
                json!({"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "br-db"}}),
                json!({"drop": null}),
            ]
        );
        assert_eq!(fwd[4].1.last(), Some(&json!({"drop": null})));
        assert_eq!(fwd[3].1.last(), Some(&json!({"accept": null})));
        let set = json!({"set": ["br-web", "br-db"]});
        assert_eq!(
            fwd[5].1,
            vec![
                json!({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": set}}),
                json!({"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": set}}),
                json!({"drop": null}),
            ]
        );
    }

    #[test]
    fn an_empty_ruleset_is_an_empty_table() {
        let objs = rendered(&Ruleset {
            table: "berth-unit".into(),
            ..Ruleset::default()
        });
        let rule_count = objs
            .iter()
            .filter(|o| o.get("add").and_then(|a| a.get("rule")).is_some())
            .count();
        // Only the two jumps to the (empty) ports chain.
        assert_eq!(rule_count, 2);
    }

    #[test]
    fn bad_input_is_an_error_naming_the_table() {
        let mut r = sample();
        r.ports[1].host_ip = Some(ip("2001:db8::1"));
        let e = render(&r).unwrap_err().to_string();
        assert!(
            e.starts_with("table inet berth-unit: port 5353/udp to 172.18.0.3:53"),
            "{e}"
        );
        assert!(e.contains("2001:db8::1"), "{e}");

        let mut r = sample();
        r.networks[0].subnets.push((ip("10.0.0.0"), 33));
        assert!(render(&r).unwrap_err().to_string().contains("10.0.0.0/33"));

        let mut r = sample();
        r.networks[0].bridge = "a-name-far-too-long".into();
        assert!(render(&r)
            .unwrap_err()
            .to_string()
            .contains("a-name-far-too-long"));

        for bad in ["", "has space", "semi;colon", "x".repeat(65).as_str()] {
            let r = Ruleset {
                table: bad.to_owned(),
                ..Ruleset::default()
            };
            assert!(
                matches!(render(&r), Err(FirewallError::Invalid { .. })),
                "{bad:?}"
            );
        }
        assert!(remove("../x").is_err());
    }

    #[test]
    fn nft_errors_name_the_table_the_command_and_stderr() {
        let e = FirewallError::Failed {
            what: "replacing table inet berth".into(),
            command: "nft -j -f -".into(),
            stderr: "Error: Could not process rule: No such file or directory".into(),
        };
        assert_eq!(
            e.to_string(),
            "replacing table inet berth: `nft -j -f -` failed: Error: Could not process rule: No such file or directory"
        );
    }
}
