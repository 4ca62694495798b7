//! The network endpoints of the Engine API over [`Networks`](super::Networks): create
//! (user-defined bridge networks), inspect, list with Docker's filters, remove, prune,
//! and connecting containers to networks and disconnecting them (wired at once when
//! the container runs), each telling its `network` event.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use berth_api_types::network::{
    EndpointResource, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest, NetworkResource,
};
use berth_api_types::Filters;
use berth_network::{netns, Ipv4Net, Netlink};

use super::{ensure_bridge, ensure_bridge_v6, pick_lock, pick_subnet, NetworkRecord, State};
use crate::api::{EngineError, EngineResult};
use crate::containers::Inner;
use crate::store::ContainerRecord;
use crate::timefmt::{now_nanos, parse_filter_timestamp, rfc3339_nanos};

/// The driver option naming a bridge network's device.
pub const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

/// The longest name Linux gives a network device (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

/// A network's address spaces as a create request gives them, checked.
#[derive(Debug, Default, PartialEq, Eq)]
struct AddressPlan {
    subnet: Option<Ipv4Net>,
    gateway: Option<Ipv4Addr>,
    ip_range: Option<Ipv4Net>,
    subnet6: Option<(Ipv6Addr, u8)>,
    gateway6: Option<Ipv6Addr>,
    ip_range6: Option<(Ipv6Addr, u8)>,
}

/// Checks `IPAM.Config`: at most one IPv4 and one IPv6 subnet, each range and gateway
/// inside its subnet. Messages are dockerd's where it has one.
fn plan_addresses(ipam: Option<&Ipam>) -> EngineResult<AddressPlan> {
    let bad = |m: String| EngineError::BadParameter(m);
    let mut plan = AddressPlan::default();
    let Some(ipam) = ipam else {
        return Ok(plan);
    };
    if !matches!(ipam.driver.as_str(), "" | "default") {
        return Err(bad(format!("plugin {:?} not found", ipam.driver)));
    }
    for c in &ipam.config {
        if !c.auxiliary_addresses.is_empty() {
            return Err(bad(
                "auxiliary addresses (IPAM.Config[].AuxiliaryAddresses, --aux-address) are not supported by berth".into(),
            ));
        }
        if c.subnet.is_empty() {
            return Err(bad(
                "every ip-range or gateway must have a corresponding subnet".into(),
            ));
        }
        let invalid_subnet = || {
            bad(format!(
                "Invalid subnet {} : invalid CIDR address: {}",
                c.subnet, c.subnet
            ))
        };
        if c.subnet.contains(':') {
            if plan.subnet6.is_some() {
                return Err(bad("bridge driver doesn't support multiple subnets".into()));
            }
            let net = parse_v6net(&c.subnet).ok_or_else(invalid_subnet)?;
            if !c.ip_range.is_empty() {
                let r = parse_v6net(&c.ip_range).ok_or_else(|| {
                    bad(format!(
                        "invalid ip range {:?}: expected a CIDR",
                        c.ip_range
                    ))
                })?;
                if !v6_covers(net, r) {
                    return Err(bad(format!("no matching subnet for range {}", c.ip_range)));
                }
                plan.ip_range6 = Some(r);
            }
            if !c.gateway.is_empty() {
                let g: Ipv6Addr = c
                    .gateway
                    .parse()
                    .map_err(|_| bad(format!("invalid gateway address {:?}", c.gateway)))?;
                if !v6_covers(net, (g, 128)) {
                    return Err(bad(format!(
                        "failed to allocate gateway ({g}): Requested address is out of range"
                    )));
                }
                plan.gateway6 = Some(g);
            }
            plan.subnet6 = Some(net);
        } else {
            if plan.subnet.is_some() {
                return Err(bad("bridge driver doesn't support multiple subnets".into()));
            }
            let net: Ipv4Net = c.subnet.parse().map_err(|_| invalid_subnet())?;
            if net.prefix() > 30 {
                return Err(bad(format!(
                    "invalid subnet {}: a bridge network needs a prefix of at most /30",
                    c.subnet
                )));
            }
            if !c.ip_range.is_empty() {
                let r: Ipv4Net = c.ip_range.parse().map_err(|_| {
                    bad(format!(
                        "invalid ip range {:?}: expected a CIDR",
                        c.ip_range
                    ))
                })?;
                if !net.covers(&r) {
                    return Err(bad(format!("no matching subnet for range {}", c.ip_range)));
                }
                plan.ip_range = Some(r);
            }
            if !c.gateway.is_empty() {
                let g: Ipv4Addr = c
                    .gateway
                    .parse()
                    .map_err(|_| bad(format!("invalid gateway address {:?}", c.gateway)))?;
                let (first, last) = net.host_range();
                if g < first || g > last {
                    return Err(bad(format!(
                        "failed to allocate gateway ({g}): Requested address is out of range"
                    )));
                }
                plan.gateway = Some(g);
            }
            plan.subnet = Some(net);
        }
    }
    Ok(plan)
}

