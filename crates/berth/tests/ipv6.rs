//! IPv6 on user-defined networks end to end, with berth's CLI and the unmodified docker
//! CLI: a network made with `--ipv6 --subnet` gives each container an IPv6 address of
//! its subnet (in order after the gateway, `--ip6` and `network connect --ip6`
//! honoured), a default route through the gateway, AAAA answers from the embedded
//! DNS, reachability from the other containers and from the host, published ports on
//! `::`; addresses are freed by `rm` and stay held across a daemon restart. The
//! documents are compared with a real dockerd 20.10's. Each daemon runs in a network
//! namespace of its own (common::Daemon).

mod common;

use common::{Cli, Daemon};

fn inspect(d: &Daemon, cli: &Cli, args: &[&str]) -> String {
    d.ok(cli, args).trim().to_string()
}

/// A container's address on network `net` (`v6`: its IPv6 one).
fn addr(d: &Daemon, cli: &Cli, name: &str, net: &str, v6: bool) -> String {
    let field = if v6 { "GlobalIPv6Address" } else { "IPAddress" };
    let f = format!("{{{{(index .NetworkSettings.Networks \"{net}\").{field}}}}}");
    inspect(d, cli, &["inspect", "-f", &f, name])
}

/// Runs a command that must fail, returning its stderr.
fn fails(d: &Daemon, cli: &Cli, args: &[&str]) -> String {
    let o = d.run(cli, args);
    let (so, se) = common::out_err(&o);
    assert!(!o.status.success(), "{} {args:?} succeeded: {so}", cli.name);
    se
}

/// Starts busybox httpd serving a file that names the container.
fn web(d: &Daemon, cli: &Cli, name: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend(extra);
    let script = format!(
        "mkdir -p /www && echo hello-from-{name} > /www/index.html && exec httpd -f -p 80 -h /www"
    );
    args.extend(["busybox", "sh", "-c", &script]);
    d.ok(cli, &args);
}

