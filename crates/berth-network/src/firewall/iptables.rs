//! The iptables backend, for hosts without a working nft (or by `--firewall-backend
//! iptables`): the same [`Ruleset`] as chains berth owns in iptables' and ip6tables'
//! `raw`, `nat` and `filter` tables, each reached by one jump (comment `berth`) from
//! the top of a built-in chain:
//!
//! | chain | table | jumped to from | holds |
//! |---|---|---|---|
//! | `BERTH-GUARD` | raw (IPv4 only) | PREROUTING | the guard for route_localnet |
//! | `BERTH-PRE`, `BERTH-OUT` | nat | PREROUTING, OUTPUT | to `BERTH-PORTS` for a local address (`-m addrtype --dst-type LOCAL`) |
//! | `BERTH-PORTS` | nat | | one DNAT per published port |
//! | `BERTH-POST` | nat | POSTROUTING | masquerade, hairpin |
//! | `BERTH-FWD` | filter | FORWARD | internal networks, published ports, icc, isolation (through `BERTH-ISO`) |
//!
//! A daemon whose nftables table is `berth-X` has chains named `BERTH-PRE-X` and so on:
//! iptables takes chain names of up to 28 characters, hence the short names.
//!
//! [`apply`] pipes each family's rules to `iptables-restore -w --noflush` (and
//! `ip6tables-restore`): per table, `:CHAIN - [0:0]` makes each chain (or, with
//! `--noflush`, empties it), `-F` empties it again for good measure, the rules follow,
//! and `COMMIT` replaces the table's contents in one step, so the kernel never holds
//! part of an old state and part of a new one. Then each jump is checked with `-C` and
//! inserted when missing. [`remove`] finds berth's chains and every rule jumping to
//! them in `iptables-save`'s listing and, one transaction per table, deletes those
//! rules and flushes and deletes the chains; nothing else is touched. [`render`] and
//! [`removal`] are the pure parts.
//!
//! Where the nftables rendering has a set of bridges, this one has a rule per bridge,
//! and isolation goes through `BERTH-ISO` as Docker's isolation chains do (linear in
//! the number of networks, not quadratic). `ct status dnat` is `-m conntrack --ctstate
//! DNAT`; `fib daddr type local` is `-m addrtype --dst-type LOCAL`.
//!
//! One difference of substance: an nftables `accept` ends only berth's own base chain,
//! while an iptables ACCEPT in `BERTH-FWD` ends the packet's way through FORWARD. So
//! berth's verdicts on its bridges' traffic are all in `BERTH-FWD`, which ends with
//! what [`super::ensure_docker_coexistence`] accepts for the nftables backend
//! (everything leaving a bridge, replies into it), and published ports are accepted
//! per bridge rather than for any DNATed connection: other engines' forwarded traffic
//! falls through to their own rules.

use std::path::{Path, PathBuf};

use super::{
    check, check_table, describe_port, find_program, host_ip, pipe_to, run, run_for_stdout,
    specific_ports_first, stderr_of, subnet_text, Family, FirewallError, NetworkRules, PortRule,
    Result, Ruleset,
};

/// The comment on the jumps into berth's chains (and on the rules of
/// [`super::ensure_docker_coexistence`]).
pub(super) const COMMENT: &str = "berth";

const GUARD: &str = "BERTH-GUARD";
const PRE: &str = "BERTH-PRE";
const OUT: &str = "BERTH-OUT";
const PORTS: &str = "BERTH-PORTS";
const POST: &str = "BERTH-POST";
const FWD: &str = "BERTH-FWD";
const ISO: &str = "BERTH-ISO";

/// A connection whose destination was translated (`ct status dnat`).
const DNATED: [&str; 4] = ["-m", "conntrack", "--ctstate", "DNAT"];

/// iptables' limit on a chain name's length.
const MAX_CHAIN_NAME: usize = 28;

/// One of berth's chains.
struct ChainSpec {
    table: &'static str,
    name: &'static str,
    /// The built-in chain that jumps to it; None: reached from berth's own chains.
    from: Option<&'static str>,
    v4_only: bool,
}

