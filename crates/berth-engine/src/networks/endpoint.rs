//! A container's way onto its network, made before its process exists and undone when
//! it exits: a network namespace of its own bound under the exec root (lo up,
//! unprivileged ports from 0 as Docker sets them), and on a bridge network a veth pair
//! with `eth0` inside (address, Docker's address-derived MAC, default route) and the
//! host end on the bridge, then its published ports in berth's packet-filter table.
//! `none` gets the namespace alone; `host` and `container:` get nothing.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_api_types::network::{EndpointSettings, NetworkSettings, PortBinding, PortMap};
use berth_network::firewall::PortRule;
use berth_network::ports::{self, Binding, Proto};
use berth_network::{netns, Netlink};

use super::{NetworkRecord, State};
use crate::api::{EngineError, EngineResult};
use crate::containers::{Container, Inner};
use crate::store::ContainerRecord;

/// The network a container's `NetworkMode` puts it on, as far as an endpoint goes.
pub(crate) enum Attachment {
    /// `host` or `container:…`: nothing of its own.
    Shared,
    /// `none`: a namespace with loopback only.
    Isolated,
    /// A bridge network.
    Bridge(Box<NetworkRecord>),
}

/// What the runtime needs from a container's network: the namespace to join (None:
/// the host's or another container's) and the environment of its legacy links.
#[derive(Debug, Default)]
pub(crate) struct NetUp {
    pub netns: Option<PathBuf>,
    pub link_env: Vec<String>,
}

/// A legacy link's target as the linking container sees it.
struct LinkTarget {
    alias: String,
    name: String,
    hostname: String,
    ip: IpAddr,
    ports: Vec<(u16, String)>,
    env: Vec<String>,
}

/// The name a `NetworkMode` is listed under in `NetworkSettings.Networks`.
pub(crate) fn network_key(mode: &str) -> Option<&str> {
    match mode {
        "" | "default" => Some(super::DEFAULT_BRIDGE),
        m if m.starts_with("container:") => None,
        m => Some(m),
    }
}

impl Inner {
    /// What `mode` attaches to; 404 naming it when there is no such network.
    pub(crate) fn attachment(&self, mode: &str) -> EngineResult<Attachment> {
        if mode == "host" || mode.starts_with("container:") {
            return Ok(Attachment::Shared);
        }
        if mode == "none" {
            return Ok(Attachment::Isolated);
        }
        let st = self.networks.lock();
        let found = match mode {
            "" | "default" => st.default_bridge(),
            m => st.find(m),
        };
        match found {
            Some(n) if n.is_bridge() => Ok(Attachment::Bridge(Box::new(n.clone()))),
            Some(n) if n.driver == "host" => Ok(Attachment::Shared),
            Some(_) => Ok(Attachment::Isolated),
            // No default bridge (`--bridge none`): containers get loopback only.
            None if matches!(mode, "" | "default") => Ok(Attachment::Isolated),
            None => Err(EngineError::NotFound(format!("network {mode} not found"))),
        }
    }

    /// Sets up `c`'s network before its shim launches; returns the namespace the
    /// runtime joins (None: the host's or another container's). The record (with its
    /// endpoint, ports and /etc/hosts) is updated but not saved: the caller saves it
    /// with the running state.
    pub(crate) fn network_up(&self, c: &Container) -> EngineResult<NetUp> {
        let rec = c.record();
        let att = self.attachment(&rec.host_config.network_mode)?;
        if matches!(att, Attachment::Shared) {
            self.plain_endpoints_up(c)?;
            return Ok(NetUp::default());
        }
        // Legacy links are the default bridge's; on a user-defined network a link is
        // its endpoint's, a name for the embedded DNS server (see `dns_sync`).
        let links = match &att {
            Attachment::Bridge(n) if !n.default_bridge => Vec::new(),
            _ => self.link_targets(&rec)?,
        };
        let path = self.networks.netns_path(&rec.id);
        // A namespace left by a crash: the container's processes are gone with it.
        let _ = netns::remove(&path);
        let mut ns_link = netns::create(&path, || {
            let mut nl = Netlink::open().map_err(std::io::Error::other)?;
            nl.set_up("lo").map_err(std::io::Error::other)?;
            netns::set_sysctl("ipv4/ip_unprivileged_port_start", "0")?;
            // Unprivileged ICMP echo sockets (`ping` as any user), as Docker sets.
            netns::set_sysctl("ipv4/ping_group_range", "0 2147483647")?;
            // IPv6 on, for the interfaces made here later (`default`) as for those
            // already here: a kernel booted with it disabled has no such files.
            for key in [
                "ipv6/conf/all/disable_ipv6",
                "ipv6/conf/default/disable_ipv6",
            ] {
                if Path::new("/proc/sys/net").join(key).exists() {
                    netns::set_sysctl(key, "0")?;
                }
            }
            Ok(nl)
        })
        .map_err(|e| {
            EngineError::internal(format!("network namespace of container {}", rec.id), e)
        })?;
        let res = match att {
            Attachment::Bridge(net) => self
                .bridge_up(c, &rec, &net, &path, &mut ns_link, &links)
                .and_then(|()| self.extra_endpoints_up(c, &rec, &path, &mut ns_link)),
            _ => {
                c.lock().rec.network_settings.sandbox_key = path.to_string_lossy().into_owned();
                self.plain_endpoints_up(c)
            }
        };
        // Containers on user-defined networks resolve each other at 127.0.0.11.
        let res = res.and_then(|()| self.dns_sync(c, &[]));
        match res {
            Ok(()) => Ok(NetUp {
                netns: Some(path),
                link_env: links
                    .iter()
                    .flat_map(|t| {
                        berth_network::links::env(
                            &rec.name,
                            &t.alias,
                            &berth_network::links::Target {
                                ip: t.ip,
                                ports: &t.ports,
                                env: &t.env,
                            },
                        )
                    })
                    .collect(),
            }),
            Err(e) => {
                self.network_down(c);
                Err(e)
            }
        }
    }

