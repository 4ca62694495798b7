//! The embedded DNS server's side in the engine: a container on a user-defined network
//! gets a resolver at 127.0.0.11 inside its namespace (its /etc/resolv.conf names it),
//! which answers the names and aliases of the running containers on the networks it
//! is on, and forwards the rest to the host's resolvers (or the container's `--dns`
//! servers; nowhere from an `--internal` network). The name tables are recomputed from
//! the running containers' records whenever one joins or leaves a network.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use berth_network::dns::{self, DnsServer, LinkAlias, Record};
use berth_network::etc;

use crate::api::{EngineError, EngineResult};
use crate::containers::{Container, Inner};
use crate::store::ContainerRecord;

/// Starts the daemon's DNS server, forwarding to the host's resolvers (systemd-resolved's
/// upstreams where the host's file names only its stub). None when it cannot start:
/// containers on user networks then fail to start with the reason.
pub(crate) fn start_server() -> Result<DnsServer, String> {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let stub = std::fs::read_to_string("/run/systemd/resolve/resolv.conf").ok();
    // The server forwards from the daemon's own namespace, where the host's loopback
    // resolvers answer too; a container's own namespace could not reach them.
    let conf = etc::resolv_conf(&host, stub.as_deref(), etc::Dns::default(), false);
    DnsServer::start(dns::nameservers(&conf), |_| {}).map_err(|e| e.to_string())
}

/// The /etc/resolv.conf of a container on a user-defined network, as Docker writes it:
/// the embedded resolver, the host's (or `--dns-search`) search domains, and
/// `--dns-option`s (`ndots:0` when none are given).
pub(crate) fn resolv_conf(rec: &ContainerRecord) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let hc = &rec.host_config;
    let servers = [dns::RESOLVER.ip().to_string()];
    let ndots = ["ndots:0".to_string()];
    let options: &[String] = if hc.dns_options.is_empty() {
        &ndots
    } else {
        &hc.dns_options
    };
    etc::resolv_conf(
        &host,
        None,
        etc::Dns {
            servers: &servers,
            search: &hc.dns_search,
            options,
        },
        false,
    )
}

/// The links of `rec`'s endpoints on the networks `nets` (ids), for its resolver:
/// `--link NAME:ALIAS` on a user-defined network is the name ALIAS, which the
/// linking container alone resolves to NAME's addresses there, as Docker's.
fn link_aliases(rec: &ContainerRecord, nets: &[String]) -> Vec<LinkAlias> {
    let mut out = Vec::new();
    for ep in rec.network_settings.networks.values() {
        if !nets.contains(&ep.network_id) {
            continue;
        }
        // Checked when the endpoint was made.
        for (target, alias) in ep
            .links
            .iter()
            .filter_map(|l| berth_network::links::parse(l).ok())
        {
            out.push(LinkAlias {
                network: ep.network_id.clone(),
                alias: alias.to_string(),
                target: target.to_string(),
            });
        }
    }
    out
}

impl Inner {
    /// The user-defined networks `rec` has an address on (network ids), in the order
    /// its resolver looks names up in them: Docker's order of a container's endpoints,
    /// internal networks last, then by network name.
    fn user_networks(&self, rec: &ContainerRecord) -> Vec<String> {
        let st = self.networks.lock();
        let mut nets: Vec<_> = rec
            .network_settings
            .networks
            .values()
            .filter(|ep| !ep.ip_address.is_empty())
            .filter_map(|ep| st.nets.get(&ep.network_id))
            .filter(|n| n.is_bridge() && !n.default_bridge)
            .collect();
        nets.sort_by(|a, b| (a.internal, &a.name).cmp(&(b.internal, &b.name)));
        nets.into_iter().map(|n| n.id.clone()).collect()
    }

    /// Whether the record puts the container on a user-defined network (at create, from
    /// its network mode: the resolv.conf it gets).
    pub(crate) fn on_user_network(&self, rec: &ContainerRecord) -> bool {
        let st = self.networks.lock();
        rec.network_settings.networks.iter().any(|(key, ep)| {
            st.nets
                .get(&ep.network_id)
                .or_else(|| st.find(key))
                .is_some_and(|n| n.is_bridge() && !n.default_bridge)
        })
    }