/// Every chain berth may have, tables in the order they are restored.
const CHAINS: [ChainSpec; 7] = [
    ChainSpec {
        table: "raw",
        name: GUARD,
        from: Some("PREROUTING"),
        v4_only: true,
    },
    ChainSpec {
        table: "nat",
        name: PRE,
        from: Some("PREROUTING"),
        v4_only: false,
    },
    ChainSpec {
        table: "nat",
        name: OUT,
        from: Some("OUTPUT"),
        v4_only: false,
    },
    ChainSpec {
        table: "nat",
        name: PORTS,
        from: None,
        v4_only: false,
    },
    ChainSpec {
        table: "nat",
        name: POST,
        from: Some("POSTROUTING"),
        v4_only: false,
    },
    ChainSpec {
        table: "filter",
        name: FWD,
        from: Some("FORWARD"),
        v4_only: false,
    },
    ChainSpec {
        table: "filter",
        name: ISO,
        from: None,
        v4_only: false,
    },
];

impl ChainSpec {
    fn in_family(&self, f: Family) -> bool {
        f == Family::V4 || !self.v4_only
    }
}

impl Family {
    fn tool(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }

    fn restore_tool(self) -> &'static str {
        match self {
            Family::V4 => "iptables-restore",
            Family::V6 => "ip6tables-restore",
        }
    }

    fn save_tool(self) -> &'static str {
        match self {
            Family::V4 => "iptables-save",
            Family::V6 => "ip6tables-save",
        }
    }

    /// `/32` or `/128`: one address.
    fn host_prefix(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// The names of berth's chains for one nftables table name: `berth` has the plain
/// names, `berth-X` (or any other `X`) the names suffixed with `-X`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chains {
    suffix: String,
}

impl Chains {
    /// The chains standing for table `table`; an error when a name would be too long.
    pub fn of(table: &str) -> Result<Chains> {
        check_table(table, &format!("iptables chains for table {table:?}"))?;
        let suffix = match table {
            "berth" => String::new(),
            t => format!("-{}", t.strip_prefix("berth-").unwrap_or(t)),
        };
        let chains = Chains { suffix };
        let longest = chains.name(GUARD);
        if longest.len() > MAX_CHAIN_NAME {
            return Err(FirewallError::Invalid {
                what: format!("iptables chains for table {table:?}"),
                reason: format!(
                    "{longest} is longer than the {MAX_CHAIN_NAME} characters iptables takes"
                ),
            });
        }
        Ok(chains)
    }

    /// `base` with this table's suffix.
    pub fn name(&self, base: &str) -> String {
        format!("{base}{}", self.suffix)
    }

    /// `BERTH-*-X`, for messages.
    fn pattern(&self) -> String {
        self.name("BERTH-*")
    }
}

/// What [`apply`] pipes to `iptables-restore --noflush` and `ip6tables-restore
/// --noflush`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    pub v4: String,
    pub v6: String,
}

