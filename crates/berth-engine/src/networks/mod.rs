//! Networks: the daemon's `bridge`, `host` and `none` networks and the user-defined
//! bridge networks, their records (`DATA_ROOT/network/networks.json`, written
//! durably on every network change), their address spaces, and berth's packet-filter
//! table, which is rebuilt from this state whenever published ports or networks change.
//!
//! Container addresses are not written anywhere of their own: a running container's
//! record holds its endpoints, and opening the engine rebuilds the allocations from
//! the records of the containers still running. So a crash can lose nothing and leak
//! nothing: an address is held exactly as long as a record says a running container
//! has it.
//!
//! [`endpoint`] wires containers in (network namespace, veth pair, addresses, routes,
//! published ports) and out.

pub(crate) mod dns;
pub(crate) mod endpoint;
mod service;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use berth_network::firewall::{self, Backend, Firewall, PortRule};
use berth_network::{Ipam, Ipv4Net, Ipv6Net, Netlink};
use serde::{Deserialize, Serialize};

use crate::api::{EngineError, EngineResult};
use crate::timefmt::now_nanos;

/// The default bridge network's name, and its device's default name.
pub const DEFAULT_BRIDGE: &str = "bridge";
pub const DEFAULT_BRIDGE_DEVICE: &str = "berth0";
/// berth's packet-filter table when the daemon uses the default bridge device.
pub const DEFAULT_TABLE: &str = "berth";

const RECORDS: &str = "networks.json";

/// The driver option giving a bridge network's MTU (its bridge and every veth end).
pub const MTU_OPTION: &str = "com.docker.network.driver.mtu";

/// The MTU Linux gives an Ethernet device, and the default bridge's unless `--mtu`.
pub const DEFAULT_MTU: u32 = 1500;

/// Checks an MTU option as dockerd does (Go's `strconv.Atoi`, then not negative), in
/// its words. Zero means the kernel's default.
pub(crate) fn parse_mtu(v: &str) -> Result<Option<u32>, String> {
    let n: i64 = v.parse().map_err(|e: std::num::ParseIntError| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        format!("failed to parse {MTU_OPTION} value: {v} (strconv.Atoi: parsing {v:?}: {why})")
    })?;
    if n < 0 {
        return Err(format!("invalid MTU number: {n}"));
    }
    // As dockerd, a value no device can have is taken here and refused by the kernel
    // when a container joins.
    Ok((n > 0).then(|| u32::try_from(n).unwrap_or(u32::MAX)))
}

/// One network as berth keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// Unix nanoseconds.
    pub created: i64,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
    /// Driver options (`-o`), as given.
    pub options: BTreeMap<String, String>,
    /// IPv4 address space; None for host and null.
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
    /// The creator gave the IPv4 subnet (it was not picked from the pools): only then
    /// may containers ask for a static address on it, as with dockerd.
    pub user_subnet: bool,
    /// Whether `IPAM.Config` lists the gateway: dockerd lists it when it picked the
    /// subnet or was given the gateway, not when it was given a subnet alone.
    pub list_gateway: bool,
    /// The IPAM driver's options as given (None: not given, shown as `null`).
    pub ipam_options: Option<BTreeMap<String, String>>,
    /// The IPv6 address space, when one was given (`fd00:1::/64`), its gateway (given or
    /// the subnet's first address, put on the bridge) and allocation range as given.
    pub subnet6: Option<String>,
    pub gateway6: Option<std::net::Ipv6Addr>,
    pub ip_range6: Option<String>,
    /// The bridge device; empty for host and null.
    pub bridge: String,
    /// The daemon's own `bridge` network.
    pub default_bridge: bool,
}

impl NetworkRecord {
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// Whether containers on it may talk to each other (`enable_icc`, default on).
    pub fn icc(&self) -> bool {
        self.options
            .get("com.docker.network.bridge.enable_icc")
            .is_none_or(|v| v != "false")
    }

