//! What the networking tests share: a busybox web server that names its container, a
//! GET from inside a container (tried again while the server starts), and the links of
//! the daemon's network namespace.

use super::{Cli, Daemon};

/// Starts busybox httpd in container `name` (with `extra` run flags), serving
/// `hello-from-NAME`.
pub fn web(d: &Daemon, cli: &Cli, name: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend(extra);
    let script = format!(
        "mkdir -p /www && echo hello-from-{name} > /www/index.html && exec httpd -f -p 80 -h /www"
    );
    args.extend(["busybox", "sh", "-c", &script]);
    d.ok(cli, &args);
}

/// GETs `url` from inside container `name`; httpd starts in the background, so a
/// failure is tried again for a few seconds. (No `wget -T`: Debian's busybox crashes
/// with it.)
pub fn get(d: &Daemon, cli: &Cli, name: &str, url: &str) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..25 {
        let o = d.run(cli, &["exec", name, "wget", "-qO-", url]);
        let (so, se) = super::out_err(&o);
        if o.status.success() {
            return Ok(so);
        }
        last = format!("exit {:?}: {se}", o.status.code());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Err(format!("{} exec {name} wget {url}: {last}", cli.name))
}

/// `ip -o link show` in the daemon's namespace.
pub fn links_in_netns(d: &Daemon) -> String {
    String::from_utf8_lossy(&d.net_run("ip", &["-o", "link", "show"]).stdout).into_owned()
}

/// Puts the host's IPv4 forwarding setting back, deletes the test's bridge, and the
/// iptables `filter` table when it was not there before (the daemon's FORWARD rules
/// for coexisting with dockerd made it; it takes only its own rules out), even when
/// the test fails.
pub struct HostNetRestore {
    ip_forward: String,
    bridge: &'static str,
    filter_table_existed: bool,
}

pub fn host_has_filter_table() -> bool {
    let o = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .any(|l| l.trim() == "table ip filter")
}

impl HostNetRestore {
    /// Remembers the host's state before a daemon uses `bridge` in its namespace.
    pub fn save(bridge: &'static str) -> HostNetRestore {
        HostNetRestore {
            ip_forward: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap_or_else(|_| "0\n".into()),
            bridge,
            filter_table_existed: host_has_filter_table(),
        }
    }
}

impl Drop for HostNetRestore {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", self.bridge])
            .status();
        let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", &self.ip_forward);
        if !self.filter_table_existed && host_has_filter_table() {
            let rules = std::process::Command::new("iptables")
                .args(["-S"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            // Only policies left (`-P …`): nothing of anyone's.
            if rules.lines().all(|l| l.starts_with("-P ")) {
                let _ = std::process::Command::new("nft")
                    .args(["delete", "table", "ip", "filter"])
                    .status();
            }
        }
    }
}
