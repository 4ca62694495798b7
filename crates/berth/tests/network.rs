//! Container networking end to end, with berth's CLI and the unmodified docker CLI: the
//! default bridge (addresses, MACs, routes, /etc/hosts, container to container),
//! published ports in the kernel's data path (from the host's loopback, from another
//! address of the host, hairpin from a container, clashes, `-P`, `port`, `ps`, after
//! restarts of the container and of the daemon), the none/host/container modes, the
//! iptables backend of the firewall (chosen or found by the daemon), and
//! that nothing is left behind. Each daemon runs in a network namespace of its own
//! (common::Daemon), so the traffic never leaves it.

mod common;

use common::net::{links_in_netns, web};
use common::{Cli, Daemon};

/// GETs `url` from inside container `name`, panicking with the last error.
fn container_get(d: &Daemon, cli: &Cli, name: &str, url: &str) -> String {
    common::net::get(d, cli, name, url).unwrap_or_else(|e| panic!("{e}"))
}

/// An address the tests give the daemon's namespace besides loopback, as a host's LAN
/// address: published ports must answer on it too.
const HOST_ADDR: &str = "10.231.0.1";

fn inspect(d: &Daemon, cli: &Cli, name: &str, format: &str) -> String {
    d.ok(cli, &["inspect", "-f", format, name])
        .trim()
        .to_string()
}

/// Adds HOST_ADDR in the daemon's namespace, on one end of a veth pair standing for
/// the host's LAN interface (kernels without the dummy driver have veth).
fn add_host_address(d: &Daemon) {
    for args in [
        vec![
            "link", "add", "lan0", "type", "veth", "peer", "name", "lan1",
        ],
        vec!["addr", "add", &format!("{HOST_ADDR}/24"), "dev", "lan0"],
        vec!["link", "set", "lan1", "up"],
        vec!["link", "set", "lan0", "up"],
    ] {
        let o = d.net_run("ip", &args);
        assert!(o.status.success(), "ip {args:?}: {:?}", common::out_err(&o));
    }
}

/// GETs `url` from the daemon's namespace (the host's side); the
/// web servers of the tests start in the background, so a refused connection is
/// tried again for a few seconds.
fn host_get(d: &Daemon, url: &str) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..25 {
        match host_get_once(d, url) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Err(last)
}