    /// The MTU of its bridge and veth pairs (None: the kernel's default).
    pub fn mtu(&self) -> Option<u32> {
        self.options
            .get(MTU_OPTION)
            .and_then(|v| parse_mtu(v).ok().flatten())
    }

    pub fn masquerade(&self) -> bool {
        self.options
            .get("com.docker.network.bridge.enable_ip_masquerade")
            .is_none_or(|v| v != "false")
    }

    /// The IPv6 subnet, when the network has one.
    pub fn subnet6_net(&self) -> Option<Ipv6Net> {
        self.subnet6.as_deref().and_then(|s| s.parse().ok())
    }

    /// The IPv6 gateway: as given, else the subnet's first address.
    pub fn gateway6_addr(&self) -> Option<std::net::Ipv6Addr> {
        self.gateway6
            .or_else(|| self.subnet6_net().map(|s| s.host_range().0))
    }

    fn ip_range6_net(&self) -> Option<Ipv6Net> {
        self.ip_range6.as_deref().and_then(|s| s.parse().ok())
    }

    /// Gives the network its IPv6 address space in `ipam` (when it has an IPv6
    /// subnet) and returns the subnet with its gateway.
    pub(crate) fn add_space6(
        &self,
        ipam: &mut Ipam,
    ) -> Result<Option<(Ipv6Net, std::net::Ipv6Addr)>, berth_network::IpamError> {
        let Some(s6) = self.subnet6_net() else {
            return Ok(None);
        };
        let gw = ipam.add_network6(&self.id, s6, self.gateway6, self.ip_range6_net())?;
        Ok(Some((s6, gw)))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Records {
    networks: Vec<NetworkRecord>,
}

/// The networks and what uses them; one lock over all of it.
pub(crate) struct State {
    pub nets: BTreeMap<String, NetworkRecord>,
    pub ipam: Ipam,
    /// Published ports of running containers, by container id.
    pub ports: BTreeMap<String, Vec<PortRule>>,
}

impl State {
    /// A network by exact id, exact name, then unique id prefix.
    pub fn find(&self, r: &str) -> Option<&NetworkRecord> {
        if let Some(n) = self.nets.get(r) {
            return Some(n);
        }
        if let Some(n) = self.nets.values().find(|n| n.name == r) {
            return Some(n);
        }
        let mut hits = self
            .nets
            .values()
            .filter(|n| !r.is_empty() && n.id.starts_with(r));
        match (hits.next(), hits.next()) {
            (Some(n), None) => Some(n),
            _ => None,
        }
    }

    pub fn default_bridge(&self) -> Option<&NetworkRecord> {
        self.nets.values().find(|n| n.default_bridge)
    }
}

/// The daemon's networks.
pub(crate) struct Networks {
    dir: PathBuf,
    netns_dir: PathBuf,
    table: String,
    state: Mutex<State>,
    /// Whether this daemon wrote its table (so it has one to take away).
    table_written: std::sync::atomic::AtomicBool,
    /// `--firewall-backend` (None: the first that works).
    backend: Option<Backend>,
    /// Chosen when rules are first needed (a daemon without bridges never asks).
    firewall: std::sync::OnceLock<Firewall>,
}

impl Networks {
    /// Opens the records under `data_root/network`, makes the built-in networks and the
    /// default bridge (`bridge`: its device name, `none` for no default bridge; `bip`:
    /// its address as `GATEWAY/PREFIX`; `mtu`: its MTU, default 1500).
    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        bridge: Option<&str>,
        bip: Option<&str>,
        backend: Option<Backend>,
        mtu: Option<u32>,
    ) -> EngineResult<Networks> {
        let dir = data_root.join("network");
        let netns_dir = exec_root.join("netns");
        for d in [&dir, &netns_dir] {
            std::fs::create_dir_all(d).map_err(|e| EngineError::io("creating", d, e))?;
        }
        let path = dir.join(RECORDS);
        let records: Records = match std::fs::read(&path) {
            Ok(d) => serde_json::from_slice(&d)
                .map_err(|e| EngineError::internal(format!("reading {}", path.display()), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Records::default(),
            Err(e) => return Err(EngineError::io("reading", &path, e)),
        };
        let device = bridge.unwrap_or(DEFAULT_BRIDGE_DEVICE).to_string();
        let table = if device == DEFAULT_BRIDGE_DEVICE || device == "none" {
            DEFAULT_TABLE.to_string()
        } else {
            format!("berth-{device}")
        };
        let mut state = State {
            nets: BTreeMap::new(),
            ipam: Ipam::default(),
            ports: BTreeMap::new(),
        };
        for n in records.networks {
            if !n.default_bridge {
                state.nets.insert(n.id.clone(), n);
            } else if device != "none" {
                // Kept for its id; its device and address are decided again below.
                state.nets.insert(n.id.clone(), n);
            }
        }
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if !state.nets.values().any(|n| n.name == name) {
                let n = NetworkRecord {
                    id: crate::names::new_id()?,
                    name: name.into(),
                    driver: driver.into(),
                    created: now_nanos(),
                    ..Default::default()
                };
                state.nets.insert(n.id.clone(), n);
            }
        }
        let nets = Networks {
            dir,
            netns_dir,
            table,
            state: Mutex::new(state),
            // A table left by an earlier run is replaced at the first sync.
            table_written: std::sync::atomic::AtomicBool::new(false),
            backend,
            firewall: std::sync::OnceLock::new(),
        };
        {
            let mut st = nets.lock();
            if device != "none" {
                nets.open_default_bridge(&mut st, &device, bip, mtu)?;
            }
            // The user networks' bridges (gone after a reboot).
            let user: Vec<NetworkRecord> = st
                .nets
                .values()
                .filter(|n| n.is_bridge() && !n.default_bridge)
                .cloned()
                .collect();
            for n in user {
                if let (Some(subnet), Some(gw)) = (n.subnet, n.gateway) {
                    st.ipam
                        .add_network(&n.id, subnet, Some(gw), n.ip_range)
                        .map_err(|e| EngineError::internal(format!("network {}", n.name), e))?;
                    ensure_bridge(&n.bridge, gw, subnet.prefix(), n.mtu())?;
                    let v6 = n
                        .add_space6(&mut st.ipam)
                        .map_err(|e| EngineError::internal(format!("network {}", n.name), e))?;
                    if let Some((s6, gw6)) = v6 {
                        ensure_bridge_v6(&n.bridge, gw6, s6.prefix())?;
                    }
                }
            }
            nets.save(&st)?;
        }
        Ok(nets)
    }

    fn open_default_bridge(
        &self,
        st: &mut State,
        device: &str,
        bip: Option<&str>,
        mtu: Option<u32>,
    ) -> EngineResult<()> {
        // A device the daemon was given (`--bridge`) keeps its own MTU unless `--mtu`.
        let bridge_mtu = mtu.or((device == DEFAULT_BRIDGE_DEVICE).then_some(DEFAULT_MTU));
        let (subnet, gateway) = match bip {
            Some(b) => parse_bip(b)?,
            None => {
                let _pick = pick_lock();
                // The address the device already has (an earlier run of this daemon).
                let existing = Netlink::open()
                    .ok()
                    .and_then(|mut nl| nl.addresses(device).ok())
                    .and_then(|a| {
                        a.into_iter().find_map(|(ip, p)| match ip {
                            std::net::IpAddr::V4(v4) => Some((v4, p)),
                            _ => None,
                        })
                    });
                match existing.and_then(|(ip, p)| Ipv4Net::new(ip, p).map(|n| (n, ip))) {
                    Some(found) => found,
                    None => {
                        let subnet = pick_subnet(st, None)?;
                        let gw = subnet.host_range().0;
                        ensure_bridge(device, gw, subnet.prefix(), bridge_mtu)?;
                        (subnet, gw)
                    }
                }
            }
        };
        ensure_bridge(device, gateway, subnet.prefix(), bridge_mtu)?;
        let id = st
            .default_bridge()
            .map(|n| n.id.clone())
            .map_or_else(crate::names::new_id, Ok)?;
        let mtu_text = mtu.unwrap_or(DEFAULT_MTU).to_string();
        let mut options = BTreeMap::new();
        for (k, v) in [
            ("com.docker.network.bridge.default_bridge", "true"),
            ("com.docker.network.bridge.enable_icc", "true"),
            ("com.docker.network.bridge.enable_ip_masquerade", "true"),
            ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
            ("com.docker.network.bridge.name", device),
            (MTU_OPTION, mtu_text.as_str()),
        ] {
            options.insert(k.to_string(), v.to_string());
        }
        let created = st.nets.get(&id).map_or_else(now_nanos, |n| n.created);
        st.nets.insert(
            id.clone(),
            NetworkRecord {
                id: id.clone(),
                name: DEFAULT_BRIDGE.into(),
                driver: "bridge".into(),
                created,
                options,
                subnet: Some(subnet),
                gateway: Some(gateway),
                list_gateway: true,
                bridge: device.to_string(),
                default_bridge: true,
                ..Default::default()
            },
        );
        st.ipam
            .add_network(&id, subnet, Some(gateway), None)
            .map_err(|e| EngineError::internal("the default bridge's address space", e))?;
        Ok(())
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("network state lock poisoned")
    }

    /// The default bridge's address: what `--add-host NAME:host-gateway` names.
    pub fn host_gateway(&self) -> Option<Ipv4Addr> {
        self.lock().default_bridge().and_then(|n| n.gateway)
    }

    /// Where a container's network namespace is bound.
    pub fn netns_path(&self, container_id: &str) -> PathBuf {
        self.netns_dir.join(container_id)
    }

    pub fn netns_dir(&self) -> &Path {
        &self.netns_dir
    }

    /// Persists the network records (not the addresses: see the module doc).
    pub fn save(&self, st: &State) -> EngineResult<()> {
        let recs = Records {
            networks: st.nets.values().cloned().collect(),
        };
        let data = serde_json::to_vec_pretty(&recs).expect("network records always serialize");
        crate::store::write_atomic(&self.dir.join(RECORDS), &data)
    }

    /// The packet filter's backend, chosen once.
    pub fn firewall(&self) -> &Firewall {
        self.firewall.get_or_init(|| Firewall::choose(self.backend))
    }

    /// Rebuilds berth's packet-filter rules from `st` (atomically: the old rules stay
    /// until the new ones are in).
    pub fn sync_rules(&self, st: &State) -> EngineResult<()> {
        // Without a bridge network berth has no rules to keep: it leaves the packet
        // filter alone (a daemon with `--bridge none`), taking away only rules it
        // wrote itself (its last user network removed).
        if !st.nets.values().any(|n| n.is_bridge()) {
            if self
                .table_written
                .swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                let _ = self.firewall().remove(&self.table, &[] as &[&str]);
            }
            return Ok(());
        }
        let first = !self
            .table_written
            .swap(true, std::sync::atomic::Ordering::SeqCst);
        let rules = firewall::Ruleset {
            table: self.table.clone(),
            networks: st
                .nets
                .values()
                .filter(|n| n.is_bridge())
                .map(|n| firewall::NetworkRules {
                    bridge: n.bridge.clone(),
                    subnets: n
                        .subnet
                        .iter()
                        .map(|s| (s.network().into(), s.prefix()))
                        .chain(n.subnet6_net().map(|s| (s.network().into(), s.prefix())))
                        .collect(),
                    internal: n.internal,
                    masquerade: n.masquerade(),
                    icc: n.icc(),
                })
                .collect(),
            ports: st.ports.values().flatten().cloned().collect(),
        };
        if first {
            let bridges: Vec<&str> = rules.networks.iter().map(|n| n.bridge.as_str()).collect();
            self.firewall().remove_other(&self.table, &bridges);
        }
        self.firewall()
            .apply(&rules)
            .map_err(|e| EngineError::internal("updating berth's packet-filter rules", e))
    }

    /// Takes berth's rules out of the kernel (daemon shutdown). Bridges stay.
    pub fn remove_rules(&self) {
        if !self.table_written.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let st = self.lock();
        let bridges: Vec<String> = st
            .nets
            .values()
            .filter(|n| n.is_bridge())
            .map(|n| n.bridge.clone())
            .collect();
        let _ = self.firewall().remove(&self.table, &bridges);
    }
}

/// `--bip 172.30.0.1/16`: the bridge's own address and its subnet.
fn parse_bip(b: &str) -> EngineResult<(Ipv4Net, Ipv4Addr)> {
    let bad = || {
        EngineError::BadParameter(format!("invalid --bip {b:?}: expected an IPv4 address with a prefix length, such as 172.30.0.1/16"))
    };
    let (ip, prefix) = b.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let net = Ipv4Net::new(ip, prefix).ok_or_else(bad)?;
    if prefix > 30 || ip == net.network() || ip == net.broadcast() {
        return Err(bad());
    }
    Ok((net, ip))
}

/// Serializes subnet choices between daemons in one network namespace (each sees the
/// other's bridge only once its address is on): held while a socket of that name in the
/// namespace's abstract socket space is bound. The name is per network namespace, as
/// the routes are, and nothing is left on disk; a crashed holder's binding goes with it.
fn pick_lock() -> Option<std::os::unix::net::UnixListener> {
    use std::os::linux::net::SocketAddrExt;
    let addr =
        std::os::unix::net::SocketAddr::from_abstract_name(b"berth-network-subnet-pick").ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match std::os::unix::net::UnixListener::bind_addr(&addr) {
            Ok(l) => return Some(l),
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            // Someone holds it for too long: choose anyway.
            Err(_) => return None,
        }
    }
}

