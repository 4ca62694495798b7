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