impl Restore {
    fn of(&self, f: Family) -> &str {
        match f {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }
}

/// Replaces the contents of berth's chains with `r` (table by table, atomically) and
/// makes sure the built-in chains jump to them.
pub fn apply(r: &Ruleset) -> Result<()> {
    let input = render(r)?;
    let chains = Chains::of(&r.table)?;
    for f in [Family::V4, Family::V6] {
        let what = format!("replacing {} chains {}", f.tool(), chains.pattern());
        let restore = program(f.restore_tool(), &what)?;
        pipe_to(
            &what,
            restore.as_os_str(),
            &["-w", "--noflush"],
            input.of(f).as_bytes(),
        )?;
        let tool = program(f.tool(), &what)?;
        for c in CHAINS.iter().filter(|c| c.in_family(f)) {
            let Some(from) = c.from else { continue };
            let target = chains.name(c.name);
            let jump = jump_rule(&target);
            if !has_rule(&tool, &what, c.table, from, &jump)? {
                change_rule(&tool, &what, c.table, "-I", from, &jump)?;
            }
        }
    }
    Ok(())
}

/// Deletes berth's chains for table `table` and every rule jumping to them, in both
/// families; nothing to do when there are none (or no iptables at all).
pub fn remove(table: &str) -> Result<()> {
    let chains = Chains::of(table)?;
    for f in [Family::V4, Family::V6] {
        let what = format!("removing {} chains {}", f.tool(), chains.pattern());
        let Some(save) = find_program(f.save_tool()) else {
            continue;
        };
        let listing = run_for_stdout(&what, save.as_os_str(), &[])?;
        let input = removal(&listing, &chains);
        if input.is_empty() {
            continue;
        }
        let restore = program(f.restore_tool(), &what)?;
        pipe_to(
            &what,
            restore.as_os_str(),
            &["-w", "--noflush"],
            input.as_bytes(),
        )?;
    }
    Ok(())
}

/// Whether `iptables-restore` and `ip6tables-restore` are both found.
pub fn found() -> bool {
    [Family::V4, Family::V6]
        .iter()
        .all(|f| find_program(f.restore_tool()).is_some())
}

/// The restore input that takes out what `listing` (an `iptables-save`) has of berth's
/// chains: the rules jumping to them, then the chains, flushed first so that they no
/// longer refer to each other. Empty when there is nothing of theirs.
pub fn removal(listing: &str, chains: &Chains) -> String {
    let ours: Vec<String> = CHAINS.iter().map(|c| chains.name(c.name)).collect();
    let is_ours = |name: &str| ours.iter().any(|o| o == name);
    let mut out = String::new();
    let mut table = "";
    let (mut jumps, mut found): (Vec<String>, Vec<&str>) = (Vec::new(), Vec::new());
    for line in listing.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim();
            jumps.clear();
            found.clear();
        } else if let Some(chain) = line.strip_prefix(':') {
            let name = chain.split_whitespace().next().unwrap_or_default();
            if is_ours(name) {
                found.push(name);
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let words: Vec<&str> = rule.split_whitespace().collect();
            let jumps_to_ours = words
                .windows(2)
                .any(|w| (w[0] == "-j" || w[0] == "-g") && is_ours(w[1]));
            if jumps_to_ours && !words.first().is_some_and(|c| is_ours(c)) {
                jumps.push(format!("-D {rule}\n"));
            }
        } else if line.trim() == "COMMIT" && !(jumps.is_empty() && found.is_empty()) {
            out.push_str(&format!("*{table}\n"));
            jumps.iter().for_each(|j| out.push_str(j));
            for c in &found {
                out.push_str(&format!("-F {c}\n"));
            }
            for c in &found {
                out.push_str(&format!("-X {c}\n"));
            }
            out.push_str("COMMIT\n");
        }
    }
    out
}

/// The restore input of each family: pure, so it can be checked without root. Port
/// rules on an internal network are left out (Docker publishes nothing there).
pub fn render(r: &Ruleset) -> Result<Restore> {
    let chains = Chains::of(&r.table)?;
    let what = format!("iptables chains {}", chains.pattern());
    check(r, &what)?;
    for n in &r.networks {
        check_bridge_name(&n.bridge, &what)?;
    }
    let mut b = Builder {
        chains,
        rules: Vec::new(),
    };
    if !r.networks.is_empty() {
        b.guard(&r.networks);
    }
    for chain in [PRE, OUT] {
        let ports = b.chains.name(PORTS);
        b.rule(
            None,
            chain,
            &["-m", "addrtype", "--dst-type", "LOCAL"],
            "published ports on local addresses",
            &[&ports],
        );
    }
    for p in specific_ports_first(r) {
        b.port(p);
    }
    for n in r.networks.iter().filter(|n| !n.internal) {
        b.postrouting(n);
    }
    b.forward(&r.networks);
    Ok(Restore {
        v4: b.text(Family::V4),
        v6: b.text(Family::V6),
    })
}

/// Bridge names go into iptables' command language unquoted, where `+` is a wildcard
/// and `!` a negation: only plain names are taken.
fn check_bridge_name(bridge: &str, what: &str) -> Result<()> {
    let plain = bridge
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if plain {
        Ok(())
    } else {
        Err(FirewallError::Invalid {
            what: what.to_owned(),
            reason: format!(
                "bridge name {bridge:?}: the iptables backend takes letters, digits, '-', '_', '.' and '@'"
            ),
        })
    }
}