    /// The running containers `rec` links to (`/TARGET:/OWN/ALIAS`), each with its
    /// address on the default bridge; a target that does not run is an error, as with
    /// dockerd.
    fn link_targets(&self, rec: &ContainerRecord) -> EngineResult<Vec<LinkTarget>> {
        let mut out = Vec::new();
        for l in &rec.host_config.links {
            let Some((target, own)) = l.split_once(':') else {
                continue;
            };
            let alias = own.rsplit('/').next().unwrap_or(own).to_string();
            let not_running = || {
                EngineError::BadParameter(format!(
                    "Cannot link to a non running container: {target} AS {own}"
                ))
            };
            let c = self
                .get(target.trim_start_matches('/'))
                .map_err(|_| not_running())?;
            let t = c.record();
            let ip = t
                .network_settings
                .networks
                .get(super::DEFAULT_BRIDGE)
                .and_then(|ep| ep.ip_address.parse::<IpAddr>().ok());
            let (true, Some(ip)) = (t.state.status.is_running(), ip) else {
                return Err(not_running());
            };
            let ports = t
                .config
                .exposed_ports
                .keys()
                .filter_map(|k| parse_port_key(k).ok())
                .map(|(n, p)| (n, p.as_str().to_string()))
                .collect();
            out.push(LinkTarget {
                alias,
                name: t.name.clone(),
                hostname: t.config.hostname.clone(),
                ip,
                ports,
                env: t.config.env.clone(),
            });
        }
        Ok(out)
    }

    fn bridge_up(
        &self,
        c: &Container,
        rec: &ContainerRecord,
        net: &NetworkRecord,
        path: &Path,
        ns_link: &mut Netlink,
        links: &[LinkTarget],
    ) -> EngineResult<()> {
        let key = network_key(&rec.host_config.network_mode)
            .unwrap_or(super::DEFAULT_BRIDGE)
            .to_string();
        let requested = rec
            .network_settings
            .networks
            .get(&key)
            .cloned()
            .unwrap_or_default();
        let want = wanted_ips(&requested, &key)?;
        let link_local = link_local_ips(&requested)?;
        check_links(&requested)?;
        // Address and ports under the network lock, so two starts cannot take the same.
        let (ip, ports_map, rules) = {
            let mut st = self.networks.lock();
            let ip = allocate(&mut st, net, &rec.id, want)?;
            let published = publish(rec, &st, ip, &net.bridge);
            match published {
                Ok((map, rules)) => {
                    if !rules.is_empty() {
                        st.ports.insert(rec.id.clone(), rules.clone());
                    }
                    (ip, map, rules)
                }
                Err(e) => {
                    st.ipam.release_holder(&rec.id);
                    return Err(e);
                }
            }
        };
        let mac = match (&rec.config.mac_address, &requested.mac_address) {
            (m, _) if !m.is_empty() => m.clone(),
            (_, m) => m.clone(),
        };
        let iface = Iface {
            name: "eth0",
            mac: &mac,
            link_local: &link_local,
            default_route: !net.internal,
        };
        let wired = wire(&rec.id, net, path, ns_link, &iface, ip)?;
        if !rules.is_empty() {
            let st = self.networks.lock();
            self.networks.sync_rules(&st)?;
        }
        let own: Vec<IpAddr> = std::iter::once(IpAddr::V4(ip.v4))
            .chain(ip.v6.map(IpAddr::V6))
            .collect();
        let mut hosts = crate::containers::hosts_file(rec, &own, self.networks.host_gateway());
        for t in links {
            let mut names = vec![t.alias.as_str()];
            for n in [t.hostname.as_str(), t.name.as_str()] {
                if !n.is_empty() && !names.contains(&n) {
                    names.push(n);
                }
            }
            hosts.push_str(&format!("{}\t{}\n", t.ip, names.join(" ")));
        }
        std::fs::write(&rec.hosts_path, hosts)
            .map_err(|e| EngineError::io("writing", &rec.hosts_path, e))?;
        {
            let mut g = c.lock();
            g.rec
                .host_veths
                .insert(net.id.clone(), wired.host_if.clone());
            let ns = &mut g.rec.network_settings;
            record_endpoint(ns.networks.entry(key).or_default(), net, &wired, &rec.id);
            ns.sandbox_id = crate::names::new_id()?;
            ns.sandbox_key = path.to_string_lossy().into_owned();
            ns.ports = ports_map;
            if net.default_bridge {
                set_default_bridge_fields(ns, &wired);
            }
        }
        self.network_event("connect", net, Some(&rec.id));
        Ok(())
    }

