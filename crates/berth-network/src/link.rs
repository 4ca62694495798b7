//! Network links, addresses and routes over rtnetlink, synchronously: bridges, veth
//! pairs, moving a link into another network namespace, and the queries that show each
//! step took effect. Messages come from `netlink-packet-route`; the socket is
//! `netlink-sys`'s plain blocking one, so the synchronous daemon needs no async runtime.
//!
//! A [`Netlink`] acts on the network namespace its socket was opened in, whichever
//! thread later uses it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE,
    NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

/// What went wrong, naming the link, address or route at fault.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("opening a NETLINK_ROUTE socket: {0}")]
    Open(#[source] io::Error),
    #[error("no such network link: {0}")]
    NoSuchLink(String),
    #[error("{op} {target}: {source}")]
    Netlink {
        op: &'static str,
        target: String,
        #[source]
        source: io::Error,
    },
}

pub type Result<T, E = LinkError> = std::result::Result<T, E>;

/// A link as the kernel reports it (what `ip -d link show` prints, in part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFF_UP: set administratively up.
    pub up: bool,
    /// Index of the bridge (or other controller) the link is attached to.
    pub master: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// The link kind ("bridge", "veth", …), absent for plain devices such as `lo`.
    pub kind: Option<String>,
    pub mtu: Option<u32>,
}

/// What [`Netlink::create_veth_pair`] makes.
#[derive(Debug)]
pub struct VethPair<'a> {
    /// The host end, e.g. `veth1a2b3c4`.
    pub host_name: &'a str,
    /// The bridge the host end joins.
    pub master: Option<&'a str>,
    /// The container end's name in its namespace, e.g. `eth0`.
    pub peer_name: &'a str,
    /// The container's network namespace (an open namespace file).
    pub peer_netns: BorrowedFd<'a>,
    pub peer_mac: Option<[u8; 6]>,
    /// Both ends' MTU (None: the kernel's default, 1500).
    pub mtu: Option<u32>,
}

