//! User-defined bridge networks end to end, with berth's CLI and the unmodified docker
//! CLI: `network create/ls/inspect/rm/prune` with filters and formats and dockerd's
//! refusals, containers on a user network (addresses from its subnet, `--ip`, reaching
//! each other), `network connect`/`disconnect` of a running container (a second
//! interface comes and goes), nothing left behind after many cycles, and inspect
//! documents shaped as a real dockerd 20.10 shapes them; a network's MTU on its bridge
//! and veths, link-local addresses, links on a user network as names of the linking
//! container, and the `network` events of container life cycles, each compared with a
//! dockerd. Each daemon runs in a network namespace of its own (common::Daemon).

mod common;

use common::net::{get, links_in_netns, web};
use common::{Cli, Daemon};
use serde_json::Value;

/// `inspect -f FORMAT NAME…`, or `network inspect -f FORMAT NAME…` when `what` starts
/// with `network`.
fn inspect(d: &Daemon, cli: &Cli, what: &[&str], format: &str) -> String {
    let mut args = match what.first() {
        Some(&"network") => vec!["network", "inspect", "-f", format],
        _ => vec!["inspect", "-f", format],
    };
    args.extend(what.iter().skip_while(|w| **w == "network"));
    d.ok(cli, &args).trim().to_string()
}