/// Tries `f` for a few seconds (httpd starts in the background).
fn retry(mut f: impl FnMut() -> Result<String, String>) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..25 {
        match f() {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Err(last)
}

/// GETs `url` from inside container `name`. (No `wget -T`: Debian's busybox crashes
/// with it.)
fn get(d: &Daemon, cli: &Cli, name: &str, url: &str) -> Result<String, String> {
    retry(|| {
        let o = d.run(cli, &["exec", name, "wget", "-qO-", url]);
        let (so, se) = common::out_err(&o);
        if o.status.success() {
            Ok(so)
        } else {
            Err(format!("exit {:?}: {se}", o.status.code()))
        }
    })
}

/// GETs `url` with curl from the daemon's network namespace (the host's side).
fn host_get(d: &Daemon, url: &str) -> Result<String, String> {
    retry(|| {
        let o = d.net_run("curl", &["-g", "-sS", "--max-time", "3", url]);
        let (so, se) = common::out_err(&o);
        if o.status.success() {
            Ok(so)
        } else {
            Err(format!("exit {:?}: {se}", o.status.code()))
        }
    })
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn containers_on_an_ipv6_network_get_addresses_routes_and_names() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for (i, cli) in Cli::all().iter().enumerate() {
        let c = cli;
        let n = c.name;
        let net = format!("{n}-v6net");
        let other = format!("{n}-v6other");
        let v4only = format!("{n}-v4only");
        let p = format!("fd00:db8:{}:", 10 + i);
        let subnet = format!("{p}:/64");
        d.ok(
            c,
            &["network", "create", "--ipv6", "--subnet", &subnet, &net],
        );
        let (a, b, s) = (format!("{n}-a"), format!("{n}-b"), format!("{n}-s"));
        web(&d, c, &a, &["--network", &net]);
        web(&d, c, &b, &["--network", &net]);
        let static6 = format!("{p}:99");
        web(&d, c, &s, &["--network", &net, "--ip6", &static6]);

        // Addresses in order after the gateway, as dockerd hands them out.
        let (a6, b6) = (addr(&d, c, &a, &net, true), addr(&d, c, &b, &net, true));
        assert_eq!(a6, format!("{p}:2"), "{n}");
        assert_eq!(b6, format!("{p}:3"), "{n}");
        assert_eq!(addr(&d, c, &s, &net, true), static6, "{n}");
        let f = format!(
            "{{{{with index .NetworkSettings.Networks \"{net}\"}}}}{{{{.GlobalIPv6PrefixLen}}}} {{{{.IPv6Gateway}}}}{{{{end}}}} [{{{{.NetworkSettings.GlobalIPv6Address}}}}]"
        );
        assert_eq!(
            inspect(&d, c, &["inspect", "-f", &f, &a]),
            format!("64 {p}:1 []"),
            "{n}: the top-level fields describe the default bridge only"
        );
        let f = "{{range .Containers}}{{.Name}}={{.IPv6Address}} {{end}}";
        let eps = inspect(&d, c, &["network", "inspect", "-f", f, &net]);
        for (name, ip) in [(&a, &a6), (&b, &b6), (&s, &static6)] {
            assert!(eps.contains(&format!("{name}={ip}/64")), "{n}: {eps}");
        }

        // Inside: the address without DAD, the default route, /etc/hosts.
        let ip6 = d.ok(c, &["exec", &a, "ip", "-6", "addr", "show", "eth0"]);
        assert!(
            ip6.contains(&format!("inet6 {a6}/64 scope global")),
            "{n}: {ip6}"
        );
        let global = ip6.lines().find(|l| l.contains(&a6)).unwrap_or_default();
        assert!(!global.contains("tentative"), "{n}: {ip6}");
        let routes = d.ok(c, &["exec", &a, "ip", "-6", "route"]);
        assert!(
            routes.contains(&format!("default via {p}:1 dev eth0")),
            "{n}: {routes}"
        );
        let hosts = d.ok(c, &["exec", &a, "cat", "/etc/hosts"]);
        assert!(hosts.contains(&format!("{a6}\t")), "{n}: {hosts}");

        // Container to container over IPv6, and from the host.
        for (from, to, to6) in [(&a, &b, &b6), (&b, &s, &static6), (&s, &a, &a6)] {
            let body = get(&d, c, from, &format!("http://[{to6}]/"))
                .unwrap_or_else(|e| panic!("{n}: {from} -> [{to6}]: {e}"));
            assert_eq!(body.trim(), format!("hello-from-{to}"), "{n}");
        }
        let body = host_get(&d, &format!("http://[{b6}]/"))
            .unwrap_or_else(|e| panic!("{n}: host -> [{b6}]: {e}"));
        assert_eq!(body.trim(), format!("hello-from-{b}"), "{n}");

        // Names resolve to both addresses (A and AAAA) at the embedded DNS.
        let res = retry(|| {
            let o = d.run(c, &["exec", &a, "nslookup", &b]);
            let (so, se) = common::out_err(&o);
            if so.contains(&b6) {
                Ok(so)
            } else {
                Err(format!("{so}{se}"))
            }
        })
        .unwrap_or_else(|e| panic!("{n}: nslookup {b}: {e}"));
        let b4 = addr(&d, c, &b, &net, false);
        assert!(res.contains(&b4), "{n}: {res}");
        let res = d.ok(c, &["exec", &a, "nslookup", "-type=AAAA", &s]);
        assert!(res.contains(&static6), "{n}: {res}");

        // The static address is taken; refused where there is no IPv6 subnet.
        let e = fails(
            &d,
            c,
            &[
                "run",
                "--rm",
                "--network",
                &net,
                "--ip6",
                &static6,
                "busybox",
                "true",
            ],
        );
        assert!(
            e.contains(&format!("Address already in use: {static6}")),
            "{n}: {e}"
        );
        let e = fails(
            &d,
            c,
            &[
                "run",
                "--rm",
                "--network",
                &net,
                "--ip6",
                &format!("{p}:"),
                "busybox",
                "true",
            ],
        );
        assert!(e.contains("Address already in use"), "{n}: {e}");
        d.ok(c, &["network", "create", &v4only]);
        let e = fails(
            &d,
            c,
            &[
                "run",
                "--rm",
                "--network",
                &v4only,
                "--ip6",
                "fd00:9::5",
                "busybox",
                "true",
            ],
        );
        assert!(
            e.contains("user specified IP address is supported only when connecting to networks with user configured subnets"),
            "{n}: {e}"
        );

        // network connect --ip6: a second interface with the asked address.
        let op = format!("fd00:db8:{}:", 20 + i);
        d.ok(
            c,
            &[
                "network",
                "create",
                "--ipv6",
                "--subnet",
                &format!("{op}:/64"),
                &other,
            ],
        );
        let e = fails(
            &d,
            c,
            &["network", "connect", "--ip6", "fd00:9::5", &other, &a],
        );
        assert!(e.contains("not in subnet"), "{n}: {e}");
        let e = fails(
            &d,
            c,
            &["network", "connect", "--ip6", "fd00:9::5", &v4only, &a],
        );
        assert!(e.contains("user configured subnets"), "{n}: {e}");
        let connected = format!("{op}:77");
        d.ok(c, &["network", "connect", "--ip6", &connected, &other, &a]);
        assert_eq!(addr(&d, c, &a, &other, true), connected, "{n}");
        let eth1 = d.ok(c, &["exec", &a, "ip", "-6", "addr", "show", "eth1"]);
        assert!(
            eth1.contains(&format!("inet6 {connected}/64")),
            "{n}: {eth1}"
        );
        // Only the primary network gives a default route.
        let routes = d.ok(c, &["exec", &a, "ip", "-6", "route"]);
        assert!(
            !routes.contains(&format!("default via {op}:1")),
            "{n}: {routes}"
        );
        d.ok(c, &["network", "disconnect", &other, &a]);
        d.ok(c, &["network", "connect", "--ip6", &connected, &other, &b]);
        d.ok(c, &["network", "disconnect", &other, &b]);

        // rm frees the addresses: a new container can take the static one.
        d.ok(c, &["rm", "-f", &s]);
        let s2 = format!("{n}-s2");
        d.ok(
            c,
            &[
                "run",
                "-d",
                "--name",
                &s2,
                "--network",
                &net,
                "--ip6",
                &static6,
                "busybox",
                "sleep",
                "600",
            ],
        );
        assert_eq!(addr(&d, c, &s2, &net, true), static6, "{n}");

        for x in [&a, &b, &s2] {
            d.ok(c, &["rm", "-f", x]);
        }
        for x in [&net, &other, &v4only] {
            d.ok(c, &["network", "rm", x]);
        }
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn ports_are_published_on_ipv6_too() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let c = &Cli::berth();
    d.ok(
        c,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "fd00:db8:31::/64",
            "v6pub",
        ],
    );
    web(&d, c, "pub", &["--network", "v6pub", "-p", "8080:80"]);
    let ports = inspect(
        &d,
        c,
        &["inspect", "-f", "{{json .NetworkSettings.Ports}}", "pub"],
    );
    assert_eq!(
        ports,
        r#"{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}]}"#
    );
    // The host reaches it on its own IPv6 addresses (here the bridge's; `[::1]` has
    // no route_localnet) as on its IPv4 ones.
    for url in ["http://[fd00:db8:31::1]:8080/", "http://127.0.0.1:8080/"] {
        let body = host_get(&d, url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(body.trim(), "hello-from-pub", "{url}");
    }
    let port = d.ok(c, &["port", "pub", "80"]);
    assert!(
        port.contains("[::]:8080") || port.contains(":::8080"),
        "{port}"
    );
    d.ok(c, &["rm", "-f", "pub"]);
    d.ok(c, &["network", "rm", "v6pub"]);
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn a_daemon_restart_keeps_running_containers_addresses_held() {
    let Some(mut d) = common::daemon_with_busybox() else {
        return;
    };
    let c = &Cli::berth();
    d.ok(
        c,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "fd00:db8:41::/64",
            "v6keep",
        ],
    );
    web(&d, c, "keep", &["--network", "v6keep"]);
    web(
        &d,
        c,
        "pinned",
        &["--network", "v6keep", "--ip6", "fd00:db8:41::50"],
    );
    assert_eq!(addr(&d, c, "keep", "v6keep", true), "fd00:db8:41::2");
    d.kill9();
    d.spawn(&[]);
    // A new container neither takes the running ones' addresses nor fails on them.
    d.ok(
        c,
        &[
            "run",
            "-d",
            "--name",
            "after",
            "--network",
            "v6keep",
            "busybox",
            "sleep",
            "600",
        ],
    );
    let after = addr(&d, c, "after", "v6keep", true);
    assert!(after.starts_with("fd00:db8:41::"), "{after}");
    assert_ne!(after, "fd00:db8:41::2");
    assert_ne!(after, "fd00:db8:41::50");
    let e = fails(
        &d,
        c,
        &[
            "run",
            "--rm",
            "--network",
            "v6keep",
            "--ip6",
            "fd00:db8:41::50",
            "busybox",
            "true",
        ],
    );
    assert!(e.contains("Address already in use"), "{e}");
    // And the old one still answers over IPv6 from the new one.
    let body = get(&d, c, "after", "http://[fd00:db8:41::2]/").expect("after -> keep");
    assert_eq!(body.trim(), "hello-from-keep");
    for x in ["keep", "pinned", "after"] {
        d.ok(c, &["rm", "-f", x]);
    }
    d.ok(c, &["network", "rm", "v6keep"]);
}

/// The endpoint documents of a container on an IPv6 network, as dockerd 20.10 fills
/// them (its user networks need no daemon-wide `--ipv6`).
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn ipv6_endpoints_are_shaped_as_dockerds() {
    let Some((d, docker, k)) = common::daemons_to_compare("172.29.0.1/16") else {
        return;
    };
    let create = [
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.91.0.0/16",
        "--subnet",
        "fd00:db8:51::/64",
        "v6cmp",
    ];
    d.ok(&docker, &create);
    k.ok(&create);
    for (name, extra) in [
        ("first", None),
        ("pinned", Some("fd00:db8:51::99")),
        ("next", None),
    ] {
        let mut args = vec!["run", "-d", "--name", name, "--network", "v6cmp"];
        if let Some(ip) = extra {
            args.extend(["--ip6", ip]);
        }
        args.extend(["busybox", "sleep", "600"]);
        d.ok(&docker, &args);
        k.ok(&args);
    }
    let container = "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.GlobalIPv6Address}} {{$v.GlobalIPv6PrefixLen}} {{$v.IPv6Gateway}} {{$v.IPAddress}} {{json $v.IPAMConfig}}{{end}} top:{{.NetworkSettings.GlobalIPv6Address}}/{{.NetworkSettings.GlobalIPv6PrefixLen}}/{{.NetworkSettings.IPv6Gateway}}";
    for name in ["first", "pinned", "next"] {
        assert_eq!(
            d.ok(&docker, &["inspect", "-f", container, name]),
            k.ok(&["inspect", "-f", container, name]),
            "{name}"
        );
    }
    let network = "{{.EnableIPv6}} {{json .IPAM.Config}} {{range .Containers}}{{.Name}}={{.IPv4Address}},{{.IPv6Address}} {{end}}";
    // Containers are listed by id, which differs between the two.
    let sorted = |s: String| {
        let mut w: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        w.sort();
        w
    };
    assert_eq!(
        sorted(d.ok(&docker, &["network", "inspect", "-f", network, "v6cmp"])),
        sorted(k.ok(&["network", "inspect", "-f", network, "v6cmp"]))
    );
    for name in ["first", "pinned", "next"] {
        let _ = k.docker(&["rm", "-f", name]);
        d.ok(&docker, &["rm", "-f", name]);
    }
    drop(k);
}