/// One GET of `url` from the daemon's namespace (curl: Debian's busybox wget crashes
/// with a timeout set).
fn host_get_once(d: &Daemon, url: &str) -> Result<String, String> {
    let o = d.net_run("curl", &["-sS", "--max-time", "5", url]);
    let (so, se) = common::out_err(&o);
    if o.status.success() {
        Ok(so)
    } else {
        Err(se)
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn containers_on_the_default_bridge_reach_each_other() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let (a, b) = (format!("{}-a", c.name), format!("{}-b", c.name));
        web(&d, c, &a, &[]);
        web(&d, c, &b, &[]);
        let ip_a = inspect(&d, c, &a, "{{.NetworkSettings.IPAddress}}");
        let ip_b = inspect(&d, c, &b, "{{.NetworkSettings.IPAddress}}");
        assert_ne!(ip_a, ip_b, "{}: both containers got {ip_a}", c.name);
        let gw = inspect(&d, c, &a, "{{.NetworkSettings.Gateway}}");
        let prefix = inspect(&d, c, &a, "{{.NetworkSettings.IPPrefixLen}}");
        let same_subnet = |ip: &str| ip.rsplit_once('.').map(|x| x.0.to_string());
        assert_eq!(
            same_subnet(&ip_a),
            same_subnet(&gw),
            "{ip_a} vs gateway {gw}"
        );
        assert_eq!(
            same_subnet(&ip_b),
            same_subnet(&gw),
            "{ip_b} vs gateway {gw}"
        );
        // Docker's MAC: 02:42 and the address.
        let mac = inspect(&d, c, &a, "{{.NetworkSettings.MacAddress}}");
        let want: Vec<String> = ip_a
            .split('.')
            .map(|o| format!("{:02x}", o.parse::<u8>().expect("octet")))
            .collect();
        assert_eq!(mac, format!("02:42:{}", want.join(":")), "{}", c.name);
        let nets = inspect(
            &d,
            c,
            &a,
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}} {{len $v.EndpointID}} {{len $v.NetworkID}}{{end}}",
        );
        assert_eq!(nets, format!("bridge {ip_a} 64 64"), "{}", c.name);
        // Inside: eth0 with the address and MAC, the default route via the gateway,
        // the own name in /etc/hosts, unprivileged ports from 0.
        let inside = d.ok(
            c,
            &[
                "exec",
                &a,
                "sh",
                "-c",
                "ip -o -4 addr show eth0; ip link show eth0; ip route; cat /etc/hosts; cat /proc/sys/net/ipv4/ping_group_range; cat /proc/sys/net/ipv4/ip_unprivileged_port_start",
            ],
        );
        assert!(
            inside.contains(&format!("inet {ip_a}/{prefix}")),
            "{inside}"
        );
        assert!(inside.contains(&mac), "{inside}");
        assert!(
            inside.contains(&format!("default via {gw} dev eth0")),
            "{inside}"
        );
        let hostname = inspect(&d, c, &a, "{{.Config.Hostname}}");
        assert!(inside.contains(&format!("{ip_a}\t{hostname}")), "{inside}");
        assert!(inside.trim_end().ends_with("\n0"), "{inside}");
        assert!(inside.contains("0\t2147483647\n"), "{inside}");
        // Container to container by address, and to the host's side of the bridge.
        let got = container_get(&d, c, &b, &format!("http://{ip_a}/"));
        assert_eq!(got.trim(), format!("hello-from-{a}"));
        let got = host_get(&d, &format!("http://{ip_b}/")).expect("host to container");
        assert_eq!(got.trim(), format!("hello-from-{b}"));
        // Stats count the traffic per interface.
        let stats = std::process::Command::new("curl")
            .args(["-sS", "--unix-socket"])
            .arg(&d.sock)
            .arg(format!("http://berth/containers/{b}/stats?stream=false"))
            .output()
            .expect("curl");
        let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("stats JSON");
        let eth0 = &stats["networks"]["eth0"];
        assert!(eth0["rx_bytes"].as_u64() > Some(0), "{stats}");
        assert!(eth0["tx_packets"].as_u64() > Some(0), "{stats}");
        assert!(stats["networks"].get("lo").is_none(), "{stats}");
        d.ok(c, &["rm", "-f", &a, &b]);
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn published_ports_answer_without_a_proxy() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    add_host_address(&d);
    for (i, cli) in Cli::all().into_iter().enumerate() {
        let c = &cli;
        let lo_port = 18080 + 10 * i as u16;
        let any_port = lo_port + 1;
        let (a, b) = (format!("{}-lo", c.name), format!("{}-any", c.name));
        web(&d, c, &a, &["-p", &format!("127.0.0.1:{lo_port}:80")]);
        web(&d, c, &b, &["-p", &format!("{any_port}:80")]);
        // From the host's loopback, and from its other address.
        let got = host_get(&d, &format!("http://127.0.0.1:{lo_port}/")).expect("loopback");
        assert_eq!(got.trim(), format!("hello-from-{a}"));
        let got = host_get(&d, &format!("http://127.0.0.1:{any_port}/")).expect("loopback");
        assert_eq!(got.trim(), format!("hello-from-{b}"));
        let got = host_get(&d, &format!("http://{HOST_ADDR}:{any_port}/")).expect("host address");
        assert_eq!(got.trim(), format!("hello-from-{b}"));
        // Published on 127.0.0.1 only: not on the other address.
        assert!(host_get_once(&d, &format!("http://{HOST_ADDR}:{lo_port}/")).is_err());
        // Hairpin: a container through the host's address, to another and to itself.
        let url = format!("http://{HOST_ADDR}:{any_port}/");
        let got = container_get(&d, c, &a, &url);
        assert_eq!(got.trim(), format!("hello-from-{b}"));
        let got = container_get(&d, c, &b, &url);
        assert_eq!(got.trim(), format!("hello-from-{b}"));
        // No proxy process: nothing of the daemon's listens on the port.
        let listeners = d.net_run("ss", &["-Htlnp"]);
        let listeners = String::from_utf8_lossy(&listeners.stdout);
        assert!(
            !listeners.contains(&format!(":{any_port} ")),
            "something listens on {any_port}: {listeners}"
        );
        // Inspect, port, ps.
        let ports = inspect(&d, c, &b, "{{json .NetworkSettings.Ports}}");
        assert_eq!(
            ports,
            format!(r#"{{"80/tcp":[{{"HostIp":"0.0.0.0","HostPort":"{any_port}"}}]}}"#)
        );
        let port = d.ok(c, &["port", &a]);
        assert_eq!(port.trim(), format!("80/tcp -> 127.0.0.1:{lo_port}"));
        let ps = d.ok(c, &["ps", "--format", "{{.Names}} {{.Ports}}"]);
        assert!(
            ps.contains(&format!("{a} 127.0.0.1:{lo_port}->80/tcp")),
            "{ps}"
        );
        // A port taken by another container: a clear error at start, exit 125.
        let o = d.run(
            c,
            &[
                "run",
                "--rm",
                "-p",
                &format!("{any_port}:80"),
                "busybox",
                "true",
            ],
        );
        let (_, se) = common::out_err(&o);
        assert_eq!(o.status.code(), Some(125), "{se}");
        assert!(se.contains("port is already allocated"), "{se}");
        assert!(se.contains(&any_port.to_string()), "{se}");
        // After a restart of the container, the same port answers again.
        d.ok(c, &["restart", "-t", "1", &b]);
        assert_eq!(inspect(&d, c, &b, "{{json .NetworkSettings.Ports}}"), ports);
        host_get(&d, &format!("http://127.0.0.1:{any_port}/")).expect("after restart");
        d.ok(c, &["rm", "-f", &a, &b]);
        // Gone with the containers.
        assert!(host_get_once(&d, &format!("http://127.0.0.1:{any_port}/")).is_err());
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn publish_all_exposed_ports_and_daemon_restart() {
    let Some(mut d) = common::daemon_with_busybox() else {
        return;
    };
    let b = Cli::berth();
    web(
        &d,
        &b,
        "exposed",
        &["--expose", "80", "--expose", "81/udp", "-P"],
    );
    let port = d.ok(&b, &["port", "exposed", "80"]);
    let host_port: u16 = port
        .trim()
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("port output {port:?}"));
    assert!(
        host_port >= 49153,
        "{host_port} is not from the ephemeral range"
    );
    let all = d.ok(&b, &["port", "exposed"]);
    assert!(all.contains("81/udp -> 0.0.0.0:"), "{all}");
    let url = format!("http://127.0.0.1:{host_port}/");
    assert_eq!(
        host_get(&d, &url).expect("published").trim(),
        "hello-from-exposed"
    );
    // The daemon goes away (containers keep running) and comes back: same port.
    d.kill9();
    d.spawn(&[]);
    host_get(&d, &url).unwrap_or_else(|e| panic!("{e}\n{}", common::tail(&d.log(), 20)));
    d.stop();
    d.spawn(&[]);
    host_get(&d, &url).unwrap_or_else(|e| panic!("{e}\n{}", common::tail(&d.log(), 20)));
    // A second container gets another address (the first one's is still held).
    web(&d, &b, "second", &[]);
    let ip1 = inspect(&d, &b, "exposed", "{{.NetworkSettings.IPAddress}}");
    let ip2 = inspect(&d, &b, "second", "{{.NetworkSettings.IPAddress}}");
    assert_ne!(ip1, ip2);
    d.ok(&b, &["rm", "-f", "exposed", "second"]);
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn none_host_and_container_modes() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let none = d.ok(
            c,
            &["run", "--rm", "--net=none", "busybox", "ip", "-o", "link"],
        );
        let names: Vec<&str> = none
            .lines()
            .filter_map(|l| l.split(':').nth(1).map(str::trim))
            .collect();
        assert_eq!(names, vec!["lo"], "{}: {none}", c.name);
        assert!(none.contains("UP"), "lo is down with --net=none: {none}");
        // The host's network: the daemon's namespace, with its bridge.
        let host = d.ok(
            c,
            &["run", "--rm", "--net=host", "busybox", "ip", "-o", "link"],
        );
        assert!(host.contains("berth0"), "{}: {host}", c.name);
        // Sharing another container's stack: the same address.
        let owner = format!("{}-owner", c.name);
        d.ok(
            c,
            &["run", "-d", "--name", &owner, "busybox", "sleep", "60"],
        );
        let ip = inspect(&d, c, &owner, "{{.NetworkSettings.IPAddress}}");
        let joined = d.ok(
            c,
            &[
                "run",
                "--rm",
                &format!("--net=container:{owner}"),
                "busybox",
                "ip",
                "-o",
                "-4",
                "addr",
                "show",
                "eth0",
            ],
        );
        assert!(joined.contains(&format!("inet {ip}/")), "{joined}");
        d.ok(c, &["rm", "-f", &owner]);
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn mac_address_and_unknown_networks() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let b = Cli::berth();
    let out = d.ok(
        &b,
        &[
            "run",
            "--rm",
            "--mac-address",
            "02:42:0a:0b:0c:0d",
            "busybox",
            "cat",
            "/sys/class/net/eth0/address",
        ],
    );
    assert_eq!(out.trim(), "02:42:0a:0b:0c:0d");
    let o = d.run(
        &b,
        &["run", "--rm", "--mac-address", "zz", "busybox", "true"],
    );
    assert_eq!(o.status.code(), Some(125));
    assert!(common::out_err(&o)
        .1
        .contains("zz is not a valid mac address"));
    for cli in Cli::all() {
        let o = d.run(
            &cli,
            &["run", "--rm", "--network", "nope", "busybox", "true"],
        );
        assert_eq!(o.status.code(), Some(125));
        assert!(common::out_err(&o).1.contains("network nope not found"));
    }
}

/// 50 containers with published ports come and go: no veth, no namespace, no rule,
/// no address is left. Fewer when `BERTH_RELIABILITY_RUNS` asks for fewer (the VMs of
/// scripts/vm-test.sh, where a cycle under emulation takes 2 s).
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn run_rm_cycles_leave_nothing_behind() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let cycles = std::env::var("BERTH_RELIABILITY_RUNS")
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
        .map_or(50, |n| n.clamp(1, 50));
    let b = Cli::berth();
    let before = links_in_netns(&d);
    for i in 0..cycles {
        let p = format!("{}:80", 20000 + i);
        d.ok(&b, &["run", "--rm", "-p", &p, "busybox", "true"]);
    }
    // The kernel deletes a veth pair with its namespace, asynchronously.
    assert!(
        common::wait_for(10, || links_in_netns(&d).lines().count()
            == before.lines().count()),
        "before:\n{before}\nafter:\n{}",
        links_in_netns(&d)
    );
    let netns_dir = d.root.join("exec/netns");
    let left: Vec<_> = std::fs::read_dir(&netns_dir)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    let rules = d.net_run("nft", &["list", "ruleset"]);
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(!rules.contains("dport 200"), "port rules left:\n{rules}");
    // Addresses were given back: the next container may take any address, and a
    // container with a fixed one works.
    let ip = d.ok(
        &b,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "ip -o -4 addr show eth0",
        ],
    );
    assert!(ip.contains("inet "), "{ip}");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn links_give_variables_and_a_hosts_entry() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let db = format!("{}-db", c.name);
        d.ok(
            c,
            &[
                "run",
                "-d",
                "--name",
                &db,
                "-e",
                "MYSQL_ROOT_PASSWORD=secret",
                "--expose",
                "3306",
                "busybox",
                "sleep",
                "60",
            ],
        );
        let ip = inspect(&d, c, &db, "{{.NetworkSettings.IPAddress}}");
        let hostname = inspect(&d, c, &db, "{{.Config.Hostname}}");
        let web = format!("{}-web", c.name);
        let out = d.ok(
            c,
            &[
                "run",
                "--name",
                &web,
                "--link",
                &format!("{db}:database"),
                "busybox",
                "sh",
                "-c",
                "env; cat /etc/hosts",
            ],
        );
        for want in [
            format!("DATABASE_NAME=/{web}/database"),
            format!("DATABASE_PORT=tcp://{ip}:3306"),
            format!("DATABASE_PORT_3306_TCP=tcp://{ip}:3306"),
            format!("DATABASE_PORT_3306_TCP_ADDR={ip}"),
            "DATABASE_PORT_3306_TCP_PORT=3306".to_string(),
            "DATABASE_PORT_3306_TCP_PROTO=tcp".to_string(),
            "DATABASE_ENV_MYSQL_ROOT_PASSWORD=secret".to_string(),
            format!("{ip}\tdatabase {hostname} {db}"),
        ] {
            assert!(
                out.contains(&want),
                "{}: {want:?} missing from:\n{out}",
                c.name
            );
        }
        let links = inspect(&d, c, &web, "{{json .HostConfig.Links}}");
        assert_eq!(links, format!(r#"["/{db}:/{web}/database"]"#));
        // `rm --link` takes the link away and leaves both containers.
        d.ok(c, &["rm", "--link", &format!("/{web}/database")]);
        assert_eq!(inspect(&d, c, &web, "{{json .HostConfig.Links}}"), "null");
        let o = d.run(c, &["rm", "--link", &format!("/{web}/database")]);
        assert!(!o.status.success());
        d.ok(c, &["rm", "-f", &web]);
        // A link to a container that does not run: refused at start.
        d.ok(c, &["stop", "-t", "0", &db]);
        let o = d.run(c, &["run", "--rm", "--link", &db, "busybox", "true"]);
        let (_, se) = common::out_err(&o);
        assert_ne!(o.status.code(), Some(0), "{se}");
        assert!(
            se.contains("Cannot link to a non running container"),
            "{se}"
        );
        d.ok(c, &["rm", "-f", &db]);
    }
}