struct Builder {
    chains: Chains,
    /// (family, None for both; base chain name; the line after `-A CHAIN`)
    rules: Vec<(Option<Family>, &'static str, String)>,
}

impl Builder {
    /// `-A CHAIN MATCHES -m comment --comment "berth: COMMENT" -j TARGET…`
    fn rule(
        &mut self,
        family: Option<Family>,
        chain: &'static str,
        matches: &[&str],
        comment: &str,
        target: &[&str],
    ) {
        let mut words: Vec<&str> = matches.to_vec();
        let comment = format!("\"berth: {comment}\"");
        words.extend(["-m", "comment", "--comment", &comment, "-j"]);
        words.extend(target);
        self.rules.push((family, chain, words.join(" ")));
    }

    fn guard(&mut self, networks: &[NetworkRules]) {
        for n in networks {
            self.rule(
                Some(Family::V4),
                GUARD,
                &["-i", &n.bridge, "-d", "127.0.0.0/8"],
                &format!("nothing from {} to the loopback of the host", n.bridge),
                &["DROP"],
            );
        }
    }

    /// `[-d HOST_IP] -p PROTO -m PROTO --dport PORT -j DNAT --to-destination CIP:CPORT`
    fn port(&mut self, p: &PortRule) {
        let family = Family::of(p.container_ip);
        let proto = p.proto.as_str();
        let host = host_ip(p).map(|ip| format!("{ip}/{}", family.host_prefix()));
        let dport = p.host_port.to_string();
        let mut matches: Vec<&str> = Vec::new();
        if let Some(host) = &host {
            matches.extend(["-d", host]);
        }
        matches.extend(["-p", proto, "-m", proto, "--dport", &dport]);
        let to = super::socket_text(p.container_ip, p.container_port);
        self.rule(
            Some(family),
            PORTS,
            &matches,
            &describe_port(p),
            &["DNAT", "--to-destination", &to],
        );
    }

    fn postrouting(&mut self, n: &NetworkRules) {
        let br = n.bridge.as_str();
        for &(addr, len) in &n.subnets {
            let family = Some(Family::of(addr));
            let subnet = subnet_text(addr, len);
            if n.masquerade {
                self.rule(
                    family,
                    POST,
                    &["-s", &subnet, "!", "-o", br],
                    &format!("masquerade {subnet} leaving {br}"),
                    &["MASQUERADE"],
                );
            }
            // Not by interface: a bridged hairpin (br_netfilter) has no input interface.
            self.rule(
                family,
                POST,
                &[&["-s", &subnet, "-d", &subnet, "-o", br][..], &DNATED].concat(),
                &format!("hairpin on {br}"),
                &["MASQUERADE"],
            );
        }
        self.rule(
            None,
            POST,
            &[
                &["-o", br][..],
                &DNATED,
                &["-m", "addrtype", "--src-type", "LOCAL"],
            ]
            .concat(),
            &format!("published ports reached from the host into {br}"),
            &["MASQUERADE"],
        );
    }