/// A NETLINK_ROUTE socket bound in the network namespace of the thread that opened it.
#[derive(Debug)]
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(LinkError::Open)?;
        socket.bind_auto().map_err(LinkError::Open)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(LinkError::Open)?;
        // Errors then carry only the errno and the request header, not the whole request.
        socket.set_cap_ack(true).map_err(LinkError::Open)?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// `ip link add NAME type bridge`
    pub fn create_bridge(&mut self, name: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.ack(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "creating bridge",
            name,
        )
    }

    /// `ip link add HOST_NAME type veth peer name PEER_NAME`
    pub fn create_veth(&mut self, host_name: &str, peer_name: &str) -> Result<()> {
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(peer_name.to_owned()));
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::IfName(host_name.to_owned()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.ack(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "creating veth pair",
            &format!("{host_name} <-> {peer_name}"),
        )
    }

    /// One request for a container's interface: a veth pair whose host end is attached
    /// to `master` and set up, and whose peer is made directly inside another network
    /// namespace, under its final name, with its MAC. Nothing is renamed or moved
    /// afterwards, so the peer's name never clashes with the host's own interfaces. The
    /// peer is set up from inside its namespace afterwards: the kernel cannot open a
    /// veth before both ends are linked (ENOTCONN).
    pub fn create_veth_pair(&mut self, v: &VethPair<'_>) -> Result<()> {
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(v.peer_name.to_owned()));
        peer.attributes
            .push(LinkAttribute::NetNsFd(v.peer_netns.as_raw_fd()));
        if let Some(mac) = v.peer_mac {
            peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes
            .push(LinkAttribute::IfName(v.host_name.to_owned()));
        if let Some(mtu) = v.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(bridge) = v.master {
            let index = self.require(bridge)?;
            msg.attributes.push(LinkAttribute::Controller(index));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.ack(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "creating veth pair",
            &format!("{} <-> {} (in the container)", v.host_name, v.peer_name),
        )
    }

    /// The link called `name`, or `None` when there is none in this namespace.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        let replies = match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => replies,
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Ok(None),
            Err(source) => {
                return Err(LinkError::Netlink {
                    op: "looking up link",
                    target: name.to_owned(),
                    source,
                })
            }
        };
        Ok(replies.into_iter().find_map(|reply| match reply {
            RouteNetlinkMessage::NewLink(link) => Some(to_link(link)),
            _ => None,
        }))
    }

    /// The interface index of `name`, or `None` when there is no such link.
    pub fn index_of(&mut self, name: &str) -> Result<Option<u32>> {
        Ok(self.link(name)?.map(|link| link.index))
    }

    /// `ip link set NAME up`
    pub fn set_up(&mut self, name: &str) -> Result<()> {
        let mut msg = self.existing(name)?;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.ack(
            RouteNetlinkMessage::SetLink(msg),
            0,
            "setting up link",
            name,
        )
    }

    /// `ip link set NAME mtu MTU`. A bridge given its MTU keeps it, instead of
    /// following the smallest of its ports'.
    pub fn set_mtu(&mut self, name: &str, mtu: u32) -> Result<()> {
        let mut msg = self.existing(name)?;
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        self.ack(
            RouteNetlinkMessage::SetLink(msg),
            0,
            "setting MTU",
            &format!("{mtu} on {name}"),
        )
    }

    /// `ip link set NAME master BRIDGE`
    pub fn set_master(&mut self, name: &str, bridge: &str) -> Result<()> {
        let bridge_index = self.require(bridge)?;
        let mut msg = self.existing(name)?;
        msg.attributes.push(LinkAttribute::Controller(bridge_index));
        self.ack(
            RouteNetlinkMessage::SetLink(msg),
            0,
            "attaching link",
            &format!("{name} to bridge {bridge}"),
        )
    }

    /// `ip link set NAME type bridge_slave hairpin on|off`: whether the bridge may send a
    /// frame back out of the port it came in on. A container reaching its own published
    /// port needs it where br_netfilter is active: the DNATed packet is then bridged
    /// straight back towards its sender (see [`crate::firewall`]).
    pub fn set_hairpin(&mut self, name: &str, on: bool) -> Result<()> {
        let mut msg = self.existing(name)?;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                on,
            )])),
        ]));
        // Port options go through RTM_NEWLINK on the existing link; RTM_SETLINK ignores
        // IFLA_LINKINFO.
        self.ack(
            RouteNetlinkMessage::NewLink(msg),
            0,
            "setting hairpin mode on bridge port",
            name,
        )
    }

    /// `ip addr add ADDRESS/PREFIX [brd +] dev NAME`: an IPv4 address gets its
    /// subnet's broadcast address, as Docker's netlink library gives it.
    pub fn add_address(&mut self, name: &str, address: IpAddr, prefix: u8) -> Result<()> {
        self.new_address(name, address, prefix, false)
    }

    /// `ip addr add ADDRESS/PREFIX dev NAME nodad`: an IPv6 address usable at once,
    /// without the second or so of duplicate address detection (the engine hands out
    /// the addresses of its subnets itself, so there is no duplicate to detect).
    pub fn add_address_nodad(&mut self, name: &str, address: IpAddr, prefix: u8) -> Result<()> {
        self.new_address(name, address, prefix, true)
    }

    fn new_address(&mut self, name: &str, address: IpAddr, prefix: u8, nodad: bool) -> Result<()> {
        let index = self.require(name)?;
        let mut msg = AddressMessage::default();
        msg.header.family = family(address);
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(address));
        msg.attributes.push(AddressAttribute::Address(address));
        if let (IpAddr::V4(a), 0..=30) = (address, prefix) {
            let host_bits = u32::MAX >> prefix;
            let broadcast = Ipv4Addr::from(u32::from(a) | host_bits);
            msg.attributes.push(AddressAttribute::Broadcast(broadcast));
        }
        if nodad {
            msg.header.flags = AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.ack(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "adding address",
            &format!("{address}/{prefix} to {name}"),
        )
    }

    /// The addresses of `name` with their prefix lengths (`ip addr show dev NAME`), IPv6
    /// link-local ones included.
    pub fn addresses(&mut self, name: &str) -> Result<Vec<(IpAddr, u8)>> {
        let index = self.require(name)?;
        let replies = self
            .request(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                NLM_F_DUMP,
            )
            .map_err(|source| LinkError::Netlink {
                op: "listing addresses of",
                target: name.to_owned(),
                source,
            })?;
        Ok(replies
            .into_iter()
            .filter_map(|reply| match reply {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => {
                    let prefix = a.header.prefix_len;
                    // IPv6 addresses carry IFA_ADDRESS alone; IPv4 ones IFA_LOCAL too
                    // (which differs from IFA_ADDRESS on point-to-point links).
                    let mut local = None;
                    let mut address = None;
                    for attr in a.attributes {
                        match attr {
                            AddressAttribute::Local(ip) => local = Some(ip),
                            AddressAttribute::Address(ip) => address = Some(ip),
                            _ => {}
                        }
                    }
                    local.or(address).map(|ip| (ip, prefix))
                }
                _ => None,
            })
            .collect())
    }

    /// `ip link set NAME netns FD`: moves the link into the network namespace `fd` refers
    /// to (an open /proc/…/ns/net). It leaves this namespace, so later calls here no
    /// longer find it.
    pub fn move_to_netns_fd(&mut self, name: &str, fd: BorrowedFd<'_>) -> Result<()> {
        let mut msg = self.existing(name)?;
        msg.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()));
        self.ack(
            RouteNetlinkMessage::SetLink(msg),
            0,
            "moving link to another network namespace",
            name,
        )
    }

    /// `ip link set NAME name NEW` (the link must be down).
    pub fn rename(&mut self, name: &str, new: &str) -> Result<()> {
        let mut msg = self.existing(name)?;
        msg.attributes.push(LinkAttribute::IfName(new.to_owned()));
        self.ack(
            RouteNetlinkMessage::SetLink(msg),
            0,
            "renaming link",
            &format!("{name} to {new}"),
        )
    }

    /// `ip link set NAME address MAC`
    pub fn set_mac(&mut self, name: &str, mac: [u8; 6]) -> Result<()> {
        let mut msg = self.existing(name)?;
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.ack(
            RouteNetlinkMessage::SetLink(msg),
            0,
            "setting MAC address",
            &format!("{} on {name}", mac.map(|b| format!("{b:02x}")).join(":")),
        )
    }

    /// `ip [-6] route add default via GATEWAY` in the main table.
    pub fn add_default_route(&mut self, gateway: impl Into<IpAddr>) -> Result<()> {
        let gateway: IpAddr = gateway.into();
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(gateway);
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(gateway)));
        self.ack(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            "adding default route via",
            &gateway.to_string(),
        )
    }

    /// The IPv6 default route's gateway in the main table (`ip -6 route show default`).
    pub fn default_gateway6(&mut self) -> Result<Option<Ipv6Addr>> {
        let mut query = RouteMessage::default();
        query.header.address_family = AddressFamily::Inet6;
        let replies = self
            .request(RouteNetlinkMessage::GetRoute(query), NLM_F_DUMP)
            .map_err(|source| LinkError::Netlink {
                op: "listing routes",
                target: "(IPv6, main table)".to_owned(),
                source,
            })?;
        Ok(replies.into_iter().find_map(|reply| match reply {
            RouteNetlinkMessage::NewRoute(r)
                if r.header.destination_prefix_length == 0
                    && r.header.table == RouteHeader::RT_TABLE_MAIN =>
            {
                r.attributes.into_iter().find_map(|attr| match attr {
                    RouteAttribute::Gateway(RouteAddress::Inet6(gw)) => Some(gw),
                    _ => None,
                })
            }
            _ => None,
        }))
    }

    /// The IPv4 default route's gateway in the main table (`ip route show default`).
    pub fn default_gateway(&mut self) -> Result<Option<Ipv4Addr>> {
        let mut query = RouteMessage::default();
        query.header.address_family = AddressFamily::Inet;
        let replies = self
            .request(RouteNetlinkMessage::GetRoute(query), NLM_F_DUMP)
            .map_err(|source| LinkError::Netlink {
                op: "listing routes",
                target: "(IPv4, main table)".to_owned(),
                source,
            })?;
        Ok(replies.into_iter().find_map(|reply| match reply {
            RouteNetlinkMessage::NewRoute(r)
                if r.header.destination_prefix_length == 0
                    && r.header.table == RouteHeader::RT_TABLE_MAIN =>
            {
                r.attributes.into_iter().find_map(|attr| match attr {
                    RouteAttribute::Gateway(RouteAddress::Inet(gw)) => Some(gw),
                    _ => None,
                })
            }
            _ => None,
        }))
    }

    /// `ip link del NAME`. Deleting either end of a veth pair removes both.
    pub fn delete(&mut self, name: &str) -> Result<()> {
        let msg = self.existing(name)?;
        self.ack(RouteNetlinkMessage::DelLink(msg), 0, "deleting link", name)
    }

    fn require(&mut self, name: &str) -> Result<u32> {
        self.index_of(name)?
            .ok_or_else(|| LinkError::NoSuchLink(name.to_owned()))
    }

    /// An empty link message addressed to `name` by index.
    fn existing(&mut self, name: &str) -> Result<LinkMessage> {
        let mut msg = LinkMessage::default();
        msg.header.index = self.require(name)?;
        Ok(msg)
    }

    fn ack(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &'static str,
        target: &str,
    ) -> Result<()> {
        self.request(msg, flags)
            .map(drop)
            .map_err(|source| LinkError::Netlink {
                op,
                target: target.to_owned(),
                source,
            })
    }

    /// Sends one request and collects its replies: up to the ACK for a plain request,
    /// up to NLMSG_DONE for a dump. NLMSG_ERROR becomes the io::Error of its errno.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;

        let mut replies = Vec::new();
        loop {
            let (datagram, _) = self.socket.recv_from_full()?;
            let mut rest = &datagram[..];
            while !rest.is_empty() {
                let len = NetlinkBuffer::new_checked(rest).map_err(invalid)?.length() as usize;
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len])
                    .map_err(invalid)?;
                rest = &rest[len.next_multiple_of(4).min(rest.len())..];
                if reply.header.sequence_number != seq {
                    continue; // a late reply to an earlier request
                }
                match reply.payload {
                    NetlinkPayload::InnerMessage(inner) => replies.push(inner),
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                    NetlinkPayload::Error(_) if !dump => return Ok(replies),
                    NetlinkPayload::Done(_) if dump => return Ok(replies),
                    _ => {}
                }
            }
        }
    }
}

fn invalid(e: netlink_packet_core::DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn family(address: IpAddr) -> AddressFamily {
    match address {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn to_link(msg: LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        up: msg.header.flags.contains(LinkFlags::Up),
        master: None,
        mac: None,
        kind: None,
        mtu: None,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => link.name = name,
            LinkAttribute::Controller(index) => link.master = Some(index),
            LinkAttribute::Mtu(mtu) => link.mtu = Some(mtu),
            LinkAttribute::Address(mac) => link.mac = mac.try_into().ok(),
            LinkAttribute::LinkInfo(infos) => {
                link.kind = infos.into_iter().find_map(|info| match info {
                    LinkInfo::Kind(kind) => Some(kind.to_string()),
                    _ => None,
                })
            }
            _ => {}
        }
    }
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_what_failed() {
        let e = LinkError::Netlink {
            op: "creating bridge",
            target: "br-x".into(),
            source: io::Error::from_raw_os_error(17),
        };
        assert!(e
            .to_string()
            .starts_with("creating bridge br-x: File exists"));
        assert_eq!(
            LinkError::NoSuchLink("eth9".into()).to_string(),
            "no such network link: eth9"
        );
    }
}