    /// Gives running container `c` its resolver (again, with its current networks) and
    /// refreshes the name tables of those networks and of `also` (networks it left).
    pub(crate) fn dns_sync(&self, c: &Container, also: &[String]) -> EngineResult<()> {
        let rec = c.record();
        let nets = self.user_networks(&rec);
        let Some(server) = self.dns.as_ref() else {
            if nets.is_empty() {
                return Ok(());
            }
            return Err(EngineError::internal(
                format!("name resolution for container {}", rec.id),
                "the embedded DNS server is not running",
            ));
        };
        if nets.is_empty() {
            server.remove_listener(&rec.id);
        } else {
            // Its /etc/resolv.conf names the resolver (also for a container that joined
            // its first user network running: rewritten in place, the file it has
            // mounted).
            let conf = resolv_conf(&rec);
            if std::fs::read_to_string(&rec.resolv_conf_path)
                .ok()
                .as_deref()
                != Some(&conf)
            {
                std::fs::write(&rec.resolv_conf_path, conf)
                    .map_err(|e| EngineError::io("writing", &rec.resolv_conf_path, e))?;
            }
            let path = self.networks.netns_path(&rec.id);
            server
                .add_listener(&rec.id, &path, nets.clone())
                .map_err(|e| {
                    EngineError::internal(format!("name resolution for container {}", rec.id), e)
                })?;
            server.set_links(&rec.id, link_aliases(&rec, &nets));
            let internal_only = {
                let st = self.networks.lock();
                nets.iter()
                    .all(|id| st.nets.get(id).is_some_and(|n| n.internal))
            };
            let own: Vec<SocketAddr> = rec
                .host_config
                .dns
                .iter()
                .filter_map(|s| s.parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
                .collect();
            let upstreams = if internal_only {
                Some(Vec::new())
            } else if !own.is_empty() {
                Some(own)
            } else {
                None
            };
            server.set_upstreams(&rec.id, upstreams);
        }
        let mut refresh: BTreeSet<String> = nets.into_iter().collect();
        refresh.extend(also.iter().cloned());
        self.dns_refresh(&refresh);
        Ok(())
    }

    /// Takes container `id`'s resolver away and refreshes the tables of `nets`.
    pub(crate) fn dns_down(&self, id: &str, nets: &[String]) {
        if let Some(server) = self.dns.as_ref() {
            server.remove_listener(id);
        }
        self.dns_refresh(&nets.iter().cloned().collect());
    }

    /// The user-defined networks container `c` is on now (before it leaves them).
    pub(crate) fn dns_networks_of(&self, c: &Container) -> Vec<String> {
        self.user_networks(&c.record())
    }

    /// Rebuilds the name tables of `nets` from the containers wired into them: each
    /// answers to its name, its aliases there (its short id among them) and its id, with
    /// its IPv4 address (A) and, on a network with IPv6, its IPv6 one (AAAA).
    fn dns_refresh(&self, nets: &BTreeSet<String>) {
        let Some(server) = self.dns.as_ref() else {
            return;
        };
        if nets.is_empty() {
            return;
        }
        let mut tables: std::collections::BTreeMap<&String, Vec<Record>> =
            nets.iter().map(|n| (n, Vec::new())).collect();
        // An endpoint has an address from its setup until its teardown: exactly while
        // the container is (about to be) running on that network.
        for other in self.all() {
            let g = other.lock();
            for ep in g.rec.network_settings.networks.values() {
                let Some(table) = tables.get_mut(&ep.network_id) else {
                    continue;
                };
                let Ok(ip) = ep.ip_address.parse::<Ipv4Addr>() else {
                    continue;
                };
                let mut names = vec![g.rec.name.clone()];
                for a in &ep.aliases {
                    if !names.contains(a) {
                        names.push(a.clone());
                    }
                }
                let short: String = g.rec.id.chars().take(12).collect();
                if !names.contains(&short) {
                    names.push(short);
                }
                table.push(Record {
                    names,
                    v4: Some(ip),
                    v6: ep.global_ipv6_address.parse::<Ipv6Addr>().ok(),
                });
            }
        }
        for (net, records) in tables {
            server.set_records(net, records);
        }
    }
}