    /// Wires `c` into every network of its record besides its primary one (`eth1`,
    /// `eth2`, … in the order of their names), without a default route.
    fn extra_endpoints_up(
        &self,
        c: &Container,
        rec: &ContainerRecord,
        path: &Path,
        ns_link: &mut Netlink,
    ) -> EngineResult<()> {
        let primary = network_key(&rec.host_config.network_mode).unwrap_or(super::DEFAULT_BRIDGE);
        for (key, ep) in &rec.network_settings.networks {
            if key == primary {
                continue;
            }
            let net = {
                let st = self.networks.lock();
                st.nets
                    .get(&ep.network_id)
                    .or_else(|| st.find(key))
                    .cloned()
                    .ok_or_else(|| EngineError::NotFound(format!("network {key} not found")))?
            };
            if !net.is_bridge() {
                continue;
            }
            self.endpoint_up(c, rec, key, &net, path, ns_link)?;
        }
        Ok(())
    }

    /// Wires `c` (running, its namespace bound at `path`) into `net` as its next free
    /// `ethN`, under the name `key` in its record, with what the record asks for there.
    pub(crate) fn endpoint_up(
        &self,
        c: &Container,
        rec: &ContainerRecord,
        key: &str,
        net: &NetworkRecord,
        path: &Path,
        ns_link: &mut Netlink,
    ) -> EngineResult<()> {
        let requested = rec
            .network_settings
            .networks
            .get(key)
            .cloned()
            .unwrap_or_default();
        let want = wanted_ips(&requested, key)?;
        let link_local = link_local_ips(&requested)?;
        check_links(&requested)?;
        let ip = allocate(&mut self.networks.lock(), net, &rec.id, want)?;
        let res = next_ifname(ns_link).and_then(|ifname| {
            let iface = Iface {
                name: &ifname,
                mac: &requested.mac_address,
                link_local: &link_local,
                default_route: false,
            };
            wire(&rec.id, net, path, ns_link, &iface, ip)
        });
        let wired = match res {
            Ok(w) => w,
            Err(e) => {
                self.networks.lock().ipam.release(&net.id, &rec.id);
                return Err(e);
            }
        };
        {
            let mut g = c.lock();
            g.rec
                .host_veths
                .insert(net.id.clone(), wired.host_if.clone());
            let ns = &mut g.rec.network_settings;
            record_endpoint(
                ns.networks.entry(key.to_string()).or_default(),
                net,
                &wired,
                &rec.id,
            );
            if net.default_bridge {
                set_default_bridge_fields(ns, &wired);
            }
        }
        self.network_event("connect", net, Some(&rec.id));
        Ok(())
    }

    /// Gives `c`'s endpoints on networks without interfaces of their own (`host`,
    /// `none`) their ids, as dockerd does, and tells their `connect`.
    fn plain_endpoints_up(&self, c: &Container) -> EngineResult<()> {
        let plain: Vec<NetworkRecord> = {
            let st = self.networks.lock();
            st.nets
                .values()
                .filter(|n| !n.is_bridge())
                .cloned()
                .collect()
        };
        let mut joined = Vec::new();
        {
            let mut g = c.lock();
            for ep in g.rec.network_settings.networks.values_mut() {
                let Some(net) = plain.iter().find(|n| n.id == ep.network_id) else {
                    continue;
                };
                if ep.endpoint_id.is_empty() {
                    ep.endpoint_id = crate::names::new_id()?;
                    joined.push(net.clone());
                }
            }
        }
        for net in &joined {
            self.network_event("connect", net, Some(&c.id));
        }
        Ok(())
    }

