//! What the end-to-end tests share: a `berth daemon` of their own (unique socket, data
//! root, exec root and cgroup parent, and a network namespace of its own so that its
//! bridge, veths and packet-filter rules never touch the host's; torn down with
//! everything it made), a busybox
//! image imported from the host's static busybox, and runners for the `berth` CLI and
//! the unmodified docker CLI pointed at that daemon.

#![allow(dead_code)]

pub mod dockerd;
pub mod net;
pub mod registry;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `berth` binary under test.
pub fn berth_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

/// The docker CLI, if installed (`BERTH_DOCKER_CLI` overrides the lookup; set empty,
/// it leaves the docker CLI out).
pub fn docker_cli() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_DOCKER_CLI") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A started daemon with the busybox image imported, or None (with a note) on a
/// machine without a static busybox.
pub fn daemon_with_busybox() -> Option<Daemon> {
    daemon_with_busybox_from(&[], &[])
}

/// The same, the daemon started with `env` and the flags `extra`.
pub fn daemon_with_busybox_from(env: &[(&str, &str)], extra: &[&str]) -> Option<Daemon> {
    if busybox().is_none() {
        eprintln!("note: no static busybox (apt-get install busybox-static); skipping");
        return None;
    }
    let d = Daemon::start_with_env(env, extra);
    d.import_busybox();
    Some(d)
}

/// For a comparison with dockerd: a berth daemon and a networked dockerd (on `bip`, in
/// a network namespace of its own), each with the same busybox image, and the docker
/// CLI to drive both; None (with a note) where one of them is missing.
pub fn daemons_to_compare(bip: &str) -> Option<(Daemon, Cli, dockerd::Dockerd)> {
    let d = daemon_with_busybox()?;
    let Some(docker) = Cli::docker() else {
        eprintln!("note: no docker CLI; skipping the comparison with dockerd");
        return None;
    };
    let k = dockerd::Dockerd::start_networked_alone(bip)?;
    k.import_busybox();
    Some((d, docker, k))
}