/// A dockerd in the same network namespace (its own bridge, its iptables rules and
/// FORWARD policy DROP): berth's published ports, hairpin and forwarding keep
/// working, and so do dockerd's; also after berth's daemon restarts under dockerd.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn coexists_with_a_dockerd_on_the_same_host() {
    let Some(mut d) = common::daemon_with_busybox() else {
        return;
    };
    add_host_address(&d);
    let netns = d
        .netns
        .clone()
        .expect("the test daemon has its own namespace");
    let Some(dockerd) = common::dockerd::Dockerd::start_networked(&netns, "172.30.0.1/16") else {
        return;
    };
    // dockerd sets FORWARD's policy to DROP when it turns forwarding on itself; berth
    // turned it on first here, so set the policy as it is on such a host.
    let o = d.net_run("iptables", &["-P", "FORWARD", "DROP"]);
    assert!(o.status.success(), "{:?}", common::out_err(&o));
    let fwd = d.net_run("iptables", &["-S", "FORWARD"]);
    let fwd = String::from_utf8_lossy(&fwd.stdout).into_owned();
    assert!(
        fwd.contains("-j DOCKER-USER"),
        "dockerd's chains are missing:\n{fwd}"
    );
    dockerd.import_busybox();
    dockerd.ok(&[
        "run",
        "-d",
        "--name",
        "theirs",
        "-p",
        "18300:80",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-theirs > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let b = Cli::berth();
    web(&d, &b, "ours", &["-p", "18301:80"]);
    for round in 0..2 {
        for (port, who) in [(18300, "theirs"), (18301, "ours")] {
            for host in ["127.0.0.1", HOST_ADDR] {
                let got = host_get(&d, &format!("http://{host}:{port}/")).unwrap_or_else(|e| {
                    panic!(
                        "round {round}: {host}:{port}: {e}\n{}",
                        common::tail(&d.log(), 20)
                    )
                });
                assert_eq!(got.trim(), format!("hello-from-{who}"));
            }
        }
        // Forwarded traffic under DROP: berth's container through the host's address
        // to its own published port and to dockerd's, and dockerd's container to ours.
        for (port, who) in [(18301, "ours"), (18300, "theirs")] {
            let got = container_get(&d, &b, "ours", &format!("http://{HOST_ADDR}:{port}/"));
            assert_eq!(got.trim(), format!("hello-from-{who}"), "round {round}");
        }
        let got = dockerd.ok(&[
            "exec",
            "theirs",
            "wget",
            "-qO-",
            &format!("http://{HOST_ADDR}:18301/"),
        ]);
        assert_eq!(got.trim(), "hello-from-ours", "round {round}");
        // berth's daemon restarts while dockerd runs: its rules come back.
        d.stop();
        d.spawn(&[]);
    }
    // The rest beside dockerd, with both CLIs: a user network (bridged traffic meets
    // FORWARD's DROP with br_netfilter on) where containers reach each other by name
    // and alias, a link on the default bridge, and `none`.
    for cli in Cli::all() {
        let c = &cli;
        let (net, u1, u2) = (
            format!("coexist-{}", c.name),
            format!("u1-{}", c.name),
            format!("u2-{}", c.name),
        );
        let net_id = d.ok(c, &["network", "create", &net]).trim().to_string();
        let bridge = format!("br-{}", &net_id[..12]);
        web(
            &d,
            c,
            &u1,
            &["--network", &net, "--network-alias", "u1-alias"],
        );
        web(&d, c, &u2, &["--network", &net]);
        let got = container_get(&d, c, &u2, "http://u1-alias/");
        assert_eq!(got.trim(), format!("hello-from-{u1}"), "{}", c.name);
        let got = container_get(&d, c, &u1, &format!("http://{u2}/"));
        assert_eq!(got.trim(), format!("hello-from-{u2}"), "{}", c.name);
        let got = d.ok(
            c,
            &[
                "run",
                "--rm",
                "--link",
                "ours:db",
                "busybox",
                "sh",
                "-c",
                "wget -qO- http://db/ && echo \"$DB_NAME\"",
            ],
        );
        assert!(
            got.contains("hello-from-ours") && got.contains("/db"),
            "{}: link beside dockerd: {got}",
            c.name
        );
        let got = d.ok(
            c,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "ls",
                "/sys/class/net",
            ],
        );
        assert_eq!(got.trim(), "lo", "{}", c.name);
        d.ok(c, &["rm", "-f", &u1, &u2]);
        let forward = || {
            String::from_utf8_lossy(&d.net_run("iptables", &["-S", "FORWARD"]).stdout).into_owned()
        };
        assert!(forward().contains(&bridge), "{}: {}", c.name, forward());
        d.ok(c, &["network", "rm", &net]);
        assert!(
            !forward().contains(&bridge),
            "{}: network rm left rules for {bridge}:\n{}",
            c.name,
            forward()
        );
    }
    d.ok(&b, &["rm", "-f", "ours"]);
    dockerd.ok(&["rm", "-f", "theirs"]);
}