    /// Undoes [`Inner::network_up`] (also after a partial setup or a crash) and tells
    /// the `disconnect` of each network `c` was connected to.
    pub(crate) fn network_down(&self, c: &Container) {
        let left = self.network_teardown(c);
        self.tell_disconnects(&c.id, &left);
    }

    /// Tells the `disconnect` events of container `id` leaving `networks` (after its
    /// `die`, as dockerd orders them).
    pub(crate) fn tell_disconnects(&self, id: &str, networks: &[NetworkRecord]) {
        for net in networks {
            self.network_event("disconnect", net, Some(id));
        }
    }

    /// Drops the published ports, releases the addresses, unbinds the namespace (the
    /// kernel deletes the veth pair with it) and clears the endpoints in the record;
    /// returns the networks it had endpoints on, for their `disconnect` events (see
    /// [`Inner::tell_disconnects`]).
    pub(crate) fn network_teardown(&self, c: &Container) -> Vec<NetworkRecord> {
        let id = c.id.as_str();
        let dns_nets = self.dns_networks_of(c);
        let connected: Vec<String> = c
            .lock()
            .rec
            .network_settings
            .networks
            .values()
            .filter(|ep| !ep.endpoint_id.is_empty())
            .map(|ep| ep.network_id.clone())
            .collect();
        let left: Vec<NetworkRecord>;
        {
            let mut st = self.networks.lock();
            left = connected
                .iter()
                .filter_map(|id| st.nets.get(id).cloned())
                .collect();
            st.ipam.release_holder(id);
            if st.ports.remove(id).is_some() {
                let _ = self.networks.sync_rules(&st);
            }
        }
        let _ = netns::remove(&self.networks.netns_path(id));
        {
            let mut g = c.lock();
            clear_runtime(&mut g.rec.network_settings);
            g.rec.host_veths.clear();
        }
        self.dns_down(id, &dns_nets);
        left
    }

    /// After the engine opens: takes back the addresses and ports of the containers
    /// still running, drops namespaces nobody runs in, and writes the rules.
    pub(crate) fn restore_networks(&self, running: &[ContainerRecord]) {
        let mut st = self.networks.lock();
        let mut keep = BTreeSet::new();
        for rec in running {
            keep.insert(rec.id.clone());
            for ep in rec.network_settings.networks.values() {
                if ep.network_id.is_empty() {
                    continue;
                }
                if let Ok(ip) = ep.ip_address.parse::<Ipv4Addr>() {
                    let _ = st.ipam.allocate(&ep.network_id, &rec.id, Some(ip));
                }
                if let Ok(ip) = ep.global_ipv6_address.parse::<Ipv6Addr>() {
                    let _ = st.ipam.allocate6(&ep.network_id, &rec.id, Some(ip));
                }
            }
            let rules = rules_of(rec, &st);
            if !rules.is_empty() {
                st.ports.insert(rec.id.clone(), rules);
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.networks.netns_dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !keep.contains(&name) {
                    let _ = netns::remove(&e.path());
                }
            }
        }
        let _ = self.networks.sync_rules(&st);
    }
}

/// An endpoint's addresses on one network: always IPv4, IPv6 too where the network
/// has an IPv6 subnet.
#[derive(Debug, Clone, Copy, Default)]
struct Addrs<A> {
    v4: A,
    v6: Option<Ipv6Addr>,
}

/// An endpoint made by [`wire`].
struct Wired {
    ip: Ipv4Addr,
    prefix: u8,
    gateway: Ipv4Addr,
    /// The IPv6 address, its prefix length and the network's IPv6 gateway.
    ip6: Option<(Ipv6Addr, u8, Ipv6Addr)>,
    mac: String,
    endpoint_id: String,
    host_if: String,
}

/// The static addresses an endpoint's settings ask for (`--ip`, `--ip6`), if any.
fn wanted_ips(ep: &EndpointSettings, key: &str) -> EngineResult<Addrs<Option<Ipv4Addr>>> {
    let Some(i) = ep.ipam_config.as_ref() else {
        return Ok(Addrs::default());
    };
    let invalid = |family: &str, a: &str| {
        EngineError::BadParameter(format!("invalid {family} address {a:?} for network {key}"))
    };
    let v4 = (!i.ipv4_address.is_empty())
        .then(|| i.ipv4_address.parse::<Ipv4Addr>())
        .transpose()
        .map_err(|_| invalid("IPv4", &i.ipv4_address))?;
    let v6 = (!i.ipv6_address.is_empty())
        .then(|| i.ipv6_address.parse::<Ipv6Addr>())
        .transpose()
        .map_err(|_| invalid("IPv6", &i.ipv6_address))?;
    Ok(Addrs { v4, v6 })
}

