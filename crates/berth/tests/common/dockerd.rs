//! A real dockerd (Debian's docker.io 20.10, fetched by scripts/dockerd.sh) of a test's
//! own, to compare berth's answers with.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A dockerd of the test's own: private socket, data root, exec root and pidfile under
/// a temporary directory, no networking changes. Dropping it stops it and everything
/// it started, unmounts and removes what it made, even when the test failed.
pub struct Dockerd {
    dir: PathBuf,
    child: Option<Child>,
    /// Whether these existed before (dockerd makes them whatever its roots).
    run_docker_existed: bool,
    etc_docker_existed: bool,
    /// dockerd writes /etc/docker/key.json even where the package made /etc/docker.
    key_json_existed: bool,
}

impl Dockerd {
    /// A dockerd with no networking of its own (no bridge, no iptables).
    pub fn start() -> Option<Dockerd> {
        Dockerd::start_with(
            None,
            &[
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
            ],
        )
    }

    /// A dockerd with its default networking (docker0 on `bip`, iptables rules, the
    /// FORWARD policy set to DROP) inside the network namespace bound at `netns`.
    pub fn start_networked(netns: &Path, bip: &str) -> Option<Dockerd> {
        let bip = format!("--bip={bip}");
        Dockerd::start_with(Some(netns), &[&bip, "--ip6tables=false"])
    }

    /// [`Dockerd::start_networked`] in a network namespace of its own, bound under its
    /// directory (so dropping it removes the namespace with the rest).
    pub fn start_networked_alone(bip: &str) -> Option<Dockerd> {
        let bip = format!("--bip={bip}");
        Dockerd::start_with(Some(Path::new("")), &[&bip, "--ip6tables=false"])
    }

    /// `netns`: None, the caller's; an empty path, one of its own under its directory.
    fn start_with(netns: Option<&Path>, net_args: &[&str]) -> Option<Dockerd> {
        let Some(bin) = std::env::var_os("BERTH_DOCKERD")
            .map(PathBuf::from)
            .into_iter()
            .chain(["/usr/sbin/dockerd", "/usr/bin/dockerd"].map(PathBuf::from))
            .find(|p| p.exists())
        else {
            eprintln!("note: no dockerd (scripts/dockerd.sh fetches one; set BERTH_DOCKERD); skipping the comparison with dockerd");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd-")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        let mut d = Dockerd {
            dir,
            child: None,
            run_docker_existed: Path::new("/run/docker").exists(),
            etc_docker_existed: Path::new("/etc/docker").exists(),
            key_json_existed: Path::new("/etc/docker/key.json").exists(),
        };
        std::fs::write(d.dir.join("daemon.json"), "{}\n").expect("daemon.json");
        let own_ns = d.dir.join("netns");
        let netns = match netns {
            Some(p) if p.as_os_str().is_empty() => {
                super::make_netns(&own_ns);
                Some(own_ns.as_path())
            }
            other => other,
        };
        let log = File::create(d.dir.join("dockerd.log")).expect("log");
        // Its helpers (docker-init) sit beside it when scripts/dockerd.sh unpacked it.
        let helpers = bin
            .parent()
            .and_then(Path::parent)
            .map(|usr| usr.join("bin"))
            .filter(|b| b.join("docker-init").exists());
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
        // docker-proxy sits beside dockerd.
        let path = match (helpers, bin.parent()) {
            (Some(h), Some(own)) => format!("{}:{}:{path}", own.display(), h.display()),
            (Some(h), None) => format!("{}:{path}", h.display()),
            _ => path,
        };
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display())).arg("--").arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let child = cmd
            .env("PATH", path)
            .arg("-H")
            .arg(d.host())
            .arg("--config-file")
            .arg(d.dir.join("daemon.json"))
            .arg("--data-root")
            .arg(d.dir.join("data"))
            .arg("--exec-root")
            .arg(d.dir.join("exec"))
            .arg("--pidfile")
            .arg(d.dir.join("docker.pid"))
            .args(net_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        d.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if d.docker(&["version"]).status.success() {
                return Some(d);
            }
            if let Some(Ok(Some(st))) = d.child.as_mut().map(|c| c.try_wait()) {
                panic!("dockerd exited with {st}:\n{}", d.log());
            }
            if Instant::now() > deadline {
                panic!("dockerd did not answer in 60 s:\n{}", d.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock().display())
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// The network namespace of a dockerd started with [`Dockerd::start_networked_alone`]
    /// (where its published ports answer).
    pub fn netns(&self) -> PathBuf {
        self.dir.join("netns")
    }

    pub fn log(&self) -> String {
        super::tail(
            &std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default(),
            30,
        )
    }

    /// The docker CLI against this dockerd.
    pub fn docker(&self, args: &[&str]) -> Output {
        let cli = super::docker_cli().expect("a docker CLI");
        Command::new(cli)
            .env("DOCKER_HOST", self.host())
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        let (so, se) = super::out_err(&o);
        assert!(
            o.status.success(),
            "docker {args:?} against dockerd failed:\n{so}\n{se}\ndockerd log:\n{}",
            self.log()
        );
        so
    }

    /// Imports the host's static busybox as `busybox:latest` (CMD ["sh"]), as
    /// [`super::Daemon::import_busybox`] does for berth: the same image in both.
    pub fn import_busybox(&self) {
        let tar = super::busybox_rootfs_tar(&self.dir);
        self.ok(&[
            "import",
            "--change",
            r#"CMD ["sh"]"#,
            tar.to_str().expect("utf-8 path"),
            "busybox:latest",
        ]);
    }

    /// Processes whose command line names our directory (dockerd's containerd, shims).
    fn ours(&self) -> Vec<u32> {
        let needle = self.dir.to_string_lossy().into_owned();
        let mut pids = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&needle) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while !matches!(c.try_wait(), Ok(Some(_))) {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = self.ours();
            if left.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in left {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        super::unmount_under(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
        if !self.run_docker_existed {
            let _ = std::fs::remove_dir_all("/run/docker");
        }
        if !self.key_json_existed {
            let _ = std::fs::remove_file("/etc/docker/key.json");
        }
        if !self.etc_docker_existed {
            let _ = std::fs::remove_dir_all("/etc/docker");
        }
    }
}