/// Runs a command that must fail, returning its stderr.
fn fails(d: &Daemon, cli: &Cli, args: &[&str]) -> String {
    let o = d.run(cli, args);
    let (so, se) = common::out_err(&o);
    assert!(!o.status.success(), "{} {args:?} succeeded: {so}", cli.name);
    se
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn networks_are_created_listed_inspected_and_removed() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for (i, cli) in Cli::all().iter().enumerate() {
        let c = cli;
        let (a, b) = (format!("{}-a", c.name), format!("{}-b", c.name));
        let subnet = format!("10.{}.0.0/16", 60 + i);
        let range = format!("10.{}.5.0/24", 60 + i);
        let gw = format!("10.{}.0.254", 60 + i);
        let id_a = d
            .ok(
                c,
                &[
                    "network",
                    "create",
                    "--subnet",
                    &subnet,
                    "--ip-range",
                    &range,
                    "--gateway",
                    &gw,
                    "--label",
                    "team=blue",
                    "-o",
                    "com.docker.network.driver.mtu=1400",
                    "--internal",
                    "--attachable",
                    &a,
                ],
            )
            .trim()
            .to_string();
        assert_eq!(id_a.len(), 64, "{}: {id_a}", c.name);
        let id_b = d.ok(c, &["network", "create", &b]).trim().to_string();

        // dockerd's refusals.
        let e = fails(&d, c, &["network", "create", &a]);
        assert!(
            e.contains(&format!("network with name {a} already exists")),
            "{}: {e}",
            c.name
        );
        let inner = format!("10.{}.9.0/24", 60 + i);
        let e = fails(
            &d,
            c,
            &["network", "create", "--subnet", &inner, "overlapping"],
        );
        assert!(
            e.contains("Pool overlaps with other one on this address space"),
            "{}: {e}",
            c.name
        );
        let e = fails(&d, c, &["network", "create", "-d", "nosuchdriver", "x1"]);
        assert!(
            e.contains("plugin \"nosuchdriver\" not found"),
            "{}: {e}",
            c.name
        );
        for builtin in ["bridge", "host", "none"] {
            let e = fails(&d, c, &["network", "rm", builtin]);
            assert!(
                e.contains(&format!(
                    "{builtin} is a pre-defined network and cannot be removed"
                )),
                "{}: {e}",
                c.name
            );
        }

        // Inspect, by name and by id prefix.
        let got = inspect(
            &d,
            c,
            &["network", &a],
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Attachable}} {{range .IPAM.Config}}{{.Subnet}} {{.IPRange}} {{.Gateway}}{{end}} {{.Labels.team}} {{index .Options \"com.docker.network.driver.mtu\"}}",
        );
        assert_eq!(
            got,
            format!("{a} bridge local true true {subnet} {range} {gw} blue 1400"),
            "{}",
            c.name
        );
        let got = inspect(&d, c, &["network", &id_a[..10]], "{{.Id}}");
        assert_eq!(got, id_a);
        // A picked subnet lists its gateway; the device is br- and the id's start.
        let cfg = inspect(&d, c, &["network", &b], "{{json .IPAM.Config}}");
        let cfg: Value = serde_json::from_str(&cfg).expect("IPAM.Config json");
        assert!(cfg[0]["Gateway"].is_string(), "{}: {cfg}", c.name);
        let links = links_in_netns(&d);
        assert!(
            links.contains(&format!("br-{}", &id_b[..12])),
            "{}: no bridge for {b}:\n{links}",
            c.name
        );
        let e = fails(&d, c, &["network", "inspect", "nosuchnet"]);
        assert!(e.contains("network nosuchnet not found"), "{}: {e}", c.name);

        // ls: table, filters, formats, ids.
        let table = d.ok(c, &["network", "ls"]);
        let head = table.lines().next().unwrap_or_default();
        for col in ["NETWORK ID", "NAME", "DRIVER", "SCOPE"] {
            assert!(head.contains(col), "{}: {head}", c.name);
        }
        assert!(
            table.contains(&format!("{}   {a}", &id_a[..12])),
            "{}:\n{table}",
            c.name
        );
        let named = d.ok(
            c,
            &[
                "network",
                "ls",
                "--filter",
                &format!("name={a}"),
                "--format",
                "{{.Name}}",
            ],
        );
        assert_eq!(lines(&named), [a.as_str()], "{}", c.name);
        let labelled = d.ok(
            c,
            &[
                "network",
                "ls",
                "-f",
                "label=team=blue",
                "--format",
                "{{.Name}} {{.Driver}}",
            ],
        );
        assert!(
            lines(&labelled).contains(&format!("{a} bridge")),
            "{}: {labelled}",
            c.name
        );
        assert!(!labelled.contains(&b), "{}: {labelled}", c.name);
        let builtin = d.ok(
            c,
            &[
                "network",
                "ls",
                "-f",
                "type=builtin",
                "--format",
                "{{.Name}}",
            ],
        );
        assert_eq!(lines(&builtin), ["bridge", "host", "none"], "{}", c.name);
        let custom = d.ok(
            c,
            &[
                "network",
                "ls",
                "-f",
                "type=custom",
                "--format",
                "{{.Name}}",
            ],
        );
        assert!(
            lines(&custom).contains(&a) && !custom.contains("none"),
            "{}: {custom}",
            c.name
        );
        let null = d.ok(c, &["network", "ls", "-f", "driver=null", "-q"]);
        assert_eq!(lines(&null).len(), 1, "{}: {null}", c.name);
        assert_eq!(null.trim().len(), 12, "{}: {null}", c.name);
        let full = d.ok(
            c,
            &[
                "network",
                "ls",
                "--no-trunc",
                "-q",
                "-f",
                &format!("id={id_a}"),
            ],
        );
        assert_eq!(lines(&full), [id_a.as_str()], "{}", c.name);
        let e = fails(&d, c, &["network", "ls", "-f", "type=bogus"]);
        assert!(e.contains("invalid filter"), "{}: {e}", c.name);

        // rm several, one missing: the others go, the status says one failed.
        let o = d.run(c, &["network", "rm", &a, "nosuchnet"]);
        assert!(!o.status.success(), "{}", c.name);
        let (so, se) = common::out_err(&o);
        assert_eq!(lines(&so), [a.as_str()], "{}: {se}", c.name);
        assert!(se.contains("nosuchnet"), "{}: {se}", c.name);
        assert!(
            !links_in_netns(&d).contains(&format!("br-{}", &id_a[..12])),
            "{}: bridge of {a} left",
            c.name
        );

        // prune: label filters, built-ins stay.
        let keep = format!("{}-keep", c.name);
        d.ok(c, &["network", "create", "--label", "keep=1", &keep]);
        let out = d.ok(c, &["network", "prune", "-f", "--filter", "label!=keep"]);
        assert!(out.starts_with("Deleted Networks:\n"), "{}: {out}", c.name);
        assert!(lines(&out).contains(&b), "{}: {out}", c.name);
        assert!(!out.contains(&keep), "{}: {out}", c.name);
        let left = d.ok(c, &["network", "ls", "--format", "{{.Name}}"]);
        let mut want = vec!["bridge", keep.as_str(), "host", "none"];
        want.sort();
        assert_eq!(lines(&left), want, "{}", c.name);
        d.ok(c, &["network", "rm", &keep]);
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn containers_on_a_user_network_reach_each_other() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for (i, cli) in Cli::all().iter().enumerate() {
        let c = cli;
        let net = format!("{}-front", c.name);
        let other = format!("{}-back", c.name);
        let subnet = format!("10.{}.0.0/24", 70 + i);
        let fixed = format!("10.{}.0.77", 70 + i);
        d.ok(c, &["network", "create", "--subnet", &subnet, &net]);
        d.ok(c, &["network", "create", &other]);
        let (a, b, x) = (
            format!("{}-na", c.name),
            format!("{}-nb", c.name),
            format!("{}-nx", c.name),
        );
        web(&d, c, &a, &["--network", &net]);
        web(
            &d,
            c,
            &b,
            &["--network", &net, "--ip", &fixed, "--network-alias", "api"],
        );
        web(&d, c, &x, &["--network", &other]);
        let fmt = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
        let ip_a = inspect(&d, c, &[&a], &fmt);
        let ip_b = inspect(&d, c, &[&b], &fmt);
        assert_eq!(ip_b, fixed, "{}: --ip not honoured", c.name);
        let prefix = format!("10.{}.0.", 70 + i);
        assert!(
            ip_a.starts_with(&prefix),
            "{}: {ip_a} not in {subnet}",
            c.name
        );
        assert_ne!(ip_a, ip_b);
        // Not the default bridge: the top-level address fields stay empty.
        assert_eq!(inspect(&d, c, &[&a], "{{.NetworkSettings.IPAddress}}"), "");
        let aliases = inspect(
            &d,
            c,
            &[&b],
            &format!("{{{{json (index .NetworkSettings.Networks \"{net}\").Aliases}}}}"),
        );
        assert!(aliases.contains("\"api\""), "{}: {aliases}", c.name);
        // Inside: eth0 with the address, the default route via the network's gateway.
        let addr = d.ok(c, &["exec", &b, "ip", "-o", "-4", "addr", "show", "eth0"]);
        assert!(addr.contains(&format!("{fixed}/24")), "{}: {addr}", c.name);
        let route = d.ok(c, &["exec", &b, "ip", "route"]);
        assert!(
            route.contains(&format!("default via 10.{}.0.1 dev eth0", 70 + i)),
            "{}: {route}",
            c.name
        );
        // The network lists both while they run.
        let members = inspect(
            &d,
            c,
            &["network", &net],
            "{{range .Containers}}{{.Name}}={{.IPv4Address}} {{end}}",
        );
        assert!(
            members.contains(&format!("{b}={fixed}/24")),
            "{}: {members}",
            c.name
        );
        assert!(
            members.contains(&format!("{a}={ip_a}/24")),
            "{}: {members}",
            c.name
        );

        let page = get(&d, c, &a, &format!("http://{ip_b}/"))
            .unwrap_or_else(|e| panic!("{}: {a} -> {b}: {e}", c.name));
        assert_eq!(page.trim(), format!("hello-from-{b}"));
        let page = get(&d, c, &b, &format!("http://{ip_a}/"))
            .unwrap_or_else(|e| panic!("{}: {b} -> {a}: {e}", c.name));
        assert_eq!(page.trim(), format!("hello-from-{a}"));
        // Another network cannot reach them (berth's firewall drops it).
        let o = d.run(
            c,
            &[
                "exec",
                &x,
                "timeout",
                "3",
                "wget",
                "-qO-",
                &format!("http://{ip_a}/"),
            ],
        );
        assert!(
            !o.status.success(),
            "{}: {x} reached {a} across networks",
            c.name
        );

        // In use: not removable while they run; removable once they are gone.
        let e = fails(&d, c, &["network", "rm", &net]);
        assert!(
            e.contains("has active endpoints") && e.contains(&net),
            "{}: {e}",
            c.name
        );
        // A static address in use is refused, naming it.
        let e = fails(
            &d,
            c,
            &[
                "run",
                "--rm",
                "--network",
                &net,
                "--ip",
                &fixed,
                "busybox",
                "true",
            ],
        );
        assert!(e.contains(&fixed), "{}: {e}", c.name);
        d.ok(c, &["rm", "-f", &a, &b, &x]);
        d.ok(c, &["network", "rm", &net, &other]);
    }
}

/// The MTU of the link in the daemon's network namespace whose `ip -o link` line
/// starts with `start` (`berth0:`, `12: `).
fn host_mtu(d: &Daemon, start: &str) -> String {
    let links = links_in_netns(d);
    let line = links
        .lines()
        .find(|l| {
            l.starts_with(start) || l.split_once(' ').is_some_and(|(_, r)| r.starts_with(start))
        })
        .unwrap_or_else(|| panic!("no link {start:?} in:\n{links}"));
    line.split_whitespace()
        .skip_while(|w| *w != "mtu")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// Asserts that `ifname` inside running container `name`, and the host end of its
/// veth (the host link whose index is the container end's `iflink`), have MTU `want`.
fn assert_mtu(d: &Daemon, cli: &Cli, name: &str, ifname: &str, want: &str) {
    let sys = |file: &str| {
        let path = format!("/sys/class/net/{ifname}/{file}");
        d.ok(cli, &["exec", name, "cat", &path]).trim().to_string()
    };
    let host_end = host_mtu(d, &format!("{}: ", sys("iflink")));
    assert_eq!(
        (sys("mtu"), host_end),
        (want.to_string(), want.to_string()),
        "{}: {name} {ifname}",
        cli.name
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn mtu_reaches_the_bridge_and_both_veth_ends() {
    if common::busybox().is_none() {
        return;
    }
    let d = Daemon::start_with(&["--mtu", "1450"]);
    d.import_busybox();
    for (i, cli) in Cli::all().iter().enumerate() {
        let c = cli;
        // The daemon's --mtu: the default bridge, as its Options say.
        let opt = inspect(
            &d,
            c,
            &["network", "bridge"],
            "{{index .Options \"com.docker.network.driver.mtu\"}}",
        );
        assert_eq!(opt, "1450", "{}", c.name);
        assert_eq!(host_mtu(&d, "berth0:"), "1450");
        let plain = format!("{}-plain", c.name);
        d.ok(
            c,
            &["run", "-d", "--name", &plain, "busybox", "sleep", "600"],
        );
        assert_mtu(&d, c, &plain, "eth0", "1450");

        // A network's own MTU, given as an option: shown as given, on its bridge at once.
        let net = format!("{}-mtu", c.name);
        let id = d
            .ok(
                c,
                &[
                    "network",
                    "create",
                    "-o",
                    "com.docker.network.driver.mtu=1400",
                    &net,
                ],
            )
            .trim()
            .to_string();
        let opts = inspect(&d, c, &["network", &net], "{{json .Options}}");
        assert_eq!(
            opts, r#"{"com.docker.network.driver.mtu":"1400"}"#,
            "{}",
            c.name
        );
        assert_eq!(host_mtu(&d, &format!("br-{}:", &id[..12])), "1400");
        let member = format!("{}-member", c.name);
        d.ok(
            c,
            &[
                "run",
                "-d",
                "--name",
                &member,
                "--network",
                &net,
                "busybox",
                "sleep",
                "600",
            ],
        );
        assert_mtu(&d, c, &member, "eth0", "1400");
        // Connected later, the second interface gets that network's MTU.
        d.ok(c, &["network", "connect", &net, &plain]);
        assert_mtu(&d, c, &plain, "eth1", "1400");
        // A network without the option: the kernel's default, not the daemon's --mtu
        // (as dockerd: --mtu is the default bridge's).
        let other = format!("{}-nomtu", c.name);
        d.ok(c, &["network", "create", &other]);
        let o = d.ok(
            c,
            &[
                "run",
                "--rm",
                "--network",
                &other,
                "busybox",
                "cat",
                "/sys/class/net/eth0/mtu",
            ],
        );
        assert_eq!(o.trim(), "1500", "{}", c.name);

        // dockerd's refusals, at create; a value the kernel refuses, at run.
        let e = fails(
            &d,
            c,
            &[
                "network",
                "create",
                "-o",
                "com.docker.network.driver.mtu=abc",
                "bad",
            ],
        );
        assert!(
            e.contains(r#"failed to parse com.docker.network.driver.mtu value: abc (strconv.Atoi: parsing "abc": invalid syntax)"#),
            "{}: {e}",
            c.name
        );
        let e = fails(
            &d,
            c,
            &[
                "network",
                "create",
                "-o",
                "com.docker.network.driver.mtu=-1",
                "bad",
            ],
        );
        assert!(e.contains("invalid MTU number: -1"), "{}: {e}", c.name);
        let tiny = format!("{}-tiny{i}", c.name);
        d.ok(
            c,
            &[
                "network",
                "create",
                "-o",
                "com.docker.network.driver.mtu=50",
                &tiny,
            ],
        );
        let e = fails(
            &d,
            c,
            &["run", "--rm", "--network", &tiny, "busybox", "true"],
        );
        assert!(e.contains("nvalid argument"), "{}: {e}", c.name);

        d.ok(c, &["rm", "-f", &plain, &member]);
        d.ok(c, &["network", "rm", &net, &other, &tiny]);
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn link_local_addresses_at_run_and_at_connect() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for (i, cli) in Cli::all().iter().enumerate() {
        let c = cli;
        let net = format!("{}-ll", c.name);
        d.ok(c, &["network", "create", &net]);
        let (a, b) = (format!("{}-lla", c.name), format!("{}-llb", c.name));
        let (ll_a, ll_b) = (format!("169.254.{i}.10"), format!("169.254.{i}.20"));
        let ll6 = format!("fe80::{}:10", i + 1);
        web(
            &d,
            c,
            &a,
            &[
                "--network",
                &net,
                "--link-local-ip",
                &ll_a,
                "--link-local-ip",
                &ll6,
            ],
        );
        let addrs = d.ok(c, &["exec", &a, "ip", "-o", "addr", "show", "eth0"]);
        assert!(
            addrs.contains(&format!("inet {ll_a}/16 brd 169.254.255.255")),
            "{}: {addrs}",
            c.name
        );
        assert!(
            addrs.contains(&format!("inet6 {ll6}/64")),
            "{}: {addrs}",
            c.name
        );
        let fmt = format!(
            "{{{{json (index .NetworkSettings.Networks \"{net}\").IPAMConfig.LinkLocalIPs}}}}"
        );
        assert_eq!(
            inspect(&d, c, &[&a], &fmt),
            format!(r#"["{ll_a}","{ll6}"]"#),
            "{}",
            c.name
        );
        // Given at connect to a running container (on the default bridge first): on
        // its new interface, and it reaches the other over the link-local addresses.
        d.ok(c, &["run", "-d", "--name", &b, "busybox", "sleep", "600"]);
        d.ok(
            c,
            &["network", "connect", "--link-local-ip", &ll_b, &net, &b],
        );
        let addrs = d.ok(c, &["exec", &b, "ip", "-o", "-4", "addr", "show", "eth1"]);
        assert!(
            addrs.contains(&format!("inet {ll_b}/16")),
            "{}: {addrs}",
            c.name
        );
        assert_eq!(
            inspect(&d, c, &[&b], &fmt),
            format!(r#"["{ll_b}"]"#),
            "{}",
            c.name
        );
        let page = get(&d, c, &b, &format!("http://{ll_a}/"))
            .unwrap_or_else(|e| panic!("{}: {b} -> {a} over link-local: {e}", c.name));
        assert_eq!(page.trim(), format!("hello-from-{a}"));
        // On the default bridge too.
        let o = d.ok(
            c,
            &[
                "run",
                "--rm",
                "--link-local-ip",
                "169.254.99.1",
                "busybox",
                "ip",
                "-o",
                "-4",
                "addr",
                "show",
                "eth0",
            ],
        );
        assert!(o.contains("inet 169.254.99.1/16"), "{}: {o}", c.name);

        // dockerd's refusals, when the endpoint is made (a create is not checked).
        for (bad, want) in [
            ("10.1.1.1", "invalid link local IP address: 10.1.1.1"),
            ("fd00::77", "invalid link local IP address: fd00::77"),
            ("bogus", "Invalid link-local IP address: [bogus]"),
        ] {
            let e = fails(
                &d,
                c,
                &[
                    "run",
                    "--rm",
                    "--network",
                    &net,
                    "--link-local-ip",
                    bad,
                    "busybox",
                    "true",
                ],
            );
            assert!(e.contains(want), "{} {bad}: {e}", c.name);
        }
        let late = format!("{}-late", c.name);
        d.ok(
            c,
            &[
                "create",
                "--name",
                &late,
                "--network",
                &net,
                "--link-local-ip",
                "10.2.2.2",
                "busybox",
                "true",
            ],
        );
        let e = fails(&d, c, &["start", &late]);
        assert!(
            e.contains("invalid link local IP address: 10.2.2.2"),
            "{}: {e}",
            c.name
        );
        let x = format!("{}-llx", c.name);
        d.ok(c, &["run", "-d", "--name", &x, "busybox", "sleep", "600"]);
        let e = fails(
            &d,
            c,
            &[
                "network",
                "connect",
                "--link-local-ip",
                "10.3.3.3",
                &net,
                &x,
            ],
        );
        assert!(
            e.contains("invalid link local IP address: 10.3.3.3"),
            "{}: {e}",
            c.name
        );
        let nets = inspect(
            &d,
            c,
            &[&x],
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        );
        assert_eq!(nets, "bridge", "{}", c.name);
        d.ok(c, &["rm", "-f", &a, &b, &late, &x]);
        d.ok(c, &["network", "rm", &net]);
    }
}

/// The inspect format of a container's links: `HostConfig.Links` and its endpoint's
/// on `net`.
fn links_format(net: &str) -> String {
    format!("{{{{json .HostConfig.Links}}}} {{{{json (index .NetworkSettings.Networks \"{net}\").Links}}}}")
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn links_on_a_user_network_are_names_of_the_linking_container() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let net = format!("{}-lk", c.name);
        d.ok(c, &["network", "create", &net]);
        let [tgt, linker, other, plain] =
            ["tgt", "linker", "other", "plain"].map(|n| format!("{}-{n}", c.name));
        web(&d, c, &tgt, &["--network", &net, "--expose", "80"]);
        let link = format!("{tgt}:store");
        d.ok(
            c,
            &[
                "run",
                "-d",
                "--name",
                &linker,
                "--network",
                &net,
                "--link",
                &link,
                "busybox",
                "sleep",
                "600",
            ],
        );
        d.ok(
            c,
            &[
                "run",
                "-d",
                "--name",
                &other,
                "--network",
                &net,
                "busybox",
                "sleep",
                "600",
            ],
        );
        // The alias is a name the linking container resolves, to the target there.
        let page = get(&d, c, &linker, "http://store/")
            .unwrap_or_else(|e| panic!("{}: {linker} -> store: {e}", c.name));
        assert_eq!(page.trim(), format!("hello-from-{tgt}"));
        // Only that container: for another on the same network it is nobody's name.
        let o = d.run(c, &["exec", &other, "wget", "-qO-", "http://store/"]);
        assert!(!o.status.success(), "{}: {other} resolved store", c.name);
        // No legacy-link variables or hosts lines on a user network, as dockerd.
        let env = d.ok(c, &["exec", &linker, "env"]);
        assert!(!env.contains("STORE_"), "{}: {env}", c.name);
        let hosts = d.ok(c, &["exec", &linker, "cat", "/etc/hosts"]);
        assert!(!hosts.contains("store"), "{}: {hosts}", c.name);
        // Inspect: the endpoint's links as given; HostConfig.Links null, as dockerd.
        assert_eq!(
            inspect(&d, c, &[&linker], &links_format(&net)),
            format!(r#"null ["{link}"]"#),
            "{}",
            c.name
        );
        // Given at network connect of a running container (on the default bridge).
        d.ok(
            c,
            &["run", "-d", "--name", &plain, "busybox", "sleep", "600"],
        );
        let again = format!("{tgt}:again");
        d.ok(c, &["network", "connect", "--link", &again, &net, &plain]);
        let page = get(&d, c, &plain, "http://again/")
            .unwrap_or_else(|e| panic!("{}: {plain} -> again: {e}", c.name));
        assert_eq!(page.trim(), format!("hello-from-{tgt}"));
        assert_eq!(
            inspect(&d, c, &[&plain], &links_format(&net)),
            format!(r#"null ["{again}"]"#),
            "{}",
            c.name
        );
        // A link whose target is gone resolves no more; nothing refuses it, as dockerd.
        d.ok(c, &["rm", "-f", &tgt]);
        let o = d.run(c, &["exec", &linker, "wget", "-qO-", "http://store/"]);
        assert!(!o.status.success(), "{}: store still resolves", c.name);
        d.ok(
            c,
            &[
                "run",
                "--rm",
                "--network",
                &net,
                "--link",
                "nosuch:x",
                "busybox",
                "true",
            ],
        );
        d.ok(c, &["rm", "-f", &linker, &other, &plain]);
        d.ok(c, &["network", "rm", &net]);
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn running_containers_are_connected_and_disconnected() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for (i, cli) in Cli::all().iter().enumerate() {
        let c = cli;
        let (n1, n2) = (format!("{}-one", c.name), format!("{}-two", c.name));
        let subnet2 = format!("10.{}.0.0/24", 80 + i);
        d.ok(c, &["network", "create", &n1]);
        d.ok(c, &["network", "create", "--subnet", &subnet2, &n2]);
        let (a, peer) = (format!("{}-ca", c.name), format!("{}-peer", c.name));
        web(&d, c, &a, &["--network", &n1]);
        web(&d, c, &peer, &["--network", &n2]);
        let peer_ip = inspect(
            &d,
            c,
            &[&peer],
            &format!("{{{{(index .NetworkSettings.Networks \"{n2}\").IPAddress}}}}"),
        );
        let want = format!("10.{}.0.99", 80 + i);
        d.ok(
            c,
            &[
                "network", "connect", "--ip", &want, "--alias", "second", &n2, &a,
            ],
        );
        let addr = d.ok(c, &["exec", &a, "ip", "-o", "-4", "addr", "show", "eth1"]);
        assert!(addr.contains(&format!("{want}/24")), "{}: {addr}", c.name);
        // The first network keeps the default route.
        let route = d.ok(c, &["exec", &a, "ip", "route", "show", "default"]);
        assert!(route.contains("dev eth0"), "{}: {route}", c.name);
        let page = get(&d, c, &a, &format!("http://{peer_ip}/"))
            .unwrap_or_else(|e| panic!("{}: {a} -> {peer} over eth1: {e}", c.name));
        assert_eq!(page.trim(), format!("hello-from-{peer}"));
        let nets = inspect(
            &d,
            c,
            &[&a],
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}",
        );
        assert!(nets.contains(&format!("{n2}={want}")), "{}: {nets}", c.name);
        assert!(nets.contains(&format!("{n1}=")), "{}: {nets}", c.name);

        let e = fails(&d, c, &["network", "connect", &n2, &a]);
        assert!(
            e.contains(&format!(
                "endpoint with name {a} already exists in network {n2}"
            )),
            "{}: {e}",
            c.name
        );
        let e = fails(&d, c, &["network", "connect", "host", &a]);
        assert!(e.contains("host network"), "{}: {e}", c.name);

        d.ok(c, &["network", "disconnect", &n2, &a]);
        let o = d.run(c, &["exec", &a, "ip", "link", "show", "eth1"]);
        assert!(!o.status.success(), "{}: eth1 still there", c.name);
        let nets = inspect(
            &d,
            c,
            &[&a],
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        );
        assert_eq!(nets, n1, "{}", c.name);
        let e = fails(&d, c, &["network", "disconnect", &n2, &a]);
        assert!(e.contains("is not connected to network"), "{}: {e}", c.name);
        // The address is free again.
        d.ok(c, &["network", "connect", "--ip", &want, &n2, &a]);
        assert!(d
            .ok(c, &["exec", &a, "ip", "-o", "-4", "addr"])
            .contains(&want));

        // A stopped container: only its record changes; at start it gets both.
        let s = format!("{}-stopped", c.name);
        d.ok(
            c,
            &[
                "create",
                "--name",
                &s,
                "--network",
                &n1,
                "busybox",
                "sleep",
                "600",
            ],
        );
        d.ok(c, &["network", "connect", &n2, &s]);
        d.ok(c, &["start", &s]);
        let addrs = d.ok(c, &["exec", &s, "ip", "-o", "-4", "addr"]);
        assert!(
            addrs.contains("eth0") && addrs.contains("eth1"),
            "{}: {addrs}",
            c.name
        );
        assert!(
            addrs.contains(&format!("10.{}.0.", 80 + i)),
            "{}: {addrs}",
            c.name
        );

        // Sharing another namespace: refused.
        let h = format!("{}-hostnet", c.name);
        d.ok(
            c,
            &[
                "create",
                "--name",
                &h,
                "--network",
                "host",
                "busybox",
                "true",
            ],
        );
        let e = fails(&d, c, &["network", "connect", &n2, &h]);
        assert!(
            e.contains("container sharing network namespace with another container or host cannot be connected to any other network"),
            "{}: {e}",
            c.name
        );
        d.ok(c, &["rm", "-f", &a, &peer, &s, &h]);
        d.ok(c, &["network", "rm", &n1, &n2]);
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn many_cycles_leave_no_bridge_or_veth() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let c = &Cli::berth();
    let before = links_in_netns(&d);
    for i in 0..50 {
        let net = format!("cycle{i}");
        d.ok(c, &["network", "create", &net]);
        let name = format!("cycler{i}");
        d.ok(
            c,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                &net,
                "busybox",
                "sleep",
                "600",
            ],
        );
        d.ok(c, &["network", "connect", "bridge", &name]);
        d.ok(c, &["rm", "-f", &name]);
        d.ok(c, &["network", "rm", &net]);
    }
    // The kernel frees a namespace's interfaces a moment after its last user is gone.
    let clean = common::wait_for(20, || {
        let now = links_in_netns(&d);
        !now.contains("veth") && !now.contains("br-")
    });
    assert!(
        clean,
        "left behind:\n{}\n(before: {before})",
        links_in_netns(&d)
    );
    let left = d.ok(c, &["network", "ls", "-q"]);
    assert_eq!(lines(&left).len(), 3, "{left}");
}

/// Runs the same container life cycles against a daemon (`cli` runs one command
/// there and returns its stdout) and returns the events they caused, each as
/// `TYPE ACTION NAME`, with `NETWORK-TYPE CONTAINER-NAME` after a network event's
/// network name. Network events are checked to name the network by its id. A run of
/// `connect` (or `disconnect`) events of one container is sorted: dockerd joins a
/// container's networks other than `bridge` in no fixed order.
fn life_cycle_events(cli: &dyn Fn(&[&str]) -> String) -> Vec<String> {
    let since = format!(
        "{:.6}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time after 1970")
            .as_secs_f64()
    );
    cli(&["network", "create", "evn"]);
    cli(&["network", "create", "evn2"]);
    cli(&[
        "create",
        "--name",
        "ev",
        "--network",
        "evn",
        "busybox",
        "sleep",
        "600",
    ]);
    // Connecting a stopped container tells nothing; its start tells both networks.
    cli(&["network", "connect", "evn2", "ev"]);
    cli(&["start", "ev"]);
    cli(&["stop", "-t", "1", "ev"]);
    // Disconnecting a stopped one tells it, as dockerd does.
    cli(&["network", "disconnect", "evn2", "ev"]);
    cli(&["start", "ev"]);
    cli(&["kill", "ev"]);
    cli(&["wait", "ev"]);
    // docker run: attach before the network's connect.
    cli(&["run", "--name", "once", "busybox", "true"]);
    cli(&[
        "run",
        "-d",
        "--name",
        "again",
        "--network",
        "evn",
        "busybox",
        "sleep",
        "600",
    ]);
    cli(&["restart", "-t", "1", "again"]);
    cli(&[
        "run",
        "--name",
        "nonet",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    cli(&[
        "run",
        "--name",
        "hostnet",
        "--network",
        "host",
        "busybox",
        "true",
    ]);
    let ids: std::collections::BTreeMap<String, String> = cli(&[
        "network",
        "ls",
        "--no-trunc",
        "--format",
        "{{.Name}} {{.ID}}",
    ])
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(n, id)| (n.to_string(), id.to_string()))
    .collect();
    // The last event (after the CLI returned, dockerd tells it on its own time).
    let mut events: Vec<Value> = Vec::new();
    let complete = common::wait_for(10, || {
        let until = format!(
            "{:.6}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time after 1970")
                .as_secs_f64()
        );
        events = cli(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--format",
            "{{json .}}",
        ])
        .lines()
        .map(|l| serde_json::from_str(l).expect("an event as JSON"))
        .collect();
        events.iter().any(|e| {
            e["Type"] == "network"
                && e["Action"] == "disconnect"
                && e["Actor"]["Attributes"]["name"] == "host"
        })
    });
    assert!(complete, "no disconnect from host in {events:#?}");
    let mut names = std::collections::BTreeMap::new();
    for e in &events {
        if e["Type"] == "container" {
            names.insert(
                e["Actor"]["ID"].as_str().unwrap_or_default().to_string(),
                e["Actor"]["Attributes"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    let mut out: Vec<String> = Vec::new();
    for e in &events {
        let a = &e["Actor"]["Attributes"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let line = match e["Type"].as_str() {
            Some("network") => {
                let name = text(&a["name"]);
                assert_eq!(
                    ids.get(&name),
                    e["Actor"]["ID"].as_str().map(str::to_string).as_ref(),
                    "network event not naming its network by id: {e}"
                );
                let container = names
                    .get(&text(&a["container"]))
                    .cloned()
                    .unwrap_or_default();
                format!(
                    "network {} {name} {} {container}",
                    text(&e["Action"]),
                    text(&a["type"])
                )
            }
            _ => format!(
                "{} {} {}",
                text(&e["Type"]),
                text(&e["Action"]),
                text(&a["name"])
            ),
        };
        out.push(line.trim_end().to_string());
    }
    // Sort each run of one container's connects (or disconnects).
    let mut i = 0;
    while i < out.len() {
        let key = |l: &str| {
            let w: Vec<&str> = l.split(' ').collect();
            (w[0] == "network" && matches!(w[1], "connect" | "disconnect"))
                .then(|| (w[1].to_string(), w.get(4).map(|s| s.to_string())))
        };
        let Some(k) = key(&out[i]) else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        while j < out.len() && key(&out[j]).as_ref() == Some(&k) {
            j += 1;
        }
        out[i..j].sort();
        i = j;
    }
    for c in ["ev", "once", "again", "nonet", "hostnet"] {
        cli(&["rm", "-f", c]);
    }
    cli(&["network", "rm", "evn", "evn2"]);
    out
}

/// What [`life_cycle_events`] gives, as dockerd 20.10 tells it.
const LIFE_CYCLE_EVENTS: &[&str] = &[
    "network create evn bridge",
    "network create evn2 bridge",
    "container create ev",
    "network connect evn bridge ev",
    "network connect evn2 bridge ev",
    "container start ev",
    "container kill ev",
    "container kill ev",
    "container die ev",
    "network disconnect evn bridge ev",
    "network disconnect evn2 bridge ev",
    "container stop ev",
    "network disconnect evn2 bridge ev",
    "network connect evn bridge ev",
    "container start ev",
    "container kill ev",
    "container die ev",
    "network disconnect evn bridge ev",
    "container create once",
    "container attach once",
    "network connect bridge bridge once",
    "container start once",
    "container die once",
    "network disconnect bridge bridge once",
    "container create again",
    "network connect evn bridge again",
    "container start again",
    "container kill again",
    "container kill again",
    "container die again",
    "network disconnect evn bridge again",
    "container stop again",
    "network connect evn bridge again",
    "container start again",
    "container restart again",
    "container create nonet",
    "container attach nonet",
    "network connect none null nonet",
    "container start nonet",
    "container die nonet",
    "network disconnect none null nonet",
    "container create hostnet",
    "container attach hostnet",
    "network connect host host hostnet",
    "container start hostnet",
    "container die hostnet",
    "network disconnect host host hostnet",
];

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn starts_and_stops_tell_network_events_in_dockerds_order() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let got = life_cycle_events(&|args| d.ok(&cli, args));
        assert_eq!(got, LIFE_CYCLE_EVENTS, "{}", cli.name);
    }
    // And a real dockerd tells the same.
    if Cli::docker().is_none() {
        return;
    }
    let Some(k) = common::dockerd::Dockerd::start_networked_alone("172.28.0.1/16") else {
        return;
    };
    k.import_busybox();
    let theirs = life_cycle_events(&|args| k.ok(args));
    assert_eq!(theirs, LIFE_CYCLE_EVENTS, "dockerd");
}

/// What a container on a user network with an MTU, a link and a link-local address
/// shows, through `docker` (`run` gives a command's output, or its error): inspect
/// fields, its interface, what the link's alias resolves to, and a refusal.
fn endpoint_observations(docker: &dyn Fn(&[&str]) -> Result<String, String>) -> Vec<String> {
    let ok = |args: &[&str]| docker(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    ok(&[
        "network",
        "create",
        "-o",
        "com.docker.network.driver.mtu=1400",
        "endpoints",
    ]);
    ok(&[
        "run",
        "-d",
        "--name",
        "tgt",
        "--network",
        "endpoints",
        "busybox",
        "sleep",
        "600",
    ]);
    ok(&[
        "run",
        "-d",
        "--name",
        "linker",
        "--network",
        "endpoints",
        "--link",
        "tgt:store",
        "--link-local-ip",
        "169.254.5.5",
        "busybox",
        "sleep",
        "600",
    ]);
    let ep = r#"(index .NetworkSettings.Networks "endpoints")"#;
    let mut seen = vec![ok(&[
        "inspect",
        "-f",
        &format!(
            "{{{{json .HostConfig.Links}}}} {{{{json {ep}.Links}}}} {{{{json {ep}.IPAMConfig}}}}"
        ),
        "linker",
    ])];
    seen.push(ok(&["exec", "linker", "cat", "/sys/class/net/eth0/mtu"]));
    let addrs = ok(&["exec", "linker", "ip", "-o", "-4", "addr", "show", "eth0"]);
    seen.extend(
        addrs
            .lines()
            .filter(|l| l.contains("169.254."))
            .filter_map(|l| {
                l.split_once("inet ")
                    .map(|(_, a)| a.split('\\').next().unwrap_or(a).trim().to_string())
            }),
    );
    let tgt_ip = ok(&["inspect", "-f", &format!("{{{{{ep}.IPAddress}}}}"), "tgt"]);
    let answer = ok(&["exec", "linker", "nslookup", "store", "127.0.0.11"]);
    let answers: Vec<&str> = answer
        .lines()
        .filter_map(|l| l.strip_prefix("Address: "))
        .collect();
    seen.push(format!(
        "store resolves to tgt: {}",
        answers == [tgt_ip.trim()]
    ));
    let refused = docker(&[
        "run",
        "--rm",
        "--network",
        "endpoints",
        "--link-local-ip",
        "10.1.1.1",
        "busybox",
        "true",
    ]);
    seen.push(format!(
        "refused: {}",
        refused.is_err_and(|e| e.contains("invalid link local IP address: 10.1.1.1"))
    ));
    ok(&["rm", "-f", "tgt", "linker"]);
    ok(&["network", "rm", "endpoints"]);
    seen.into_iter().map(|l| l.trim().to_string()).collect()
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn mtu_links_and_link_local_addresses_show_as_dockerds() {
    let Some((d, docker, k)) = common::daemons_to_compare("172.27.0.1/16") else {
        return;
    };
    let result = |o: std::process::Output| {
        let (so, se) = common::out_err(&o);
        if o.status.success() {
            Ok(so)
        } else {
            Err(se)
        }
    };
    let ours = endpoint_observations(&|args| result(d.run(&docker, args)));
    let theirs = endpoint_observations(&|args| result(k.docker(args)));
    assert_eq!(ours, theirs);
    assert_eq!(
        ours,
        [
            r#"null ["tgt:store"] {"LinkLocalIPs":["169.254.5.5"]}"#,
            "1400",
            "169.254.5.5/16 brd 169.254.255.255 scope global eth0",
            "store resolves to tgt: true",
            "refused: true",
        ]
    );
}

/// The keys of a JSON document with the type of each value, maps whose keys are data
/// (options, labels, endpoints) reduced to their type.
fn shape(v: &Value, path: &str, out: &mut Vec<String>) {
    let data_keyed = ["Options", "Labels", "Containers", "IPAM.Options"];
    match v {
        Value::Object(m) if !data_keyed.iter().any(|k| path.ends_with(k)) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                shape(v, &p, out);
            }
        }
        Value::Array(a) => {
            out.push(format!("{path}: array"));
            if let Some(first) = a.first() {
                shape(first, &format!("{path}[]"), out);
            }
        }
        v => {
            let t = match v {
                Value::Null => "null",
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            out.push(format!("{path}: {t}"));
        }
    }
}

fn shape_of(doc: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(doc).expect("inspect json");
    let mut out = Vec::new();
    shape(&v[0], "", &mut out);
    out.sort();
    out
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn network_inspect_is_shaped_as_dockerds() {
    let Some((d, docker, k)) = common::daemons_to_compare("172.29.0.1/16") else {
        return;
    };
    for args in [
        vec![
            "network",
            "create",
            "--subnet",
            "10.90.0.0/16",
            "--label",
            "a=b",
            "given",
        ],
        vec!["network", "create", "picked"],
    ] {
        d.ok(&docker, &args);
        k.ok(&args);
    }
    for name in ["bridge", "host", "none", "given", "picked"] {
        let ours = d.ok(&docker, &["network", "inspect", name]);
        let theirs = k.ok(&["network", "inspect", name]);
        assert_eq!(
            shape_of(&ours),
            shape_of(&theirs),
            "network {name}:\nberth: {ours}\ndockerd: {theirs}"
        );
        let fields = "{{.Scope}} {{.Driver}} {{.IPAM.Driver}} {{json .IPAM.Options}} {{len .IPAM.Config}} {{.Internal}} {{json .Labels}} {{json .ConfigFrom}}";
        assert_eq!(
            d.ok(&docker, &["network", "inspect", "-f", fields, name]),
            k.ok(&["network", "inspect", "-f", fields, name]),
            "network {name}"
        );
    }
    // A running container on a user network: the same endpoint fields.
    d.ok(
        &docker,
        &[
            "run",
            "-d",
            "--name",
            "member",
            "--network",
            "given",
            "busybox",
            "sleep",
            "600",
        ],
    );
    k.ok(&[
        "run",
        "-d",
        "--name",
        "member",
        "--network",
        "given",
        "busybox",
        "sleep",
        "600",
    ]);
    let fmt = "{{range .Containers}}{{json .}}{{end}}";
    let mut ep_shapes = Vec::new();
    for doc in [
        d.ok(&docker, &["network", "inspect", "-f", fmt, "given"]),
        k.ok(&["network", "inspect", "-f", fmt, "given"]),
    ] {
        let v: Value = serde_json::from_str(doc.trim()).expect("endpoint json");
        let mut keys: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        assert_eq!(v["Name"], "member");
        assert!(
            v["IPv4Address"]
                .as_str()
                .is_some_and(|a| a.starts_with("10.90.0.") && a.ends_with("/16")),
            "{v}"
        );
        ep_shapes.push(keys);
    }
    assert_eq!(ep_shapes[0], ep_shapes[1]);
    let _ = k.docker(&["rm", "-f", "member"]);
    d.ok(&docker, &["rm", "-f", "member"]);
    drop(k);
}
