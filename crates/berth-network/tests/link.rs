//! berth-network's netlink links, run entirely inside fresh network namespaces: each
//! test's thread unshares its own (which vanishes when the thread ends and the last
//! descriptor to it closes), so the host's links are never touched.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;

use berth_network::link::{LinkError, Netlink};

/// Runs `f` in a new thread moved to a new, empty network namespace.
fn in_new_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        berth_sys::unshare(libc::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        f()
    })
    .join()
    .expect("test thread panicked")
}

/// A second fresh namespace: its /proc/thread-self/ns/net and a netlink socket opened
/// in it. Both keep it alive after the thread that made it has ended.
fn another_netns() -> (OwnedFd, Netlink) {
    let (tx, rx) = mpsc::channel();
    in_new_netns(move || {
        let ns = File::open("/proc/thread-self/ns/net").expect("open own netns");
        let nl = Netlink::open().expect("netlink socket in the second namespace");
        tx.send((OwnedFd::from(ns), nl)).expect("send");
    });
    rx.recv().expect("the second namespace")
}

/// The hairpin flag of bridge port `name` in the calling thread's namespace, from
/// `ip -j -d link show` (run from this thread, so in its namespace).
fn hairpin(name: &str) -> bool {
    let out = std::process::Command::new("ip")
        .args(["-j", "-d", "link", "show", name])
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j output");
    links[0]["linkinfo"]["info_slave_data"]["hairpin"]
        .as_bool()
        .expect("a bridge port's hairpin flag")
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn bridge_veth_move_rename_address_route_delete() {
    in_new_netns(|| {
        let mut nl = Netlink::open().expect("open");
        // A fresh namespace holds only lo, and it is down.
        assert!(!nl.link("lo").unwrap().expect("lo").up);
        assert_eq!(nl.index_of("br-test").unwrap(), None);
        nl.set_up("lo").unwrap();
        assert!(nl.link("lo").unwrap().expect("lo").up);

        nl.create_bridge("br-test").unwrap();
        let bridge = nl.link("br-test").unwrap().expect("bridge exists");
        assert_eq!(bridge.kind.as_deref(), Some("bridge"));
        assert!(!bridge.up);
        nl.add_address("br-test", IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1)), 24)
            .unwrap();
        assert_eq!(
            nl.addresses("br-test").unwrap(),
            vec![(IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1)), 24)]
        );
        nl.set_up("br-test").unwrap();
        assert!(nl.link("br-test").unwrap().unwrap().up);

        nl.create_veth("veth-host", "veth-peer").unwrap();
        let host = nl.link("veth-host").unwrap().expect("host end");
        assert_eq!(host.kind.as_deref(), Some("veth"));
        assert!(nl.index_of("veth-peer").unwrap().is_some());
        nl.set_master("veth-host", "br-test").unwrap();
        nl.set_up("veth-host").unwrap();
        let host = nl.link("veth-host").unwrap().unwrap();
        assert_eq!(host.master, Some(bridge.index));
        assert!(host.up);
        // Hairpin mode, as `ip -d link` reports it (an independent reader).
        assert!(!hairpin("veth-host"));
        nl.set_hairpin("veth-host", true).unwrap();
        assert!(hairpin("veth-host"));
        nl.set_hairpin("veth-host", false).unwrap();
        assert!(!hairpin("veth-host"));

        // The peer moves to a second namespace, where the container would live.
        let (ns, mut peer_nl) = another_netns();
        assert_eq!(peer_nl.index_of("veth-peer").unwrap(), None);
        nl.move_to_netns_fd("veth-peer", ns.as_fd()).unwrap();
        assert_eq!(nl.index_of("veth-peer").unwrap(), None);
        assert!(peer_nl.index_of("veth-peer").unwrap().is_some());

        // There it becomes eth0 with an address, a MAC and a default route, as Docker
        // sets up a container's end.
        peer_nl.rename("veth-peer", "eth0").unwrap();
        assert_eq!(peer_nl.index_of("veth-peer").unwrap(), None);
        let mac = [0x02, 0x42, 0x0a, 0xc8, 0x00, 0x02];
        peer_nl.set_mac("eth0", mac).unwrap();
        peer_nl.set_up("lo").unwrap();
        peer_nl.set_up("eth0").unwrap();
        peer_nl
            .add_address("eth0", IpAddr::V4(Ipv4Addr::new(10, 200, 0, 2)), 24)
            .unwrap();
        peer_nl
            .add_default_route(Ipv4Addr::new(10, 200, 0, 1))
            .unwrap();
        let eth0 = peer_nl.link("eth0").unwrap().expect("eth0");
        assert_eq!(eth0.mac, Some(mac));
        assert!(eth0.up);
        let v4: Vec<_> = peer_nl
            .addresses("eth0")
            .unwrap()
            .into_iter()
            .filter(|(ip, _)| ip.is_ipv4())
            .collect();
        assert_eq!(v4, vec![(IpAddr::V4(Ipv4Addr::new(10, 200, 0, 2)), 24)]);
        assert_eq!(
            peer_nl.default_gateway().unwrap(),
            Some(Ipv4Addr::new(10, 200, 0, 1))
        );
        // The first namespace has no default route of its own.
        assert_eq!(nl.default_gateway().unwrap(), None);

        // Deleting the host end removes the pair, across namespaces.
        nl.delete("veth-host").unwrap();
        assert_eq!(nl.index_of("veth-host").unwrap(), None);
        assert_eq!(peer_nl.index_of("eth0").unwrap(), None);
        nl.delete("br-test").unwrap();
        assert_eq!(nl.index_of("br-test").unwrap(), None);
    });
}