/// A subnet from Docker's default pools overlapping no route of the host and no
/// network of ours (`exclude` aside).
pub(crate) fn pick_subnet(st: &State, exclude: Option<&str>) -> EngineResult<Ipv4Net> {
    let routes = berth_network::routes::read(Path::new("/proc/net/route"))
        .map_err(|e| EngineError::io("reading", Path::new("/proc/net/route"), e))?;
    let taken: Vec<Ipv4Net> = st
        .nets
        .values()
        .filter(|n| Some(n.id.as_str()) != exclude)
        .filter_map(|n| n.subnet)
        .collect();
    berth_network::pool::pick(&berth_network::pool::docker_default_pools(), &taken, &routes)
        .ok_or_else(|| {
            EngineError::Forbidden(
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
            )
        })
}

/// Makes bridge `name` with `gateway/prefix` on it (and `mtu`, where given), up, with
/// what published ports need (route_localnet) and forwarding on.
pub(crate) fn ensure_bridge(
    name: &str,
    gateway: Ipv4Addr,
    prefix: u8,
    mtu: Option<u32>,
) -> EngineResult<()> {
    let fail =
        |e: berth_network::LinkError| EngineError::internal(format!("setting up bridge {name}"), e);
    let mut nl = Netlink::open().map_err(fail)?;
    let link = match nl.link(name).map_err(fail)? {
        Some(link) => link,
        None => {
            nl.create_bridge(name).map_err(fail)?;
            nl.link(name)
                .map_err(fail)?
                .ok_or_else(|| fail(berth_network::LinkError::NoSuchLink(name.to_owned())))?
        }
    };
    if let Some(mtu) = mtu.filter(|m| link.mtu != Some(*m)) {
        // An MTU the kernel refuses for the bridge (too small, or above 1500 before
        // Linux 4.17) is left to its veths: a container joining then fails with the
        // kernel's reason, as with dockerd 20.10, which never sets the bridge's.
        let _ = nl.set_mtu(name, mtu);
    }
    let has = nl
        .addresses(name)
        .map_err(fail)?
        .iter()
        .any(|(ip, p)| *ip == std::net::IpAddr::V4(gateway) && *p == prefix);
    if !has {
        nl.add_address(name, gateway.into(), prefix).map_err(fail)?;
    }
    nl.set_up(name).map_err(fail)?;
    firewall::set_route_localnet(name)
        .map_err(|e| EngineError::internal(format!("setting up bridge {name}"), e))?;
    if !firewall::ip_forward().unwrap_or(false) {
        firewall::set_ip_forward(true)
            .map_err(|e| EngineError::internal("turning IPv4 forwarding on", e))?;
    }
    Ok(())
}