/// An endpoint's link-local addresses (`--link-local-ip`,
/// `IPAMConfig.LinkLocalIPs`) with their prefix lengths (/16 for IPv4, /64 for IPv6),
/// checked as dockerd checks them, in its words: first that each is an address, then
/// that it is a link-local unicast one (169.254.0.0/16, fe80::/10).
pub(crate) fn link_local_ips(ep: &EndpointSettings) -> EngineResult<Vec<(IpAddr, u8)>> {
    let Some(i) = ep.ipam_config.as_ref() else {
        return Ok(Vec::new());
    };
    let parsed: Vec<Result<IpAddr, &str>> = i
        .link_local_ips
        .iter()
        .map(|a| {
            a.parse::<IpAddr>()
                .map(|ip| match ip {
                    // Go keeps an IPv4-mapped address as the IPv4 one.
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                    v4 => v4,
                })
                .map_err(|_| a.as_str())
        })
        .collect();
    let invalid: Vec<&str> = parsed.iter().filter_map(|p| p.err()).collect();
    if !invalid.is_empty() {
        return Err(EngineError::BadParameter(format!(
            "Invalid link-local IP address: [{}]",
            invalid.join(" ")
        )));
    }
    parsed
        .into_iter()
        .flatten()
        .map(|ip| match ip {
            IpAddr::V4(a) if a.is_link_local() => Ok((ip, 16)),
            IpAddr::V6(a) if a.is_unicast_link_local() => Ok((ip, 64)),
            _ => Err(EngineError::BadParameter(format!(
                "invalid link local IP address: {ip}"
            ))),
        })
        .collect()
}

/// Checks an endpoint's `Links` as dockerd does when the container joins the network
/// (`bad format for links: a:b:c`). Their targets are not checked: on a user-defined
/// network a link is a name its container alone resolves, while its target runs.
fn check_links(ep: &EndpointSettings) -> EngineResult<()> {
    for l in &ep.links {
        berth_network::links::parse(l).map_err(EngineError::BadParameter)?;
    }
    Ok(())
}

/// The refusal of a static address on a network whose subnet the daemon picked (or
/// that has no IPv6 subnet), in dockerd's words.
pub(crate) const NO_USER_SUBNET: &str =
    "user specified IP address is supported only when connecting to networks with user configured subnets";

/// Takes the addresses of container `holder` on `net`: the ones in `want`, or the next
/// free ones; an IPv6 one only where the network has an IPv6 subnet. All or nothing.
fn allocate(
    st: &mut State,
    net: &NetworkRecord,
    holder: &str,
    want: Addrs<Option<Ipv4Addr>>,
) -> EngineResult<Addrs<Ipv4Addr>> {
    let fail = |e: berth_network::IpamError| match e {
        berth_network::IpamError::InUse { .. }
        | berth_network::IpamError::NotInSubnet { .. }
        | berth_network::IpamError::Reserved { .. } => EngineError::BadParameter(e.to_string()),
        e => EngineError::internal(format!("an address on network {}", net.name), e),
    };
    let has_v6 = st.ipam.space6(&net.id).is_some();
    if want.v6.is_some() && !has_v6 {
        return Err(EngineError::BadParameter(NO_USER_SUBNET.into()));
    }
    let v4 = st.ipam.allocate(&net.id, holder, want.v4).map_err(fail)?;
    let v6 = if has_v6 {
        match st.ipam.allocate6(&net.id, holder, want.v6) {
            Ok(ip) => Some(ip),
            Err(e) => {
                st.ipam.release(&net.id, holder);
                return Err(fail(e));
            }
        }
    } else {
        None
    };
    Ok(Addrs { v4, v6 })
}

/// The first `ethN` not yet in the namespace.
fn next_ifname(ns_link: &mut Netlink) -> EngineResult<String> {
    for i in 0..1024 {
        let name = format!("eth{i}");
        let found = ns_link.link(&name).map_err(|e| {
            EngineError::internal("listing the interfaces of a container's namespace", e)
        })?;
        if found.is_none() {
            return Ok(name);
        }
    }
    Err(EngineError::internal(
        "naming a container's interface",
        "eth0 to eth1023 are all taken",
    ))
}