/// The seeds' cowsay example through berth's NAT: in a container from a debootstrapped
/// Debian bookworm (scripts/bookworm.sh), apt-get reaches Debian's mirror as the
/// host's own apt does, installs cowsay, and it runs. The daemon runs in the host's
/// network namespace, on a bridge of the test's own, which is removed afterwards with
/// the forwarding setting put back.
#[test]
#[ignore = "needs root and Debian's mirror (scripts/test.sh runs it with --include-ignored)"]
fn apt_through_nat_installs_and_runs_cowsay() {
    let Some(tar) = std::env::var_os("BERTH_BOOKWORM_TAR").filter(|t| !t.is_empty()) else {
        eprintln!("note: BERTH_BOOKWORM_TAR is not set (scripts/bookworm.sh makes one); skipping");
        return;
    };
    const BRIDGE: &str = "berthnat0";
    let _restore = common::net::HostNetRestore::save(BRIDGE);
    let d = Daemon::start_in_host_netns(&["--bridge", BRIDGE]);
    let b = Cli::berth();
    d.ok(&b, &["import", &tar.to_string_lossy(), "bookworm:nat"]);
    let out = d.ok(
        &b,
        &[
            "run", "--rm", "bookworm:nat", "sh", "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cowsay >/dev/null && /usr/games/cowsay hello",
        ],
    );
    assert!(out.contains("< hello >"), "{out}");
    // Its rules go with the daemon; the host keeps no table of berth's.
    drop(d);
    let tables = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .expect("nft");
    let tables = String::from_utf8_lossy(&tables.stdout);
    assert!(!tables.contains(&format!("berth-{BRIDGE}")), "{tables}");
}