/// What `ip -j addr show dev NAME` says of address `addr`, from this thread's
/// namespace.
fn addr_info(name: &str, addr: &str) -> serde_json::Value {
    let out = std::process::Command::new("ip")
        .args(["-j", "addr", "show", "dev", name])
        .output()
        .expect("run ip");
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j output");
    let info = links[0]["addr_info"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    info.into_iter()
        .find(|a| a["local"] == addr)
        .unwrap_or_else(|| panic!("{addr} not on {name}: {links}"))
}

/// The flags `ip` shows on IPv6 address `addr` of `name`.
fn v6_flags(name: &str, addr: &str) -> Vec<String> {
    let a = addr_info(name, addr);
    ["nodad", "tentative", "dadfailed"]
        .iter()
        .filter(|f| a[**f].as_bool() == Some(true))
        .map(|f| f.to_string())
        .collect()
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn ipv6_address_without_dad_and_default_route() {
    in_new_netns(|| {
        let mut nl = Netlink::open().expect("open");
        std::fs::write("/proc/sys/net/ipv6/conf/all/disable_ipv6", "0").unwrap();
        std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "0").unwrap();
        nl.create_veth("v6a", "v6b").unwrap();
        nl.set_up("v6a").unwrap();
        nl.set_up("v6b").unwrap();
        let a: Ipv6Addr = "fd00:77::2".parse().unwrap();
        let b: Ipv6Addr = "fd00:77::1".parse().unwrap();
        // The kernel refuses one of its own addresses as an IPv6 gateway.
        let gw: Ipv6Addr = "fd00:77::9".parse().unwrap();
        nl.add_address_nodad("v6a", a.into(), 64).unwrap();
        // With DAD the address would stay tentative (unusable) for a second or so.
        assert_eq!(v6_flags("v6a", "fd00:77::2"), vec!["nodad".to_string()]);
        nl.add_address("v6b", b.into(), 64).unwrap();
        assert!(nl.addresses("v6a").unwrap().contains(&(a.into(), 64)));
        assert_eq!(nl.default_gateway6().unwrap(), None);
        nl.add_default_route(gw).unwrap();
        assert_eq!(nl.default_gateway6().unwrap(), Some(gw));
        assert_eq!(nl.default_gateway().unwrap(), None);
        nl.delete("v6a").unwrap();
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn errors_name_the_link() {
    in_new_netns(|| {
        let mut nl = Netlink::open().expect("open");
        nl.create_bridge("br-dup").unwrap();
        let err = nl.create_bridge("br-dup").unwrap_err();
        assert!(
            matches!(&err, LinkError::Netlink { source, .. }
                if source.raw_os_error() == Some(libc::EEXIST)),
            "{err:?}"
        );
        assert!(err.to_string().contains("br-dup"), "{err}");

        let err = nl.delete("no-such0").unwrap_err();
        assert!(matches!(err, LinkError::NoSuchLink(ref n) if n == "no-such0"));

        let err = nl.set_master("br-dup", "no-bridge0").unwrap_err();
        assert!(err.to_string().contains("no-bridge0"), "{err}");

        // A veth name the kernel refuses (over IFNAMSIZ) names both ends.
        let err = nl
            .create_veth("veth-a-name-far-too-long", "peer0")
            .unwrap_err();
        assert!(
            err.to_string().contains("veth-a-name-far-too-long"),
            "{err}"
        );
        nl.delete("br-dup").unwrap();
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn veth_pair_in_one_request_with_mtu_and_bridge_mtu() {
    in_new_netns(|| {
        let mut nl = Netlink::open().expect("open");
        nl.create_bridge("br-mtu").unwrap();
        assert_eq!(nl.link("br-mtu").unwrap().unwrap().mtu, Some(1500));
        nl.set_mtu("br-mtu", 1400).unwrap();
        assert_eq!(nl.link("br-mtu").unwrap().unwrap().mtu, Some(1400));
        let (ns, mut peer_nl) = another_netns();
        nl.create_veth_pair(&berth_network::link::VethPair {
            host_name: "veth-mtu",
            master: Some("br-mtu"),
            peer_name: "eth0",
            peer_netns: ns.as_fd(),
            peer_mac: Some([0x02, 0x42, 0x0a, 0, 0, 2]),
            mtu: Some(1400),
        })
        .unwrap();
        let host = nl.link("veth-mtu").unwrap().expect("host end");
        assert_eq!(host.mtu, Some(1400));
        assert!(host.up);
        let eth0 = peer_nl
            .link("eth0")
            .unwrap()
            .expect("the peer, in its namespace");
        assert_eq!(eth0.mtu, Some(1400));
        assert_eq!(eth0.mac, Some([0x02, 0x42, 0x0a, 0, 0, 2]));
        // The kernel's default where none is given.
        nl.create_veth_pair(&berth_network::link::VethPair {
            host_name: "veth-dflt",
            master: None,
            peer_name: "eth1",
            peer_netns: ns.as_fd(),
            peer_mac: None,
            mtu: None,
        })
        .unwrap();
        assert_eq!(peer_nl.link("eth1").unwrap().unwrap().mtu, Some(1500));
        // An MTU the kernel refuses names the pair.
        let err = nl
            .create_veth_pair(&berth_network::link::VethPair {
                host_name: "veth-bad",
                master: None,
                peer_name: "eth2",
                peer_netns: ns.as_fd(),
                peer_mac: None,
                mtu: Some(50),
            })
            .unwrap_err();
        assert!(err.to_string().contains("veth-bad"), "{err}");
        assert_eq!(peer_nl.index_of("eth2").unwrap(), None);

        // IPv4 addresses carry their subnet's broadcast address (`brd`), as Docker's.
        peer_nl
            .add_address("eth0", IpAddr::V4(Ipv4Addr::new(169, 254, 7, 7)), 16)
            .unwrap();
        peer_nl
            .add_address("eth0", IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), 31)
            .unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .expect("setns into the second namespace");
                let brd = |a: &str| {
                    addr_info("eth0", a)["broadcast"]
                        .as_str()
                        .map(str::to_string)
                };
                assert_eq!(brd("169.254.7.7").as_deref(), Some("169.254.255.255"));
                assert_eq!(brd("10.1.2.3"), None);
            });
        });
        nl.delete("veth-mtu").unwrap();
        nl.delete("veth-dflt").unwrap();
        nl.delete("br-mtu").unwrap();
    });
}