    fn forward(&mut self, networks: &[NetworkRules]) {
        for n in networks.iter().filter(|n| n.internal) {
            let br = n.bridge.as_str();
            self.rule(
                None,
                FWD,
                &["-i", br, "!", "-o", br],
                &format!("internal network {br}: nothing out"),
                &["DROP"],
            );
            self.rule(
                None,
                FWD,
                &["!", "-i", br, "-o", br],
                &format!("internal network {br}: nothing in"),
                &["DROP"],
            );
        }
        let open = || networks.iter().filter(|n| !n.internal);
        for n in open() {
            let br = n.bridge.as_str();
            self.rule(
                None,
                FWD,
                &[&["-o", br][..], &DNATED].concat(),
                &format!("published ports in {br}, from any network"),
                &["ACCEPT"],
            );
        }
        for n in networks {
            let br = n.bridge.as_str();
            let (verdict, what) = if n.icc {
                ("ACCEPT", "traffic within")
            } else {
                ("DROP", "icc off: nothing within")
            };
            self.rule(
                None,
                FWD,
                &["-i", br, "-o", br],
                &format!("{what} {br}"),
                &[verdict],
            );
        }
        if networks.len() > 1 {
            let iso = self.chains.name(ISO);
            for n in networks {
                self.rule(
                    None,
                    FWD,
                    &["-i", &n.bridge],
                    "isolation between networks",
                    &[&iso],
                );
            }
            for n in networks {
                self.rule(
                    None,
                    ISO,
                    &["-o", &n.bridge],
                    &format!("nothing into {} from another network", n.bridge),
                    &["DROP"],
                );
            }
        }
        // Past any DROP policy of FORWARD (dockerd's), as the nftables backend's
        // rules in FORWARD do. (An internal network's traffic is decided above.)
        for n in open() {
            let br = n.bridge.as_str();
            self.rule(None, FWD, &["-i", br], &format!("out of {br}"), &["ACCEPT"]);
            self.rule(
                None,
                FWD,
                &[
                    "-o",
                    br,
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "RELATED,ESTABLISHED",
                ],
                &format!("replies into {br}"),
                &["ACCEPT"],
            );
        }
    }