/// `fd00:1::/64` as its network address (host bits cleared) and prefix length.
pub(super) fn parse_v6net(s: &str) -> Option<(Ipv6Addr, u8)> {
    let (ip, prefix) = s.split_once('/')?;
    let ip: Ipv6Addr = ip.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    (prefix <= 128).then(|| (Ipv6Addr::from(u128::from(ip) & v6_mask(prefix)), prefix))
}

fn v6_mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// Whether all of `inner` lies in `outer`.
fn v6_covers(outer: (Ipv6Addr, u8), inner: (Ipv6Addr, u8)) -> bool {
    inner.1 >= outer.1 && u128::from(inner.0) & v6_mask(outer.1) == u128::from(outer.0)
}

fn v6_overlaps(a: (Ipv6Addr, u8), b: (Ipv6Addr, u8)) -> bool {
    let m = v6_mask(a.1.min(b.1));
    u128::from(a.0) & m == u128::from(b.0) & m
}

/// The daemon's own networks, which cannot be removed.
pub(crate) fn is_builtin(n: &NetworkRecord) -> bool {
    n.default_bridge || n.driver == "host" || n.driver == "null"
}

fn not_found(r: &str) -> EngineError {
    EngineError::NotFound(format!("network {r} not found"))
}

/// Docker's boolean filter values.
fn filter_bool(key: &str, v: &str) -> EngineResult<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(EngineError::BadParameter(format!(
            "invalid value for filter '{key}', must be \"true\" (or \"1\"), or \"false\" (or \"0\")"
        ))),
    }
}

/// Whether `labels` has none of the `label!` filter's labels.
fn no_excluded_label(f: &Filters, labels: &BTreeMap<String, String>) -> bool {
    !f.get("label!").iter().any(|l| match l.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(l.as_str()),
    })
}

/// A network as the API shows it, with the endpoints given.
pub(crate) fn to_api(
    n: &NetworkRecord,
    containers: BTreeMap<String, EndpointResource>,
) -> NetworkResource {
    let mut config = Vec::new();
    if let Some(s) = n.subnet {
        config.push(IpamConfig {
            subnet: s.to_string(),
            ip_range: n.ip_range.map(|r| r.to_string()).unwrap_or_default(),
            gateway: match (n.list_gateway, n.gateway) {
                (true, Some(g)) => g.to_string(),
                _ => String::new(),
            },
            ..Default::default()
        });
    }
    if let Some(s6) = &n.subnet6 {
        config.push(IpamConfig {
            subnet: s6.clone(),
            ip_range: n.ip_range6.clone().unwrap_or_default(),
            gateway: n.gateway6.map(|g| g.to_string()).unwrap_or_default(),
            ..Default::default()
        });
    }
    NetworkResource {
        name: n.name.clone(),
        id: n.id.clone(),
        created: rfc3339_nanos(n.created),
        scope: "local".into(),
        driver: n.driver.clone(),
        enable_ipv6: n.enable_ipv6,
        ipam: Ipam {
            driver: "default".into(),
            options: n.ipam_options.clone(),
            config,
        },
        internal: n.internal,
        attachable: n.attachable,
        ingress: false,
        config_from: Default::default(),
        config_only: false,
        containers,
        options: n.options.clone(),
        labels: n.labels.clone(),
    }
}

/// The first address of an IPv6 subnet after its network address: the default
/// gateway.
pub(super) fn v6_first_host(net: (Ipv6Addr, u8)) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(net.0).wrapping_add(1))
}