/// The interface [`wire`] makes inside the container.
struct Iface<'a> {
    /// `eth0`, `eth1`, …
    name: &'a str,
    /// As given (empty: Docker's address-derived MAC).
    mac: &'a str,
    /// Added beside its address, with their prefix lengths.
    link_local: &'a [(IpAddr, u8)],
    /// Whether the default routes go through the network's gateways.
    default_route: bool,
}

/// A veth pair from `net`'s bridge to `iface` inside the namespace at `path`, with
/// addresses `addrs` and the interface's link-local ones, up, at the network's MTU.
/// The IPv6 address skips duplicate address detection, so it works at once: the
/// daemon alone hands out the subnet's addresses.
fn wire(
    container: &str,
    net: &NetworkRecord,
    path: &Path,
    ns_link: &mut Netlink,
    iface: &Iface<'_>,
    addrs: Addrs<Ipv4Addr>,
) -> EngineResult<Wired> {
    let ifname = iface.name;
    let mac = iface.mac;
    let ip = addrs.v4;
    let ip6 = match (addrs.v6, net.subnet6_net()) {
        (Some(a), Some(s)) => Some((a, s.prefix(), net.gateway6_addr().unwrap_or(a))),
        _ => None,
    };
    let (subnet, gateway) = match (net.subnet, net.gateway) {
        (Some(s), Some(g)) => (s, g),
        _ => {
            return Err(EngineError::internal(
                format!("network {}", net.name),
                "it has no IPv4 address space",
            ))
        }
    };
    let mac = if mac.is_empty() {
        berth_network::mac::from_ipv4(ip)
    } else {
        mac.to_string()
    };
    let mac_bytes = berth_types::mac::parse(&mac).map_err(EngineError::BadParameter)?;
    let endpoint_id = crate::names::new_id()?;
    let host_if = format!("veth{}", &endpoint_id[..7]);
    let ns_file = std::fs::File::open(path).map_err(|e| EngineError::io("opening", path, e))?;
    let fail = |e: berth_network::LinkError| {
        EngineError::internal(
            format!("network interface {ifname} of container {container}"),
            e,
        )
    };
    let mut nl = Netlink::open().map_err(fail)?;
    nl.create_veth_pair(&berth_network::link::VethPair {
        host_name: &host_if,
        master: Some(&net.bridge),
        peer_name: ifname,
        peer_netns: ns_file.as_fd(),
        peer_mac: Some(mac_bytes),
        mtu: net.mtu(),
    })
    .map_err(fail)?;
    let inside = (|| {
        // A container reaching its own published port comes back through its own
        // bridge port (bridged, where br_netfilter is on).
        nl.set_hairpin(&host_if, true)?;
        ns_link.add_address(ifname, IpAddr::V4(ip), subnet.prefix())?;
        if let Some((a, prefix, _)) = ip6 {
            ns_link.add_address_nodad(ifname, IpAddr::V6(a), prefix)?;
        }
        for &(a, prefix) in iface.link_local {
            ns_link.add_address(ifname, a, prefix)?;
        }
        ns_link.set_up(ifname)?;
        if iface.default_route {
            ns_link.add_default_route(gateway)?;
            if let Some((_, _, gw6)) = ip6 {
                ns_link.add_default_route(gw6)?;
            }
        }
        Ok(())
    })();
    if let Err(e) = inside {
        let _ = nl.delete(&host_if);
        return Err(fail(e));
    }
    Ok(Wired {
        ip,
        prefix: subnet.prefix(),
        gateway,
        ip6,
        mac,
        endpoint_id,
        host_if,
    })
}

/// Fills an endpoint's settings from what [`wire`] made. On a user-defined network the
/// container's short id becomes one of its aliases, as dockerd does.
fn record_endpoint(ep: &mut EndpointSettings, net: &NetworkRecord, w: &Wired, container: &str) {
    ep.network_id = net.id.clone();
    ep.endpoint_id = w.endpoint_id.clone();
    ep.gateway = w.gateway.to_string();
    ep.ip_address = w.ip.to_string();
    ep.ip_prefix_len = i64::from(w.prefix);
    if let Some((a, prefix, gw)) = w.ip6 {
        ep.global_ipv6_address = a.to_string();
        ep.global_ipv6_prefix_len = i64::from(prefix);
        ep.ipv6_gateway = gw.to_string();
    }
    ep.mac_address = w.mac.clone();
    let short = &container[..container.len().min(12)];
    if !net.default_bridge && !ep.aliases.iter().any(|a| a == short) {
        ep.aliases.push(short.to_string());
    }
}