/// Puts the IPv6 gateway `gateway/prefix` on bridge `name` (IPv6 turned on for it),
/// and turns IPv6 forwarding on when it is off: only a daemon with an IPv6 network
/// does (see [`firewall::set_ipv6_forward`]).
pub(crate) fn ensure_bridge_v6(
    name: &str,
    gateway: std::net::Ipv6Addr,
    prefix: u8,
) -> EngineResult<()> {
    let fail =
        |e: berth_network::LinkError| EngineError::internal(format!("setting up bridge {name}"), e);
    let sysctl = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    if std::fs::read_to_string(&sysctl).is_ok_and(|v| v.trim() != "0") {
        std::fs::write(&sysctl, "0").map_err(|e| EngineError::io("writing", &sysctl, e))?;
    }
    let mut nl = Netlink::open().map_err(fail)?;
    let has = nl
        .addresses(name)
        .map_err(fail)?
        .iter()
        .any(|(ip, p)| *ip == std::net::IpAddr::V6(gateway) && *p == prefix);
    if !has {
        nl.add_address_nodad(name, gateway.into(), prefix)
            .map_err(fail)?;
    }
    if !firewall::ipv6_forward().unwrap_or(false) {
        firewall::set_ipv6_forward(true)
            .map_err(|e| EngineError::internal("turning IPv6 forwarding on", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_options_are_checked_as_dockerd_does() {
        assert_eq!(parse_mtu("1400"), Ok(Some(1400)));
        assert_eq!(parse_mtu("+1300"), Ok(Some(1300)));
        assert_eq!(parse_mtu("0"), Ok(None));
        assert_eq!(
            parse_mtu("abc").unwrap_err(),
            "failed to parse com.docker.network.driver.mtu value: abc (strconv.Atoi: parsing \"abc\": invalid syntax)"
        );
        assert_eq!(
            parse_mtu(" 1300").unwrap_err(),
            "failed to parse com.docker.network.driver.mtu value:  1300 (strconv.Atoi: parsing \" 1300\": invalid syntax)"
        );
        assert_eq!(
            parse_mtu("").unwrap_err(),
            "failed to parse com.docker.network.driver.mtu value:  (strconv.Atoi: parsing \"\": invalid syntax)"
        );
        assert!(parse_mtu("99999999999999999999")
            .unwrap_err()
            .ends_with("value out of range)"));
        assert_eq!(parse_mtu("-1").unwrap_err(), "invalid MTU number: -1");
        // Taken as dockerd takes them, for the kernel to refuse when a container joins.
        assert_eq!(parse_mtu("50"), Ok(Some(50)));
        assert_eq!(parse_mtu("99999999999"), Ok(Some(u32::MAX)));
        let mut n = NetworkRecord::default();
        assert_eq!(n.mtu(), None);
        n.options.insert(MTU_OPTION.into(), "1400".into());
        assert_eq!(n.mtu(), Some(1400));
    }
}
