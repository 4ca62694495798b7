//! Room for a dockerd on the same host: dockerd sets iptables' FORWARD policy to DROP
//! when it turns forwarding on, and a drop in any base chain drops the packet whatever
//! berth's own rules say. So berth keeps three accept rules of its own (comment
//! `berth`) at the top of that chain for each bridge, and removes exactly those.

use super::iptables::{change_rule, has_rule, COMMENT};
use super::{find_program, valid_ifname, FirewallError, NetworkRules, Result};

/// The FORWARD rules a bridge needs where dockerd set the policy to DROP: everything
/// leaving the bridge, and what comes back to it (replies, and published ports).
fn coexistence_rules(bridge: &str) -> [Vec<&str>; 3] {
    let tail = ["-m", "comment", "--comment", COMMENT, "-j", "ACCEPT"];
    let rule = |head: &[&'static str]| -> Vec<&str> {
        let mut v: Vec<&str> = head.to_vec();
        v.insert(1, bridge);
        v.extend(tail);
        v
    };
    [
        rule(&["-i"]),
        rule(&["-o", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"]),
        rule(&["-o", "-m", "conntrack", "--ctstate", "DNAT"]),
    ]
}

/// Accepts berth's bridges in iptables' (and, for networks with IPv6, ip6tables')
/// FORWARD chain, at its top, each rule once. dockerd sets that chain's policy to DROP;
/// without these rules it would drop what berth's own table lets through. Also needed
/// for traffic within a bridge where br_netfilter is active. Where there is no iptables
/// there is nothing to do.
pub fn ensure_docker_coexistence(networks: &[NetworkRules]) -> Result<()> {
    for (tool, v6) in [("iptables", false), ("ip6tables", true)] {
        let Some(program) = find_program(tool) else {
            continue;
        };
        for n in networks {
            if v6 && !n.subnets.iter().any(|(a, _)| a.is_ipv6()) {
                continue;
            }
            check_bridge(&n.bridge, "accepting it in FORWARD")?;
            let what = format!("accepting bridge {} in {tool}'s FORWARD chain", n.bridge);
            // Each goes to the top; in reverse, they end up in order.
            for rule in coexistence_rules(&n.bridge).iter().rev() {
                if !has_rule(&program, &what, "filter", "FORWARD", rule)? {
                    change_rule(&program, &what, "filter", "-I", "FORWARD", rule)?;
                }
            }
        }
    }
    Ok(())
}

/// Removes what [`ensure_docker_coexistence`] added for `bridges`, from iptables and
/// ip6tables alike, and nothing else.
pub fn remove_docker_coexistence<S: AsRef<str>>(bridges: &[S]) -> Result<()> {
    for tool in ["iptables", "ip6tables"] {
        let Some(program) = find_program(tool) else {
            continue;
        };
        for bridge in bridges {
            let bridge = bridge.as_ref();
            check_bridge(bridge, "removing its FORWARD rules")?;
            let what = format!("removing bridge {bridge}'s rules from {tool}'s FORWARD chain");
            for rule in &coexistence_rules(bridge) {
                // Duplicates (added by hand, or by two racing daemons) go too.
                while has_rule(&program, &what, "filter", "FORWARD", rule)? {
                    change_rule(&program, &what, "filter", "-D", "FORWARD", rule)?;
                }
            }
        }
    }
    Ok(())
}

fn check_bridge(bridge: &str, doing: &str) -> Result<()> {
    if valid_ifname(bridge) {
        Ok(())
    } else {
        Err(FirewallError::Invalid {
            what: format!("{doing} for bridge {bridge:?}"),
            reason: "not a valid interface name".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coexistence_rules_name_the_bridge() {
        let [i, rel, dnat] = coexistence_rules("br-x");
        assert_eq!(i.join(" "), "-i br-x -m comment --comment berth -j ACCEPT");
        assert_eq!(
            rel.join(" "),
            "-o br-x -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment berth -j ACCEPT"
        );
        assert_eq!(
            dnat.join(" "),
            "-o br-x -m conntrack --ctstate DNAT -m comment --comment berth -j ACCEPT"
        );
    }
}