    /// One family's restore input: per table, its chains declared and flushed, then
    /// their rules.
    fn text(&self, f: Family) -> String {
        let mut out = String::new();
        for table in ["raw", "nat", "filter"] {
            let specs: Vec<&ChainSpec> = CHAINS
                .iter()
                .filter(|c| c.table == table && c.in_family(f))
                .collect();
            if specs.is_empty() {
                continue;
            }
            out.push_str(&format!("*{table}\n"));
            for c in &specs {
                out.push_str(&format!(":{} - [0:0]\n", self.chains.name(c.name)));
            }
            for c in &specs {
                out.push_str(&format!("-F {}\n", self.chains.name(c.name)));
            }
            for (family, chain, line) in &self.rules {
                if family.is_none_or(|rf| rf == f) && specs.iter().any(|c| c.name == *chain) {
                    out.push_str(&format!("-A {} {line}\n", self.chains.name(chain)));
                }
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// `-m comment --comment berth -j CHAIN`
fn jump_rule(chain: &str) -> Vec<&str> {
    vec!["-m", "comment", "--comment", COMMENT, "-j", chain]
}

/// A program of iptables', found where [`find_program`] looks; else an error naming it.
fn program(name: &str, what: &str) -> Result<PathBuf> {
    find_program(name).ok_or_else(|| FirewallError::Spawn {
        what: what.to_owned(),
        command: name.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not found in PATH, /usr/sbin or /sbin",
        ),
    })
}

/// `TOOL -w -t TABLE -C CHAIN RULE`: exit 0 when the rule is there, 1 when it is not.
pub(super) fn has_rule(
    program: &Path,
    what: &str,
    table: &str,
    chain: &str,
    rule: &[&str],
) -> Result<bool> {
    let args = rule_args(table, "-C", chain, rule);
    let (command, out) = run(what, program.as_os_str(), &args)?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(FirewallError::Failed {
            what: what.to_owned(),
            command,
            stderr: stderr_of(&out),
        }),
    }
}

/// `TOOL -w -t TABLE OP CHAIN RULE` (`-I`, `-D`, …), which must succeed.
pub(super) fn change_rule(
    program: &Path,
    what: &str,
    table: &str,
    op: &str,
    chain: &str,
    rule: &[&str],
) -> Result<()> {
    let args = rule_args(table, op, chain, rule);
    run_for_stdout(what, program.as_os_str(), &args).map(|_| ())
}

/// `-w -t TABLE OP CHAIN RULE…`
fn rule_args<'a>(table: &'a str, op: &'a str, chain: &'a str, rule: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-w", "-t", table, op, chain];
    args.extend_from_slice(rule);
    args
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn each_family_restores_its_tables_whole() {
        let r = render(&sample()).unwrap();
        // IPv4: the guard in raw; the port on one address before the one on every
        // address; the internal network's port (172.19.0.2) and subnet left out of nat.
        let v4 = [GOLDEN_RAW, GOLDEN_NAT, GOLDEN_NAT_V4, GOLDEN_FILTER].concat();
        assert_eq!(r.v4, v4);
        // IPv6: no guard (no route_localnet); `::` is every address; host bits of the
        // subnet cleared.
        let v6 = [GOLDEN_NAT, GOLDEN_NAT_V6, GOLDEN_FILTER].concat();
        assert_eq!(r.v6, v6);
    }

    const GOLDEN_RAW: &str = r#"*raw
:BERTH-GUARD-unit - [0:0]
-F BERTH-GUARD-unit
-A BERTH-GUARD-unit -i br-web -d 127.0.0.0/8 -m comment --comment "berth: nothing from br-web to the loopback of the host" -j DROP
-A BERTH-GUARD-unit -i br-db -d 127.0.0.0/8 -m comment --comment "berth: nothing from br-db to the loopback of the host" -j DROP
COMMIT
"#;

    const GOLDEN_NAT: &str = r#"*nat
:BERTH-PRE-unit - [0:0]
:BERTH-OUT-unit - [0:0]
:BERTH-PORTS-unit - [0:0]
:BERTH-POST-unit - [0:0]
-F BERTH-PRE-unit
-F BERTH-OUT-unit
-F BERTH-PORTS-unit
-F BERTH-POST-unit
-A BERTH-PRE-unit -m addrtype --dst-type LOCAL -m comment --comment "berth: published ports on local addresses" -j BERTH-PORTS-unit
-A BERTH-OUT-unit -m addrtype --dst-type LOCAL -m comment --comment "berth: published ports on local addresses" -j BERTH-PORTS-unit
"#;

    const GOLDEN_NAT_V4: &str = r#"-A BERTH-PORTS-unit -d 192.0.2.10/32 -p udp -m udp --dport 5353 -m comment --comment "berth: publish 192.0.2.10:5353/udp to 172.18.0.3:53" -j DNAT --to-destination 172.18.0.3:53
-A BERTH-PORTS-unit -p tcp -m tcp --dport 8080 -m comment --comment "berth: publish 8080/tcp to 172.18.0.2:80" -j DNAT --to-destination 172.18.0.2:80
-A BERTH-POST-unit -s 172.18.0.0/16 ! -o br-web -m comment --comment "berth: masquerade 172.18.0.0/16 leaving br-web" -j MASQUERADE
-A BERTH-POST-unit -s 172.18.0.0/16 -d 172.18.0.0/16 -o br-web -m conntrack --ctstate DNAT -m comment --comment "berth: hairpin on br-web" -j MASQUERADE
-A BERTH-POST-unit -o br-web -m conntrack --ctstate DNAT -m addrtype --src-type LOCAL -m comment --comment "berth: published ports reached from the host into br-web" -j MASQUERADE
COMMIT
"#;

    const GOLDEN_NAT_V6: &str = r#"-A BERTH-PORTS-unit -p sctp -m sctp --dport 9999 -m comment --comment "berth: publish 9999/sctp to [fd00:18::2]:99" -j DNAT --to-destination [fd00:18::2]:99
-A BERTH-POST-unit -s fd00:18::/64 ! -o br-web -m comment --comment "berth: masquerade fd00:18::/64 leaving br-web" -j MASQUERADE
-A BERTH-POST-unit -s fd00:18::/64 -d fd00:18::/64 -o br-web -m conntrack --ctstate DNAT -m comment --comment "berth: hairpin on br-web" -j MASQUERADE
-A BERTH-POST-unit -o br-web -m conntrack --ctstate DNAT -m addrtype --src-type LOCAL -m comment --comment "berth: published ports reached from the host into br-web" -j MASQUERADE
COMMIT
"#;

    /// The same in both families: the rules match bridges, not addresses.
    const GOLDEN_FILTER: &str = r#"*filter
:BERTH-FWD-unit - [0:0]
:BERTH-ISO-unit - [0:0]
-F BERTH-FWD-unit
-F BERTH-ISO-unit
-A BERTH-FWD-unit -i br-db ! -o br-db -m comment --comment "berth: internal network br-db: nothing out" -j DROP
-A BERTH-FWD-unit ! -i br-db -o br-db -m comment --comment "berth: internal network br-db: nothing in" -j DROP
-A BERTH-FWD-unit -o br-web -m conntrack --ctstate DNAT -m comment --comment "berth: published ports in br-web, from any network" -j ACCEPT
-A BERTH-FWD-unit -i br-web -o br-web -m comment --comment "berth: traffic within br-web" -j ACCEPT
-A BERTH-FWD-unit -i br-db -o br-db -m comment --comment "berth: icc off: nothing within br-db" -j DROP
-A BERTH-FWD-unit -i br-web -m comment --comment "berth: isolation between networks" -j BERTH-ISO-unit
-A BERTH-FWD-unit -i br-db -m comment --comment "berth: isolation between networks" -j BERTH-ISO-unit
-A BERTH-ISO-unit -o br-web -m comment --comment "berth: nothing into br-web from another network" -j DROP
-A BERTH-ISO-unit -o br-db -m comment --comment "berth: nothing into br-db from another network" -j DROP
-A BERTH-FWD-unit -i br-web -m comment --comment "berth: out of br-web" -j ACCEPT
-A BERTH-FWD-unit -o br-web -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "berth: replies into br-web" -j ACCEPT
COMMIT
"#;

    #[test]
    fn without_masquerade_only_what_published_ports_need() {
        let mut r = sample();
        r.networks[0].masquerade = false;
        let v4 = render(&r).unwrap().v4;
        assert!(!v4.contains("! -o br-web"), "{v4}");
        assert!(v4.contains("hairpin on br-web"), "{v4}");
        assert!(v4.contains("reached from the host into br-web"), "{v4}");
    }

    #[test]
    fn an_empty_ruleset_has_empty_chains_but_the_jumps_to_the_ports() {
        let r = render(&Ruleset {
            table: "berth".into(),
            ..Ruleset::default()
        })
        .unwrap();
        let rules: Vec<&str> = r.v4.lines().filter(|l| l.starts_with("-A ")).collect();
        assert_eq!(
            rules,
            [
                r#"-A BERTH-PRE -m addrtype --dst-type LOCAL -m comment --comment "berth: published ports on local addresses" -j BERTH-PORTS"#,
                r#"-A BERTH-OUT -m addrtype --dst-type LOCAL -m comment --comment "berth: published ports on local addresses" -j BERTH-PORTS"#,
            ]
        );
        for chain in [
            ":BERTH-GUARD -",
            ":BERTH-FWD -",
            ":BERTH-ISO -",
            "-F BERTH-POST",
        ] {
            assert!(r.v4.contains(chain), "{chain}: {}", r.v4);
        }
        assert!(!r.v6.contains("*raw"), "{}", r.v6);
        assert_eq!(r.v6.lines().filter(|l| l.starts_with("-A ")).count(), 2);
    }

    #[test]
    fn chain_names_follow_the_table() {
        let name = |table: &str| Chains::of(table).map(|c| c.name(PRE));
        assert_eq!(name("berth").unwrap(), "BERTH-PRE");
        assert_eq!(name("berth-br0").unwrap(), "BERTH-PRE-br0");
        assert_eq!(name("lab").unwrap(), "BERTH-PRE-lab");
        // `berth-` and the longest bridge name fit.
        let longest = Chains::of("berth-abcdefghijklmno").unwrap();
        assert_eq!(longest.name(GUARD).len(), MAX_CHAIN_NAME - 1);
        let e = name("berth-abcdefghijklmnopq").unwrap_err().to_string();
        assert!(e.contains("BERTH-GUARD-abcdefghijklmnopq"), "{e}");
        assert!(e.contains("28 characters"), "{e}");
        for bad in ["", "has space", "semi;colon"] {
            assert!(
                matches!(Chains::of(bad), Err(FirewallError::Invalid { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            jump_rule("BERTH-PRE").join(" "),
            "-m comment --comment berth -j BERTH-PRE"
        );
    }

    #[test]
    fn bridge_names_iptables_would_misread_are_refused() {
        for bad in ["br+", "br!x", "br\"x", "br'x", "br\\x"] {
            let mut r = sample();
            r.networks[0].bridge = bad.into();
            let e = render(&r).unwrap_err().to_string();
            assert!(
                e.starts_with("iptables chains BERTH-*-unit: bridge name"),
                "{e}"
            );
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        // What the shared checks refuse, this backend refuses too.
        let mut r = sample();
        r.ports[1].host_ip = Some("2001:db8::1".parse().unwrap());
        let e = render(&r).unwrap_err().to_string();
        assert!(
            e.starts_with("iptables chains BERTH-*-unit: port 5353/udp to 172.18.0.3:53"),
            "{e}"
        );
    }

    /// What `iptables-save` lists with berth's chains for `berth-unit` in use, a
    /// second daemon's (`berth-other`) and dockerd's beside them.
    const LISTING: &str = r#"# Generated by iptables-save v1.8.9 (nf_tables) on Sun Dec  6 01:48:10 2026
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:BERTH-GUARD-unit - [0:0]
:BERTH-GUARD-other - [0:0]
-A PREROUTING -m comment --comment berth -j BERTH-GUARD-other
-A PREROUTING -m comment --comment berth -j BERTH-GUARD-unit
-A BERTH-GUARD-unit -d 127.0.0.0/8 -i br-web -m comment --comment "berth: nothing from br-web to the loopback of the host" -j DROP
COMMIT
# Completed on Sun Dec  6 01:48:10 2026
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:BERTH-OUT-unit - [0:0]
:BERTH-PORTS-unit - [0:0]
:BERTH-POST-unit - [0:0]
:BERTH-PRE-unit - [0:0]
:DOCKER - [0:0]
-A PREROUTING -m comment --comment berth -j BERTH-PRE-unit
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT -m comment --comment berth -j BERTH-OUT-unit
-A OUTPUT -m comment --comment berth -j BERTH-OUT-unit
-A POSTROUTING -m comment --comment berth -j BERTH-POST-unit
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A BERTH-OUT-unit -m addrtype --dst-type LOCAL -m comment --comment "berth: published ports on local addresses" -j BERTH-PORTS-unit
-A BERTH-PRE-unit -m addrtype --dst-type LOCAL -m comment --comment "berth: published ports on local addresses" -j BERTH-PORTS-unit
-A DOCKER -i docker0 -j RETURN
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A DOCKER-USER -j RETURN
COMMIT
"#;

    #[test]
    fn removal_takes_out_berths_chains_and_the_jumps_to_them_only() {
        let input = removal(LISTING, &Chains::of("berth-unit").unwrap());
        assert_eq!(
            input,
            r#"*raw
-D PREROUTING -m comment --comment berth -j BERTH-GUARD-unit
-F BERTH-GUARD-unit
-X BERTH-GUARD-unit
COMMIT
*nat
-D PREROUTING -m comment --comment berth -j BERTH-PRE-unit
-D OUTPUT -m comment --comment berth -j BERTH-OUT-unit
-D OUTPUT -m comment --comment berth -j BERTH-OUT-unit
-D POSTROUTING -m comment --comment berth -j BERTH-POST-unit
-F BERTH-OUT-unit
-F BERTH-PORTS-unit
-F BERTH-POST-unit
-F BERTH-PRE-unit
-X BERTH-OUT-unit
-X BERTH-PORTS-unit
-X BERTH-POST-unit
-X BERTH-PRE-unit
COMMIT
"#
        );
        // The other daemon's chains are its own; with none of ours, nothing to do.
        let other = removal(LISTING, &Chains::of("berth-other").unwrap());
        assert!(other.contains("-X BERTH-GUARD-other"), "{other}");
        assert!(!other.contains("unit"), "{other}");
        assert_eq!(removal(LISTING, &Chains::of("berth").unwrap()), "");
        assert_eq!(removal("", &Chains::of("berth").unwrap()), "");
    }
}