/// A resolver of the test's own, on HOST_ADDR:53 in the daemon's namespace: answers
/// `outside.example` with 10.231.0.99, NXDOMAIN for anything else. Stops when dropped.
struct FakeResolver {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeResolver {
    fn start(netns: &std::path::Path) -> FakeResolver {
        use hickory_proto::op::{Message, OpCode, ResponseCode};
        use hickory_proto::rr::rdata::A;
        use hickory_proto::rr::{RData, Record, RecordType};
        let ns = std::fs::File::open(netns).expect("the daemon's namespace");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            use std::os::fd::AsFd;
            rustix::thread::move_into_link_name_space(
                ns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            let sock = std::net::UdpSocket::bind((HOST_ADDR, 53)).expect("bind :53");
            sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
                .expect("timeout");
            ready_tx.send(()).expect("ready");
            let mut buf = [0u8; 1500];
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(question) = q.queries.first().cloned() else {
                    continue;
                };
                let mut r = Message::response(q.id, OpCode::Query);
                r.metadata.recursion_available = true;
                r.add_query(question.clone());
                if question.name().to_ascii() == "outside.example." {
                    if question.query_type() == RecordType::A {
                        r.add_answer(Record::from_rdata(
                            question.name().clone(),
                            60,
                            RData::A(A(std::net::Ipv4Addr::new(10, 231, 0, 99))),
                        ));
                    }
                } else {
                    r.metadata.response_code = ResponseCode::NXDomain;
                }
                if let Ok(bytes) = r.to_vec() {
                    let _ = sock.send_to(&bytes, from);
                }
            }
        });
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the fake resolver started");
        FakeResolver {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeResolver {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// On a user-defined network containers find each other by name, alias and short id
/// at 127.0.0.11 (the embedded DNS server); other names go to the resolvers the
/// container was given (here one of the test's own), and a container on another
/// network does not see the names.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn user_networks_resolve_names_and_forward_the_rest() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    add_host_address(&d);
    let netns = d
        .netns
        .clone()
        .expect("the test daemon has its own namespace");
    let _resolver = FakeResolver::start(&netns);
    for cli in Cli::all() {
        let c = &cli;
        let net = format!("{}-appnet", c.name);
        let other = format!("{}-othernet", c.name);
        d.ok(c, &["network", "create", &net]);
        d.ok(c, &["network", "create", &other]);
        let srv = format!("{}-srv", c.name);
        web(
            &d,
            c,
            &srv,
            &["--network", &net, "--network-alias", "webalias"],
        );
        let id12: String = inspect(&d, c, &srv, "{{.Id}}").chars().take(12).collect();
        let ip = inspect(
            &d,
            c,
            &srv,
            &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        );
        let script = format!(
            "cat /etc/resolv.conf; for n in {srv} webalias {id12} outside.example; do nslookup $n; done; wget -qO- http://webalias/"
        );
        let out = d.ok(
            c,
            &[
                "run",
                "--rm",
                "--network",
                &net,
                "--dns",
                HOST_ADDR,
                "busybox",
                "sh",
                "-c",
                &script,
            ],
        );
        assert!(out.contains("nameserver 127.0.0.11"), "{}: {out}", c.name);
        assert!(out.contains("options ndots:0"), "{}: {out}", c.name);
        assert_eq!(
            out.matches(&format!("Address: {ip}")).count(),
            3,
            "{}: name, alias and short id should resolve to {ip}:\n{out}",
            c.name
        );
        assert!(
            out.contains("Address: 10.231.0.99"),
            "{}: not forwarded:\n{out}",
            c.name
        );
        assert!(
            out.contains(&format!("hello-from-{srv}")),
            "{}: {out}",
            c.name
        );
        // Another network: the name is not there.
        let o = d.run(
            c,
            &[
                "run",
                "--rm",
                "--network",
                &other,
                "busybox",
                "nslookup",
                &srv,
            ],
        );
        let (so, se) = common::out_err(&o);
        assert!(
            !so.contains(&format!("Address: {ip}")),
            "{}: {srv} resolved from another network:\n{so}{se}",
            c.name
        );
        // Gone with the container.
        d.ok(c, &["rm", "-f", &srv]);
        let o = d.run(
            c,
            &[
                "run",
                "--rm",
                "--network",
                &net,
                "busybox",
                "nslookup",
                &srv,
            ],
        );
        assert!(!common::out_err(&o).0.contains(&format!("Address: {ip}")));
        d.ok(c, &["network", "rm", &net, &other]);
    }
}

/// The outside world, as a network namespace of the test's own beside the daemon's: a
/// veth pair (`wan0` with OUTSIDE_GW in the daemon's namespace, OUTSIDE_ADDR on the
/// other end), no route back to the containers' subnets, so only masquerade gets a
/// container answered, and the host's busybox httpd answering `/cgi-bin/ip` with the
/// client address it sees. Stopped and removed when dropped.
struct Outside {
    ns: std::path::PathBuf,
    httpd: std::process::Child,
}

const OUTSIDE_GW: &str = "10.232.0.1";
const OUTSIDE_ADDR: &str = "10.232.0.2";

impl Outside {
    fn start(d: &Daemon) -> Outside {
        let busybox = common::busybox().expect("static busybox");
        let www = d.root.join("outside-www");
        std::fs::create_dir_all(www.join("cgi-bin")).expect("mkdir www");
        let script = www.join("cgi-bin/ip");
        std::fs::write(
            &script,
            "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"$REMOTE_ADDR\"\n",
        )
        .expect("cgi script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let ns = d.root.join("outside-netns");
        common::make_netns(&ns);
        let in_ns = |program: &str| {
            let mut c = std::process::Command::new("nsenter");
            c.arg(format!("--net={}", ns.display()))
                .arg("--")
                .arg(program);
            c
        };
        let httpd = in_ns(busybox.to_str().expect("utf-8 path"))
            .args(["httpd", "-f", "-p", "0.0.0.0:8000", "-h"])
            .arg(&www)
            .spawn()
            .expect("busybox httpd");
        let outside = Outside {
            ns: ns.clone(),
            httpd,
        };
        let pid = outside.httpd.id().to_string();
        let gw = format!("{OUTSIDE_GW}/24");
        for args in [
            vec![
                "link", "add", "wan0", "type", "veth", "peer", "name", "wan1",
            ],
            vec!["addr", "add", &gw, "dev", "wan0"],
            vec!["link", "set", "wan0", "up"],
            // Into the namespace httpd runs in.
            vec!["link", "set", "wan1", "netns", &pid],
        ] {
            let o = d.net_run("ip", &args);
            assert!(o.status.success(), "ip {args:?}: {:?}", common::out_err(&o));
        }
        let addr = format!("{OUTSIDE_ADDR}/24");
        for args in [
            vec!["addr", "add", &addr, "dev", "wan1"],
            vec!["link", "set", "wan1", "up"],
        ] {
            let o = in_ns("ip").args(&args).output().expect("ip");
            assert!(o.status.success(), "ip {args:?}: {:?}", common::out_err(&o));
        }
        outside
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.httpd.kill();
        let _ = self.httpd.wait();
        // The namespace, and the veth pair with it, go with its last reference.
        let _ = std::process::Command::new("umount").arg(&self.ns).status();
        let _ = std::fs::remove_file(&self.ns);
    }
}

/// `iptables-save` and `ip6tables-save` in the daemon's namespace.
fn iptables_rules(d: &Daemon) -> String {
    ["iptables-save", "ip6tables-save"]
        .iter()
        .map(|tool| {
            let o = d.net_run(tool, &[]);
            assert!(o.status.success(), "{tool}: {:?}", common::out_err(&o));
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect()
}

/// The lines of berth's in iptables' rulesets: its chains and its comment.
fn berth_lines(rules: &str) -> Vec<&str> {
    rules
        .lines()
        .filter(|l| l.contains("BERTH") || l.contains("berth"))
        .collect()
}

/// `nft list tables` in the daemon's namespace.
fn nft_tables(d: &Daemon) -> String {
    let o = d.net_run("nft", &["list", "tables"]);
    assert!(o.status.success(), "nft: {:?}", common::out_err(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `--firewall-backend iptables`: published ports (on 127.0.0.1 and on every address),
/// hairpin and outbound masquerade work through berth's iptables chains; a stopped
/// container's DNAT rule goes; the daemon's shutdown takes every chain and rule of
/// berth's out and its start puts them back for the containers still running; no
/// nftables table of berth's appears.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn iptables_backend_publishes_forwards_and_cleans_up() {
    let flags = ["--firewall-backend", "iptables"];
    let Some(mut d) = common::daemon_with_busybox_from(&[], &flags) else {
        return;
    };
    add_host_address(&d);
    let outside = Outside::start(&d);
    let b = Cli::berth();
    web(&d, &b, "lo", &["-p", "127.0.0.1:18500:80"]);
    web(&d, &b, "any", &["-p", "18501:80"]);

    let rules = iptables_rules(&d);
    assert!(
        rules.contains("-A PREROUTING -m comment --comment berth -j BERTH-PRE"),
        "{rules}"
    );
    assert!(rules.contains("--dport 18500"), "{rules}");
    // The default bridge's subnet, masqueraded when it leaves the bridge.
    let ip: std::net::Ipv4Addr = inspect(&d, &b, "any", "{{.NetworkSettings.IPAddress}}")
        .parse()
        .expect("IPv4 address");
    let prefix: u32 = inspect(&d, &b, "any", "{{.NetworkSettings.IPPrefixLen}}")
        .parse()
        .expect("prefix length");
    let network = std::net::Ipv4Addr::from(u32::from(ip) & (u32::MAX << (32 - prefix)));
    let masquerade = format!("-A BERTH-POST -s {network}/{prefix} ! -o berth0 ");
    assert!(
        rules
            .lines()
            .any(|l| l.starts_with(&masquerade) && l.ends_with("-j MASQUERADE")),
        "no {masquerade}…:\n{rules}"
    );
    assert!(!nft_tables(&d).contains("inet berth"), "{}", nft_tables(&d));

    let answers = |d: &Daemon| {
        // From the namespace's loopback and its other address.
        let got = host_get(d, "http://127.0.0.1:18500/").expect("loopback");
        assert_eq!(got.trim(), "hello-from-lo");
        let got = host_get(d, &format!("http://{HOST_ADDR}:18501/")).expect("host address");
        assert_eq!(got.trim(), "hello-from-any");
        let got = host_get(d, "http://127.0.0.1:18501/").expect("loopback, any");
        assert_eq!(got.trim(), "hello-from-any");
        assert!(host_get_once(d, &format!("http://{HOST_ADDR}:18500/")).is_err());
        // Hairpin: through the host's address, to a neighbour and to itself.
        let url = format!("http://{HOST_ADDR}:18501/");
        assert_eq!(container_get(d, &b, "lo", &url).trim(), "hello-from-any");
        assert_eq!(container_get(d, &b, "any", &url).trim(), "hello-from-any");
        // Out through the masquerade: the outside sees the host's address.
        let url = format!("http://{OUTSIDE_ADDR}:8000/cgi-bin/ip");
        assert_eq!(container_get(d, &b, "lo", &url).trim(), OUTSIDE_GW);
    };
    answers(&d);

    // A stopped container's port goes, the other stays.
    d.ok(&b, &["stop", "-t", "1", "any"]);
    let rules = iptables_rules(&d);
    assert!(!rules.contains("--dport 18501"), "{rules}");
    assert!(rules.contains("--dport 18500"), "{rules}");
    assert!(host_get_once(&d, "http://127.0.0.1:18501/").is_err());
    d.ok(&b, &["start", "any"]);

    // The daemon's shutdown takes everything of berth's out while the containers run
    // on; its start puts it back.
    d.stop();
    let rules = iptables_rules(&d);
    assert_eq!(berth_lines(&rules), Vec::<&str>::new(), "{rules}");
    assert!(host_get_once(&d, "http://127.0.0.1:18500/").is_err());
    d.spawn(&flags);
    answers(&d);

    d.ok(&b, &["rm", "-f", "lo", "any"]);
    d.stop();
    let rules = iptables_rules(&d);
    assert_eq!(berth_lines(&rules), Vec::<&str>::new(), "{rules}");
    assert!(!nft_tables(&d).contains("berth"), "{}", nft_tables(&d));
    drop(outside);
    // As the test started it, for the harness's teardown.
    d.spawn(&flags);
}

/// Where nft is missing (here: `BERTH_NFT` names a program that does not exist, the
/// one the daemon would run), the daemon chooses iptables by itself.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn without_nft_the_daemon_chooses_iptables() {
    let Some(mut d) = common::daemon_with_busybox_from(&[("BERTH_NFT", "/nonexistent/nft")], &[])
    else {
        return;
    };
    let b = Cli::berth();
    web(&d, &b, "web", &["-p", "18600:80"]);
    let got = host_get(&d, "http://127.0.0.1:18600/").expect("published port");
    assert_eq!(got.trim(), "hello-from-web");
    let rules = iptables_rules(&d);
    assert!(
        rules
            .lines()
            .any(|l| l.starts_with("-A BERTH-PORTS ") && l.contains("--dport 18600")),
        "{rules}"
    );
    assert!(!nft_tables(&d).contains("berth"), "{}", nft_tables(&d));
    d.ok(&b, &["rm", "-f", "web"]);
    d.stop();
    assert_eq!(berth_lines(&iptables_rules(&d)), Vec::<&str>::new());
    d.spawn(&[]);
}