/// The top-level fields of `NetworkSettings`, which describe the default bridge's
/// endpoint only.
fn set_default_bridge_fields(ns: &mut NetworkSettings, w: &Wired) {
    ns.endpoint_id = w.endpoint_id.clone();
    ns.gateway = w.gateway.to_string();
    ns.ip_address = w.ip.to_string();
    ns.ip_prefix_len = i64::from(w.prefix);
    if let Some((a, prefix, gw)) = w.ip6 {
        ns.global_ipv6_address = a.to_string();
        ns.global_ipv6_prefix_len = i64::from(prefix);
        ns.ipv6_gateway = gw.to_string();
    }
    ns.mac_address = w.mac.clone();
}

/// Forgets what only a running container has (addresses, endpoint, ports), keeping
/// which networks it is on and what it asked for there.
pub(crate) fn clear_runtime(ns: &mut NetworkSettings) {
    let networks = std::mem::take(&mut ns.networks);
    *ns = NetworkSettings::default();
    ns.networks = networks
        .into_iter()
        .map(|(k, ep)| {
            (
                k,
                EndpointSettings {
                    ipam_config: ep.ipam_config,
                    links: ep.links,
                    aliases: ep.aliases,
                    network_id: ep.network_id,
                    driver_opts: ep.driver_opts,
                    ..Default::default()
                },
            )
        })
        .collect();
}

/// The port rules a running container's record stands for (daemon restart).
fn rules_of(rec: &ContainerRecord, st: &State) -> Vec<PortRule> {
    let Some((ip, ip6, bridge)) = rec.network_settings.networks.values().find_map(|ep| {
        let ip: IpAddr = ep.ip_address.parse().ok()?;
        let ip6: Option<IpAddr> = ep.global_ipv6_address.parse().ok();
        let net = st.nets.get(&ep.network_id)?;
        Some((ip, ip6, net.bridge.clone()))
    }) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, bindings) in &rec.network_settings.ports {
        let Ok((port, proto)) = parse_port_key(key) else {
            continue;
        };
        for b in bindings.iter().flatten() {
            let (Ok(host_ip), Ok(Some((hp, _)))) = (
                ports::parse_host_ip(&b.host_ip),
                ports::parse_host_port(&b.host_port),
            ) else {
                continue;
            };
            let container_ip = match (host_ip, ip6) {
                (IpAddr::V6(_), Some(v6)) => v6,
                (IpAddr::V6(_), None) => continue,
                _ => ip,
            };
            out.push(PortRule {
                proto,
                host_ip: (!host_ip.is_unspecified()).then_some(host_ip),
                host_port: hp,
                container_ip,
                container_port: port,
                bridge: bridge.clone(),
            });
        }
    }
    out
}

/// `80/tcp` (or `80`) as a port and protocol.
pub(crate) fn parse_port_key(key: &str) -> EngineResult<(u16, Proto)> {
    let bad = || EngineError::BadParameter(format!("invalid port specification: {key:?}"));
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(bad());
    }
    let proto = Proto::parse(proto).map_err(|e| EngineError::BadParameter(e.to_string()))?;
    Ok((port, proto))
}