/// A command's stdout and stderr as text.
pub fn out_err(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The host's static busybox, needed to build the test image.
pub fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A daemon started for one test.
pub struct Daemon {
    pub root: PathBuf,
    pub sock: PathBuf,
    pub cgroup_parent: String,
    /// Extra environment of the daemon process (kept for restarts).
    pub env: Vec<(String, String)>,
    /// The network namespace the daemon runs in (bound on a file under `root`); None:
    /// the host's (only the test that needs the real outside world).
    pub netns: Option<PathBuf>,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `berth daemon` on fresh roots and waits until it answers.
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Daemon {
        Daemon::start_with_env(&[], extra)
    }

    /// Starts a daemon with `env` added to its environment (and its runtime's).
    pub fn start_with_env(env: &[(&str, &str)], extra: &[&str]) -> Daemon {
        Daemon::start_full(env, extra, true)
    }

    /// Starts a daemon in the host's own network namespace: its bridge, rules and
    /// forwarding setting are the host's (the caller restores what it must).
    pub fn start_in_host_netns(extra: &[&str]) -> Daemon {
        Daemon::start_full(&[], extra, false)
    }

    fn start_full(env: &[(&str, &str)], extra: &[&str], private_net: bool) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let root = dir.path().to_path_buf();
        let sock = root.join("berth.sock");
        let unique = root
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("berth-e2e")
            .to_string();
        let cgroup_parent = format!("/{unique}");
        let netns = private_net.then(|| {
            let ns = root.join("netns");
            make_netns(&ns);
            ns
        });
        let mut d = Daemon {
            root,
            sock,
            netns,
            cgroup_parent,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            _dir: dir,
        };
        d.spawn(extra);
        d
    }

    /// (Re)starts the daemon process on this daemon's roots.
    pub fn spawn(&mut self, extra: &[&str]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("daemon.log"))
            .expect("daemon log");
        let log2 = log.try_clone().expect("dup log");
        let mut cmd = self.in_netns(berth_bin());
        cmd.arg("daemon")
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--data-root")
            .arg(self.root.join("data"))
            .arg("--exec-root")
            .arg(self.root.join("exec"))
            .arg("--pidfile")
            .arg(self.root.join("berth.pid"))
            .arg("--config-file")
            .arg(self.config_file())
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .args(extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = cmd.spawn().expect("spawn berth daemon");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.ping() {
                return;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("berth daemon exited with {st}:\n{}", self.log());
                }
            }
            if Instant::now() > deadline {
                panic!("berth daemon did not answer in 20 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// An empty daemon.json, so the host's /etc/berth/daemon.json is not read.
    fn config_file(&self) -> PathBuf {
        let p = self.root.join("daemon.json");
        if !p.exists() {
            std::fs::write(&p, "{}\n").expect("write daemon.json");
        }
        p
    }

    /// A command for `program` that runs in the daemon's network namespace (where its
    /// bridge is and its published ports answer).
    pub fn in_netns(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .arg("--")
                    .arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// Runs `program ARGS` in the daemon's network namespace; its output.
    pub fn net_run(&self, program: &str, args: &[&str]) -> Output {
        self.in_netns(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run in the daemon's network namespace")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILLs the daemon (containers must survive: live-restore).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERMs the daemon and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn ping(&self) -> bool {
        let Ok(mut s) = UnixStream::connect(&self.sock) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut buf = [0u8; 12];
        use std::io::Read;
        matches!(s.read_exact(&mut buf), Ok(())) && buf.starts_with(b"HTTP/1.1 200")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("daemon.log")).unwrap_or_default()
    }

    /// A command for `cli` (berth or docker) talking to this daemon.
    pub fn cmd(&self, cli: &Cli) -> Command {
        let mut c = Command::new(&cli.path);
        c.env("DOCKER_HOST", self.host());
        c.env_remove("DOCKER_CONTEXT");
        c.env("DOCKER_CONFIG", self.root.join("docker-config"));
        c.stdin(Stdio::null());
        c
    }

    /// Runs `cli ARGS`, returning its output.
    pub fn run(&self, cli: &Cli, args: &[&str]) -> Output {
        self.cmd(cli).args(args).output().expect("run cli")
    }

    /// Runs `cli ARGS` and returns stdout, panicking with both streams on failure.
    pub fn ok(&self, cli: &Cli, args: &[&str]) -> String {
        let out = self.run(cli, args);
        if !out.status.success() {
            panic!(
                "{} {:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log tail:\n{}",
                cli.name,
                args,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                tail(&self.log(), 30)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Imports the host's static busybox as `busybox:latest` (CMD ["sh"]).
    pub fn import_busybox(&self) {
        let tar = busybox_rootfs_tar(&self.root);
        let out = Command::new(berth_bin())
            .env("DOCKER_HOST", self.host())
            .args(["import", "--change", r#"CMD ["sh"]"#])
            .arg(&tar)
            .arg("busybox:latest")
            .output()
            .expect("berth import");
        assert!(
            out.status.success(),
            "berth import failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log(), 30)
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Remove every container through the API (the daemon uses live-restore, so
        // stopping it alone would leave them running), then stop it.
        if self.child.is_none() && !self.ping() {
            self.spawn(&[]);
        }
        let berth = Cli::berth();
        let ids = self.run(&berth, &["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.run(&berth, &["rm", "-f", id]);
        }
        self.stop();
        cleanup_root(&self.root, &self.cgroup_parent);
    }
}

/// Makes a network namespace bound on `path` (lo up), as `ip netns add` would but
/// under the test's own root; `unmount_under` removes it with the rest.
pub fn make_netns(path: &Path) {
    std::fs::write(path, b"").expect("netns file");
    let st = Command::new("unshare")
        .arg(format!("--net={}", path.display()))
        .arg("true")
        .status()
        .expect("unshare");
    assert!(st.success(), "unshare --net={} failed", path.display());
    let st = Command::new("nsenter")
        .arg(format!("--net={}", path.display()))
        .args(["ip", "link", "set", "lo", "up"])
        .status()
        .expect("nsenter ip");
    assert!(st.success(), "bringing lo up in {} failed", path.display());
}

/// Last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Unmounts anything left under `root` and removes leftover cgroups named after the
/// parent, so a failed test does not leave the machine dirty.
pub fn cleanup_root(root: &Path, cgroup_parent: &str) {
    unmount_under(root);
    for dir in leftover_cgroups(cgroup_parent) {
        remove_cgroup_tree(&dir);
    }
}

/// Lazily unmounts every mount at or under `root`, deepest first.
pub fn unmount_under(root: &Path) {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| Path::new(m).starts_with(root))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        let _ = Command::new("umount").arg("-l").arg(&m).status();
    }
}

/// Cgroup directories under every hierarchy for `parent` that exist.
pub fn leftover_cgroups(parent: &str) -> Vec<PathBuf> {
    let rel = parent.trim_start_matches('/');
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            let p = e.path().join(rel);
            if p.is_dir() {
                out.push(p);
            }
        }
    }
    let direct = Path::new("/sys/fs/cgroup").join(rel);
    if direct.is_dir() && !out.contains(&direct) {
        out.push(direct);
    }
    out
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// A rootfs tarball holding the static busybox and its applet links.
pub fn busybox_rootfs_tar(dir: &Path) -> PathBuf {
    let bb = busybox().expect("static busybox (apt-get install busybox-static)");
    let rootfs = dir.join("busybox-rootfs");
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir rootfs/bin");
    for d in ["etc", "tmp", "proc", "sys", "dev", "root", "var", "usr"] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir rootfs dir");
    }
    std::fs::copy(&bb, bin.join("busybox")).expect("copy busybox");
    let list = Command::new(&bb)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .expect("passwd");
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("group");
    let tar = dir.join("busybox.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("--numeric-owner")
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success(), "tar of busybox rootfs failed");
    let _ = std::fs::remove_dir_all(&rootfs);
    tar
}

/// A command-line client under test: berth's own, or docker's.
#[derive(Clone)]
pub struct Cli {
    pub name: &'static str,
    pub path: PathBuf,
}

impl Cli {
    pub fn berth() -> Cli {
        Cli {
            name: "berth",
            path: berth_bin(),
        }
    }

    pub fn docker() -> Option<Cli> {
        docker_cli().map(|path| Cli {
            name: "docker",
            path,
        })
    }

    /// berth, plus docker when installed (with a note when it is not).
    pub fn all() -> Vec<Cli> {
        let mut v = vec![Cli::berth()];
        match Cli::docker() {
            Some(d) => v.push(d),
            None => eprintln!("note: no docker CLI found; testing the berth CLI only"),
        }
        v
    }
}

/// Waits until `f` holds, up to `secs` seconds.
pub fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// Layers in [`many_layer_archive`]'s image: past the page mount(2) takes overlay's
/// options in.
pub const MANY_LAYERS: usize = 128;

/// A layer tarball adding `layers/NNN`, overwriting `layers/top`, and (for `delete`)
/// whiting out `layers/DDD`.
fn many_layers_layer(n: usize, delete: Option<usize>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_uid(0);
    dir.set_gid(0);
    dir.set_size(0);
    dir.set_mtime(1_700_000_000);
    dir.set_cksum();
    b.append_data(&mut dir, "layers/", std::io::empty())
        .expect("layer dir");
    let mut file = |path: String, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, path, data).expect("layer file");
    };
    file(format!("layers/{n:03}"), format!("{n}\n").as_bytes());
    file("layers/top".into(), format!("{n}\n").as_bytes());
    if let Some(d) = delete {
        file(format!("layers/.wh.{d:03}"), b"");
    }
    b.into_inner().expect("layer tar")
}

pub fn sha256_of(path: &Path) -> String {
    let o = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    assert!(o.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// Writes a `docker save` archive of a 128-layer image tagged `tag` (busybox, then 127
/// layers each adding `/layers/NNN` and overwriting `/layers/top`; layer 64 whites out
/// layer 10's file); returns its path.
pub fn many_layer_archive(d: &Daemon, tag: &str) -> std::path::PathBuf {
    let dir = d.root.join("many-layers");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let base = busybox_rootfs_tar(&d.root);
    let mut paths = Vec::new();
    let mut diff_ids = Vec::new();
    for n in 0..MANY_LAYERS {
        let rel = format!("{n:03}/layer.tar");
        let p = dir.join(&rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir layer");
        if n == 0 {
            std::fs::copy(&base, &p).expect("busybox layer");
        } else {
            // Layer 64 deletes what layer 10 added.
            std::fs::write(&p, many_layers_layer(n, (n == 64).then_some(10))).expect("write layer");
        }
        diff_ids.push(format!("sha256:{}", sha256_of(&p)));
        paths.push(rel);
    }
    let history: Vec<serde_json::Value> = (0..MANY_LAYERS)
        .map(|n| serde_json::json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("layer {n}")}))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&config).expect("config json");
    std::fs::write(dir.join("config.json"), &config_bytes).expect("write config");
    let config_name = format!("{}.json", sha256_of(&dir.join("config.json")));
    std::fs::rename(dir.join("config.json"), dir.join(&config_name)).expect("rename config");
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": paths,
    }]);
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&manifest).expect("manifest json"),
    )
    .expect("write manifest");
    let out = d.root.join("many-layers.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&out)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success(), "tar of the archive failed");
    std::fs::remove_dir_all(&dir).expect("remove the archive's tree");
    out
}

/// A Python that can `import docker` (the Docker SDK): `BERTH_PYTHON` (scripts/test.sh
/// makes a venv with it), else `python3` if it has the package.
pub fn sdk_python() -> Option<String> {
    let candidates: Vec<String> = match std::env::var("BERTH_PYTHON") {
        Ok(p) => vec![p],
        Err(_) => vec!["python3".into()],
    };
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import docker"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// For the SDK tests: a Python with the Docker SDK and a daemon with busybox imported,
/// or None (with a note) when the machine lacks the static busybox or the SDK.
pub fn sdk_daemon() -> Option<(String, Daemon)> {
    if busybox().is_none() {
        eprintln!("note: no static busybox; skipping");
        return None;
    }
    let Some(py) = sdk_python() else {
        eprintln!("note: no python with the `docker` package (set BERTH_PYTHON); skipping");
        return None;
    };
    let d = Daemon::start();
    d.import_busybox();
    Some((py, d))
}

/// A child process the test started, killed and reaped when this is dropped — also
/// when the test panics first.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