impl Inner {
    fn find_network(&self, r: &str) -> EngineResult<NetworkRecord> {
        self.networks
            .lock()
            .find(r)
            .cloned()
            .ok_or_else(|| not_found(r))
    }

    /// Tells a `network` event about `n` (Actor.ID its id; `name`, `type`, and the
    /// container's id as `container` for `connect` and `disconnect`).
    pub(super) fn network_event(&self, action: &str, n: &NetworkRecord, container: Option<&str>) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), n.name.clone());
        attrs.insert("type".to_string(), n.driver.clone());
        if let Some(c) = container {
            attrs.insert("container".to_string(), c.to_string());
        }
        self.events.emit("network", action, &n.id, attrs);
    }

    /// The records of running containers (the only ones with endpoints).
    fn running_records(&self) -> Vec<ContainerRecord> {
        self.all()
            .iter()
            .map(|c| c.record())
            .filter(|r| r.state.status.is_running())
            .collect()
    }

    /// The endpoints on network `id` of the running containers in `running`, as a
    /// network inspect lists them.
    fn endpoints_on(id: &str, running: &[ContainerRecord]) -> BTreeMap<String, EndpointResource> {
        let mut out = BTreeMap::new();
        for rec in running {
            for ep in rec.network_settings.networks.values() {
                if ep.network_id != id {
                    continue;
                }
                let ipv4_address = if ep.ip_address.is_empty() {
                    String::new()
                } else {
                    format!("{}/{}", ep.ip_address, ep.ip_prefix_len)
                };
                let ipv6_address = if ep.global_ipv6_address.is_empty() {
                    String::new()
                } else {
                    format!("{}/{}", ep.global_ipv6_address, ep.global_ipv6_prefix_len)
                };
                out.insert(
                    rec.id.clone(),
                    EndpointResource {
                        name: rec.name.clone(),
                        endpoint_id: ep.endpoint_id.clone(),
                        mac_address: ep.mac_address.clone(),
                        ipv4_address,
                        ipv6_address,
                    },
                );
            }
        }
        out
    }

    /// `POST /networks/create`: a user-defined bridge network.
    pub fn network_create(&self, req: NetworkCreateRequest) -> EngineResult<NetworkCreateResponse> {
        let bad = |m: String| EngineError::BadParameter(m);
        let name = req.name.clone();
        if name.is_empty() {
            return Err(bad("invalid name: a network needs a name".into()));
        }
        if name.contains('/') || name.chars().any(char::is_whitespace) {
            return Err(bad(format!(
                "invalid network name {name:?}: it may not contain slashes or spaces"
            )));
        }
        match req.driver.as_str() {
            "" | "bridge" => {}
            d @ ("host" | "null") => {
                return Err(EngineError::Forbidden(format!(
                    "only one instance of {d:?} network is allowed"
                )))
            }
            d => return Err(bad(format!("plugin {d:?} not found"))),
        }
        if req.ingress {
            return Err(EngineError::Forbidden(
                "Ingress network can only be global scope network".into(),
            ));
        }
        if req.config_only
            || req
                .config_from
                .as_ref()
                .is_some_and(|c| !c.network.is_empty())
        {
            return Err(bad(
                "config-only networks (--config-only, --config-from) are not supported by berth"
                    .into(),
            ));
        }
        if !matches!(req.scope.as_str(), "" | "local") {
            return Err(bad(format!(
                "scope {:?} is not supported: berth's networks are local",
                req.scope
            )));
        }
        let plan = plan_addresses(req.ipam.as_ref())?;
        if req.enable_ipv6 && plan.subnet6.is_none() {
            return Err(EngineError::Forbidden(
                "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network".into(),
            ));
        }
        for key in [
            "com.docker.network.bridge.enable_icc",
            "com.docker.network.bridge.enable_ip_masquerade",
        ] {
            if let Some(v) = req.options.get(key) {
                if !matches!(v.as_str(), "true" | "false" | "1" | "0") {
                    return Err(bad(format!("invalid value {v:?} for option {key}")));
                }
            }
        }
        let mtu = match req.options.get(super::MTU_OPTION) {
            Some(v) => super::parse_mtu(v).map_err(bad)?,
            None => None,
        };
        let id = crate::names::new_id()?;
        let bridge = match req.options.get(BRIDGE_NAME_OPTION) {
            Some(b) if !b.is_empty() => b.clone(),
            _ => format!("br-{}", &id[..12]),
        };
        if bridge.len() > MAX_IFNAME || bridge.contains('/') || bridge.contains(' ') {
            return Err(bad(format!(
                "invalid bridge name {bridge:?}: at most {MAX_IFNAME} characters, no slashes or spaces"
            )));
        }

        let mut st = self.networks.lock();
        if st.nets.values().any(|n| n.name == name) {
            return Err(EngineError::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        if let Some(other) = st.nets.values().find(|n| n.bridge == bridge) {
            return Err(EngineError::Conflict(format!(
                "bridge name {bridge} is already used by network {}",
                other.name
            )));
        }
        let overlap =
            || EngineError::Forbidden("Pool overlaps with other one on this address space".into());
        // Held until the bridge has its address, so another daemon sees the subnet taken.
        let _pick = pick_lock();
        let subnet = match plan.subnet {
            Some(s) => {
                if st
                    .nets
                    .values()
                    .filter_map(|n| n.subnet)
                    .any(|o| o.overlaps(&s))
                {
                    return Err(overlap());
                }
                s
            }
            None => pick_subnet(&st, None)?,
        };
        if let Some(s6) = plan.subnet6 {
            let taken = st
                .nets
                .values()
                .filter_map(|n| n.subnet6.as_deref().and_then(parse_v6net));
            if taken.into_iter().any(|o| v6_overlaps(o, s6)) {
                return Err(overlap());
            }
        }
        let gateway = plan.gateway.unwrap_or_else(|| subnet.host_range().0);
        st.ipam
            .add_network(&id, subnet, Some(gateway), plan.ip_range)
            .map_err(|e| bad(e.to_string()))?;
        if let Some(s6) = plan.subnet6 {
            let net6 = |(a, p): (Ipv6Addr, u8)| berth_network::Ipv6Net::new(a, p);
            let added = st.ipam.add_network6(
                &id,
                net6(s6).expect("a checked IPv6 subnet"),
                plan.gateway6,
                plan.ip_range6.and_then(net6),
            );
            if let Err(e) = added {
                let _ = st.ipam.remove_network(&id);
                return Err(bad(e.to_string()));
            }
        }
        let existed = Netlink::open()
            .and_then(|mut nl| nl.link(&bridge))
            .is_ok_and(|l| l.is_some());
        let made = ensure_bridge(&bridge, gateway, subnet.prefix(), mtu).and_then(|()| match plan
            .subnet6
        {
            Some(s6) => ensure_bridge_v6(
                &bridge,
                plan.gateway6.unwrap_or_else(|| v6_first_host(s6)),
                s6.1,
            ),
            None => Ok(()),
        });
        if let Err(e) = made {
            let _ = st.ipam.remove_network(&id);
            if !existed {
                let _ = Netlink::open().and_then(|mut nl| nl.delete(&bridge));
            }
            return Err(e);
        }
        let rec = NetworkRecord {
            id: id.clone(),
            name,
            driver: "bridge".into(),
            created: now_nanos(),
            internal: req.internal,
            attachable: req.attachable,
            enable_ipv6: req.enable_ipv6,
            labels: req.labels,
            options: req.options,
            subnet: Some(subnet),
            gateway: Some(gateway),
            ip_range: plan.ip_range,
            user_subnet: plan.subnet.is_some(),
            list_gateway: plan.subnet.is_none() || plan.gateway.is_some(),
            ipam_options: req.ipam.and_then(|i| i.options),
            subnet6: plan.subnet6.map(|(a, p)| format!("{a}/{p}")),
            gateway6: plan.gateway6,
            ip_range6: plan.ip_range6.map(|(a, p)| format!("{a}/{p}")),
            bridge: bridge.clone(),
            default_bridge: false,
        };
        st.nets.insert(id.clone(), rec.clone());
        let saved = self
            .networks
            .save(&st)
            .and_then(|()| self.networks.sync_rules(&st));
        if let Err(e) = saved {
            st.nets.remove(&id);
            let _ = st.ipam.remove_network(&id);
            if !existed {
                let _ = Netlink::open().and_then(|mut nl| nl.delete(&bridge));
            }
            let _ = self.networks.save(&st);
            return Err(e);
        }
        drop(st);
        self.network_event("create", &rec, None);
        Ok(NetworkCreateResponse {
            id,
            warning: String::new(),
        })
    }

    /// `GET /networks/{id}`: with the running containers on it.
    pub fn network_inspect(&self, r: &str) -> EngineResult<NetworkResource> {
        let running = self.running_records();
        let n = self.find_network(r)?;
        Ok(to_api(&n, Self::endpoints_on(&n.id, &running)))
    }

    /// `GET /networks`: filters `name` (part of the name), `id` (part of the id),
    /// `driver`, `label`, `type` (`custom` or `builtin`), `dangling`, `scope`. As
    /// dockerd 20.10, the list leaves `Containers` empty.
    pub fn network_list(&self, f: Filters) -> EngineResult<Vec<NetworkResource>> {
        f.validate(&["name", "id", "driver", "label", "type", "dangling", "scope"])
            .map_err(|e| EngineError::BadParameter(e.to_string()))?;
        for t in f.get("type") {
            if !matches!(t.as_str(), "custom" | "builtin") {
                return Err(EngineError::BadParameter(format!(
                    "invalid filter: 'type'='{t}'"
                )));
            }
        }
        let mut dangling = None;
        for v in f.get("dangling") {
            dangling = Some(filter_bool("dangling", v)?);
        }
        let running = if dangling.is_some() {
            self.running_records()
        } else {
            Vec::new()
        };
        let nets: Vec<NetworkRecord> = self.networks.lock().nets.values().cloned().collect();
        let any_contains = |key: &str, v: &str| {
            f.get(key).is_empty() || f.get(key).iter().any(|x| v.contains(x.as_str()))
        };
        let mut out: Vec<NetworkResource> = nets
            .iter()
            .filter(|n| any_contains("name", &n.name))
            .filter(|n| any_contains("id", &n.id))
            .filter(|n| f.exact_match("driver", &n.driver))
            .filter(|n| f.match_label(&n.labels))
            .filter(|_| f.get("scope").is_empty() || f.get("scope").iter().any(|s| s == "local"))
            .filter(|n| {
                let kind = if is_builtin(n) { "builtin" } else { "custom" };
                f.get("type").is_empty() || f.get("type").iter().any(|t| t == kind)
            })
            .filter(|n| {
                dangling.is_none_or(|d| {
                    let unused = !is_builtin(n) && Self::endpoints_on(&n.id, &running).is_empty();
                    d == unused
                })
            })
            .map(|n| to_api(n, BTreeMap::new()))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `DELETE /networks/{id}`: 403 for the daemon's own networks and while a running
    /// container has an endpoint on it (stopped containers keep naming it, as with
    /// dockerd, and fail to start until they are disconnected).
    pub fn network_remove(&self, r: &str) -> EngineResult<()> {
        let running = self.running_records();
        let n = self.find_network(r)?;
        if is_builtin(&n) {
            return Err(EngineError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        if !Self::endpoints_on(&n.id, &running).is_empty() {
            return Err(EngineError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        self.delete_network(&n)?;
        self.network_event("destroy", &n, None);
        Ok(())
    }

    /// Takes a network out: its bridge, its address space, its record, its rules.
    fn delete_network(&self, n: &NetworkRecord) -> EngineResult<()> {
        let mut st = self.networks.lock();
        if let Ok(mut nl) = Netlink::open() {
            if nl.link(&n.bridge).is_ok_and(|l| l.is_some()) {
                nl.delete(&n.bridge).map_err(|e| {
                    EngineError::internal(
                        format!("removing bridge {} of network {}", n.bridge, n.name),
                        e,
                    )
                })?;
            }
        }
        st.nets.remove(&n.id);
        let _ = st.ipam.remove_network(&n.id);
        self.networks.save(&st)?;
        self.networks.sync_rules(&st)?;
        // The ACCEPT rules nftables' berth keeps in iptables' FORWARD for its bridges (for
        // a dockerd's DROP policy) go with the bridge; with the iptables backend they are
        // in berth's own chain, which the sync rewrote.
        let _ = berth_network::firewall::remove_docker_coexistence(&[&n.bridge]);
        Ok(())
    }

    /// `POST /networks/prune`: every user-defined network no running container is on,
    /// with filters `until`, `label` and `label!`; returns their names.
    pub fn networks_prune(&self, f: Filters) -> EngineResult<Vec<String>> {
        f.validate(&["until", "label", "label!"])
            .map_err(|e| EngineError::BadParameter(e.to_string()))?;
        let mut until = None;
        for u in f.get("until") {
            until =
                Some(parse_filter_timestamp(u).ok_or_else(|| {
                    EngineError::BadParameter(format!("invalid filter 'until={u}'"))
                })?);
        }
        let running = self.running_records();
        let candidates: Vec<NetworkRecord> = self
            .networks
            .lock()
            .nets
            .values()
            .filter(|n| !is_builtin(n))
            .filter(|n| until.is_none_or(|u| n.created < u))
            .filter(|n| f.match_label(&n.labels) && no_excluded_label(&f, &n.labels))
            .filter(|n| Self::endpoints_on(&n.id, &running).is_empty())
            .cloned()
            .collect();
        let mut deleted = Vec::new();
        for n in candidates {
            // As dockerd: a network that cannot go now is left for the next prune.
            if self.delete_network(&n).is_ok() {
                self.network_event("destroy", &n, None);
                deleted.push(n.name.clone());
            }
        }
        self.events.emit("network", "prune", "", BTreeMap::new());
        Ok(deleted)
    }

    /// `POST /networks/{id}/connect`: records the network in the container's settings
    /// and, when it runs, wires it in at once as its next `ethN`.
    pub fn network_connect(&self, r: &str, req: NetworkConnectRequest) -> EngineResult<()> {
        let bad = |m: &str| EngineError::BadParameter(m.to_string());
        let net = self.find_network(r)?;
        let c = self.get(&req.container)?;
        let _op = c.op_lock();
        let rec = c.record();
        let mode = rec.host_config.network_mode.as_str();
        if net.driver == "host" {
            return Err(bad(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        if mode == "host" || mode.starts_with("container:") {
            return Err(bad("container sharing network namespace with another container or host cannot be connected to any other network"));
        }
        if mode == "none" || net.driver == "null" {
            return Err(bad("container cannot be connected to multiple networks with one of the networks in private (none) mode"));
        }
        let asked = req.endpoint_config.unwrap_or_default();
        if let Some(i) = &asked.ipam_config {
            if !i.ipv6_address.is_empty() {
                let Some(s6) = net.subnet6_net() else {
                    return Err(bad(super::endpoint::NO_USER_SUBNET));
                };
                let ip: Ipv6Addr = i.ipv6_address.parse().map_err(|_| {
                    EngineError::BadParameter(format!("invalid IPv6 address {:?}", i.ipv6_address))
                })?;
                if !s6.contains(ip) {
                    return Err(EngineError::BadParameter(format!(
                        "invalid address {ip}: not in subnet of network {}",
                        net.name
                    )));
                }
            }
            if !i.ipv4_address.is_empty() {
                if !net.user_subnet {
                    return Err(bad("user specified IP address is supported only when connecting to networks with user configured subnets"));
                }
                let ip: Ipv4Addr = i.ipv4_address.parse().map_err(|_| {
                    EngineError::BadParameter(format!("invalid IPv4 address {:?}", i.ipv4_address))
                })?;
                if net.subnet.is_some_and(|s| !s.contains(ip)) {
                    return Err(EngineError::BadParameter(format!(
                        "invalid address {ip}: not in subnet of network {}",
                        net.name
                    )));
                }
            }
        }
        if !asked.aliases.is_empty() && net.default_bridge {
            return Err(bad(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
        if !asked.mac_address.is_empty() {
            berth_types::mac::parse(&asked.mac_address).map_err(EngineError::BadParameter)?;
        }
        let running = rec.state.status.is_running();
        let existing = rec
            .network_settings
            .networks
            .iter()
            .find(|(k, ep)| ep.network_id == net.id || **k == net.name)
            .map(|(k, _)| k.clone());
        if running && existing.is_some() {
            return Err(EngineError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, net.name
            )));
        }
        let key = existing.unwrap_or_else(|| net.name.clone());
        let ep = EndpointSettings {
            ipam_config: asked.ipam_config,
            links: asked.links,
            aliases: asked.aliases,
            network_id: net.id.clone(),
            mac_address: asked.mac_address,
            driver_opts: asked.driver_opts,
            ..Default::default()
        };
        let rec = {
            let mut g = c.lock();
            g.rec.network_settings.networks.insert(key.clone(), ep);
            g.rec.clone()
        };
        if running && net.is_bridge() {
            let path = self.networks.netns_path(&rec.id);
            let wired = netns::enter(&path, || Netlink::open().map_err(std::io::Error::other))
                .map_err(|e| {
                    EngineError::internal(format!("network namespace of container {}", rec.id), e)
                })
                .and_then(|mut ns_link| {
                    self.endpoint_up(&c, &rec, &key, &net, &path, &mut ns_link)
                });
            if let Err(e) = wired {
                c.lock().rec.network_settings.networks.remove(&key);
                return Err(e);
            }
            // Its resolver now sees the new network, whose table now has it.
            self.dns_sync(&c, &[])?;
        }
        // Its `connect` event was told as its endpoint was made; a stopped container
        // tells it when it starts, as dockerd does.
        self.save(&c.lock().rec)?;
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`: takes the network out of the container's
    /// settings and, when it runs, deletes its interface there and frees its address.
    pub fn network_disconnect(&self, r: &str, req: NetworkDisconnectRequest) -> EngineResult<()> {
        let c = self.get(&req.container)?;
        let net = self.find_network(r)?;
        let _op = c.op_lock();
        let rec = c.record();
        if net.driver == "host" || rec.host_config.network_mode == "host" {
            return Err(EngineError::BadParameter(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        let key = rec
            .network_settings
            .networks
            .iter()
            .find(|(k, ep)| ep.network_id == net.id || **k == net.name)
            .map(|(k, _)| k.clone())
            .ok_or_else(|| {
                EngineError::BadParameter(format!(
                    "container {} is not connected to network {}",
                    rec.id, net.name
                ))
            })?;
        let mut ports_dropped = false;
        if rec.state.status.is_running() {
            if let Some(veth) = rec.host_veths.get(&net.id) {
                let mut nl = Netlink::open().map_err(|e| {
                    EngineError::internal(format!("disconnecting container {}", rec.id), e)
                })?;
                if nl.link(veth).is_ok_and(|l| l.is_some()) {
                    nl.delete(veth).map_err(|e| {
                        EngineError::internal(
                            format!("removing interface {veth} of container {}", rec.id),
                            e,
                        )
                    })?;
                }
            }
            let mut st: std::sync::MutexGuard<'_, State> = self.networks.lock();
            st.ipam.release(&net.id, &rec.id);
            if let Some(rules) = st.ports.get_mut(&rec.id) {
                let before = rules.len();
                rules.retain(|p| p.bridge != net.bridge);
                ports_dropped = rules.len() != before;
                if rules.is_empty() {
                    st.ports.remove(&rec.id);
                }
            }
            if ports_dropped {
                self.networks.sync_rules(&st)?;
            }
        }
        {
            let mut g = c.lock();
            g.rec.host_veths.remove(&net.id);
            let ns = &mut g.rec.network_settings;
            ns.networks.remove(&key);
            if ports_dropped {
                ns.ports.clear();
            }
            if net.default_bridge {
                ns.endpoint_id.clear();
                ns.gateway.clear();
                ns.ip_address.clear();
                ns.ip_prefix_len = 0;
                ns.global_ipv6_address.clear();
                ns.global_ipv6_prefix_len = 0;
                ns.ipv6_gateway.clear();
                ns.mac_address.clear();
            }
            self.save(&g.rec)?;
        }
        if c.record().state.status.is_running() {
            let _ = self.dns_sync(&c, std::slice::from_ref(&net.id));
        }
        self.network_event("disconnect", &net, Some(&rec.id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipam(configs: &[(&str, &str, &str)]) -> Ipam {
        Ipam {
            driver: String::new(),
            options: None,
            config: configs
                .iter()
                .map(|(s, r, g)| IpamConfig {
                    subnet: s.to_string(),
                    ip_range: r.to_string(),
                    gateway: g.to_string(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    fn err(i: &Ipam) -> String {
        plan_addresses(Some(i)).unwrap_err().to_string()
    }

    #[test]
    fn address_plans_are_checked_as_dockerd_does() {
        assert_eq!(plan_addresses(None).unwrap(), AddressPlan::default());
        let p = plan_addresses(Some(&ipam(&[
            ("10.50.0.0/16", "10.50.1.0/24", "10.50.0.254"),
            ("fd00:70::/64", "", ""),
        ])))
        .unwrap();
        assert_eq!(p.subnet, Some("10.50.0.0/16".parse().unwrap()));
        assert_eq!(p.ip_range, Some("10.50.1.0/24".parse().unwrap()));
        assert_eq!(p.gateway, Some("10.50.0.254".parse().unwrap()));
        assert_eq!(p.subnet6, Some(("fd00:70::".parse().unwrap(), 64)));
        assert_eq!(
            err(&ipam(&[("bogus", "", "")])),
            "Invalid subnet bogus : invalid CIDR address: bogus"
        );
        assert_eq!(
            err(&ipam(&[("10.1.0.0/16", "", ""), ("10.2.0.0/16", "", "")])),
            "bridge driver doesn't support multiple subnets"
        );
        assert_eq!(
            err(&ipam(&[("10.1.0.0/16", "", "10.2.0.1")])),
            "failed to allocate gateway (10.2.0.1): Requested address is out of range"
        );
        assert_eq!(
            err(&ipam(&[("10.1.0.0/16", "10.2.0.0/24", "")])),
            "no matching subnet for range 10.2.0.0/24"
        );
        assert_eq!(
            err(&ipam(&[("", "10.2.0.0/24", "")])),
            "every ip-range or gateway must have a corresponding subnet"
        );
        let mut other = ipam(&[]);
        other.driver = "weird".into();
        assert_eq!(err(&other), "plugin \"weird\" not found");
    }

    #[test]
    fn ipv6_subnets() {
        let n = parse_v6net("fd00:1::5/64").unwrap();
        assert_eq!(n, ("fd00:1::".parse().unwrap(), 64));
        assert!(v6_covers(n, parse_v6net("fd00:1::/80").unwrap()));
        assert!(!v6_covers(n, parse_v6net("fd00:2::/80").unwrap()));
        assert!(v6_overlaps(n, parse_v6net("fd00::/16").unwrap()));
        assert!(!v6_overlaps(n, parse_v6net("fd00:2::/64").unwrap()));
        assert_eq!(v6_first_host(n), "fd00:1::1".parse::<Ipv6Addr>().unwrap());
        assert!(parse_v6net("fd00::/129").is_none());
        assert!(parse_v6net("fd00::").is_none());
    }

    #[test]
    fn inspect_documents_list_the_gateway_as_dockerd_does() {
        let mut n = NetworkRecord {
            id: "abc".into(),
            name: "u".into(),
            driver: "bridge".into(),
            subnet: Some("10.80.0.0/16".parse().unwrap()),
            gateway: Some("10.80.0.1".parse().unwrap()),
            user_subnet: true,
            subnet6: Some("fd00:1::/64".into()),
            ..Default::default()
        };
        let doc = serde_json::to_value(to_api(&n, BTreeMap::new())).unwrap();
        assert_eq!(
            doc["IPAM"],
            serde_json::json!({"Driver": "default", "Options": null,
                "Config": [{"Subnet": "10.80.0.0/16"}, {"Subnet": "fd00:1::/64"}]})
        );
        assert_eq!(doc["Containers"], serde_json::json!({}));
        assert_eq!(doc["Labels"], serde_json::json!({}));
        assert_eq!(doc["ConfigFrom"], serde_json::json!({"Network": ""}));
        n.list_gateway = true;
        n.ipam_options = Some(BTreeMap::new());
        let doc = serde_json::to_value(to_api(&n, BTreeMap::new())).unwrap();
        assert_eq!(doc["IPAM"]["Config"][0]["Gateway"], "10.80.0.1");
        assert_eq!(doc["IPAM"]["Options"], serde_json::json!({}));
    }
}