/// Decides the host ports of `rec`'s published ports (`PortBindings`, and with
/// `PublishAllPorts` every exposed port on a free one): the `Ports` map inspect shows
/// and the rules that forward them to `ip` on `bridge`. A container with an IPv6
/// address is published on IPv6 host addresses too: a port given without a host
/// address on `0.0.0.0` and `::` (the same host port), as dockerd shows it.
fn publish(
    rec: &ContainerRecord,
    st: &State,
    ip: Addrs<Ipv4Addr>,
    bridge: &str,
) -> EngineResult<(PortMap, Vec<PortRule>)> {
    let hc = &rec.host_config;
    let mut taken: BTreeSet<Binding> = st
        .ports
        .values()
        .flatten()
        .map(|r| Binding {
            host_ip: r.host_ip.unwrap_or(match r.container_ip {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            }),
            host_port: r.host_port,
            proto: r.proto,
        })
        .collect();
    let port_error = |e: ports::PortError| match e {
        ports::PortError::Allocated { .. } | ports::PortError::InUse { .. } => {
            EngineError::Internal {
                action: "driver failed programming external connectivity on endpoint".into(),
                source: Box::new(e),
            }
        }
        e => EngineError::BadParameter(e.to_string()),
    };
    let mut map = PortMap::new();
    let mut rules = Vec::new();
    let mut keys: BTreeSet<String> = rec.config.exposed_ports.keys().cloned().collect();
    keys.extend(hc.port_bindings.keys().cloned());
    for key in keys {
        let (port, proto) = parse_port_key(&key)?;
        let canonical = format!("{port}/{}", proto.as_str());
        let asked: Vec<PortBinding> = match hc.port_bindings.get(&key) {
            Some(Some(b)) if !b.is_empty() => b.clone(),
            Some(_) => vec![PortBinding::default()],
            None if hc.publish_all_ports => vec![PortBinding::default()],
            None => {
                map.entry(canonical).or_insert(None);
                continue;
            }
        };
        let mut out = Vec::new();
        for b in asked {
            let host_ip = ports::parse_host_ip(&b.host_ip)
                .map_err(|e| EngineError::BadParameter(e.to_string()))?;
            let container_ip = match (host_ip, ip.v6) {
                (IpAddr::V4(_), _) => IpAddr::V4(ip.v4),
                (IpAddr::V6(_), Some(v6)) => IpAddr::V6(v6),
                // An IPv4-only container is not reachable on an IPv6 host address
                // without a proxy: not published there.
                (IpAddr::V6(_), None) => continue,
            };
            let range = ports::parse_host_port(&b.host_port)
                .map_err(|e| EngineError::BadParameter(e.to_string()))?;
            let chosen = ports::choose(host_ip, proto, range, &taken, &ports::host_has)
                .map_err(port_error)?;
            taken.insert(chosen);
            let mut publish_on = vec![(host_ip, chosen.host_port, container_ip)];
            if let (true, Some(v6)) = (b.host_ip.trim().is_empty(), ip.v6) {
                // The same port on `::` where it is free, else (a range) another one.
                let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
                let same = Some((chosen.host_port, chosen.host_port));
                let chosen6 = ports::choose(any6, proto, same, &taken, &ports::host_has)
                    .or_else(|e| match range {
                        Some((lo, hi)) if lo == hi => Err(e),
                        _ => ports::choose(any6, proto, range, &taken, &ports::host_has),
                    })
                    .map_err(port_error)?;
                taken.insert(chosen6);
                publish_on.push((any6, chosen6.host_port, IpAddr::V6(v6)));
            }
            for (host_ip, host_port, container_ip) in publish_on {
                out.push(PortBinding {
                    host_ip: host_ip.to_string(),
                    host_port: host_port.to_string(),
                });
                rules.push(PortRule {
                    proto,
                    host_ip: (!host_ip.is_unspecified()).then_some(host_ip),
                    host_port,
                    container_ip,
                    container_port: port,
                    bridge: bridge.to_string(),
                });
            }
        }
        map.insert(canonical, Some(out));
    }
    Ok((map, rules))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api_types::network::EndpointIpamConfig;

    fn ll(addrs: &[&str]) -> EngineResult<Vec<(IpAddr, u8)>> {
        link_local_ips(&EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                link_local_ips: addrs.iter().map(|a| a.to_string()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn ip(a: &str) -> IpAddr {
        a.parse().unwrap()
    }

    #[test]
    fn link_local_addresses_are_checked_as_dockerd_does() {
        assert_eq!(ll(&[]).unwrap(), vec![]);
        assert_eq!(
            link_local_ips(&EndpointSettings::default()).unwrap(),
            vec![]
        );
        assert_eq!(
            ll(&[
                "169.254.10.10",
                "fe80::10",
                "169.254.0.0",
                "169.254.255.255"
            ])
            .unwrap(),
            vec![
                (ip("169.254.10.10"), 16),
                (ip("fe80::10"), 64),
                (ip("169.254.0.0"), 16),
                (ip("169.254.255.255"), 16)
            ]
        );
        // An IPv4-mapped address is the IPv4 one, as Go parses it.
        assert_eq!(
            ll(&["::ffff:169.254.3.3"]).unwrap(),
            vec![(ip("169.254.3.3"), 16)]
        );
        // Addresses that do not parse are listed together, before any other check.
        assert_eq!(
            ll(&["169.254.1.1", "bogus", "10.1.1.1", "169.254.10.10/24"])
                .unwrap_err()
                .to_string(),
            "Invalid link-local IP address: [bogus 169.254.10.10/24]"
        );
        for (bad, shown) in [
            ("10.1.1.1", "10.1.1.1"),
            ("0.0.0.0", "0.0.0.0"),
            ("224.0.0.1", "224.0.0.1"),
            ("fd00::77", "fd00::77"),
            ("::ffff:10.0.0.7", "10.0.0.7"),
        ] {
            assert_eq!(
                ll(&["169.254.1.1", bad]).unwrap_err().to_string(),
                format!("invalid link local IP address: {shown}"),
                "{bad}"
            );
        }
    }
}
