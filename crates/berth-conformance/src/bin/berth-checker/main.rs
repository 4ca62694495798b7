//! berth-checker: the static helper that the conformance suite copies into each
//! bundle's rootfs (as `/bin/checker`) and runs as (or beside) the container
//! process, to observe the container from inside (youki's runtimetest pattern).
//!
//! Most subcommands print facts as one JSON document on stdout and let the test
//! compare them with what it asked for; `masked` and `readonly` verify an
//! expectation themselves and exit 1 with a message saying what they saw.
//! Everything is read from /proc or done with plain std calls, so the binary has
//! no dependency beyond std and links statically against glibc.

#![forbid(unsafe_code)]

mod json;

use json::Json;
use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// O_PATH on Linux (x86_64 and aarch64); std has no constant for it.
const O_PATH: i32 = 0o10000000;

const USAGE: &str = "usage: checker <command> [args]
commands (each prints one JSON document):
  status | caps | uid | umask | oom      ids, groups, capability sets, NoNewPrivs, seccomp, umask, oom_score_adj, personality
  hostname                               hostname and domainname (from /proc/sys/kernel)
  rlimits                                soft and hard limits from /proc/self/limits
  fds                                    open file descriptors and what they point at
  cwd                                    working directory, and whether it lies inside the container's root
  env | args                             environment / argv
  ns                                     namespace links, pid, uid/gid maps, network devices, cgroups, time offsets
  mounts                                 /proc/self/mountinfo, parsed
  stat PATH...                           lstat facts (type, mode, uid, gid, major, minor, link target)
  devices                                stat of the default /dev entries
  sysctl NAME...                         values under /proc/sys
  sched                                  scheduling policy and nice value
  seccomp [OP:PATH...]                   seccomp mode and filter count, plus `try` results
  try OP:PATH...                         attempt mkdir|chmod|write|append|create|open-wr|read|head|exec|rmdir, report errno
  masked PATH...                         verify each PATH is masked (exit 1 if not)
  readonly PATH...                       verify each PATH is on a read-only mount and not writable (exit 1 if not)
  exe-attack REPORT STOPFILE SECS        CVE-2019-5736 probe: try to open other processes' executables for writing
  sleep SECS                             sleep";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(cmd) = args.get(1) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[2..];
    let result = match cmd.as_str() {
        "status" | "caps" | "uid" | "umask" | "oom" => status().map(Some),
        "hostname" => hostname().map(Some),
        "rlimits" => rlimits().map(Some),
        "fds" => fds().map(Some),
        "cwd" => cwd().map(Some),
        "env" => Ok(Some(env())),
        "args" => Ok(Some(Json::obj().with("args", args.clone()))),
        "ns" => ns().map(Some),
        "mounts" => mounts_json().map(Some),
        "stat" => Ok(Some(stat_paths(rest))),
        "devices" => Ok(Some(stat_paths(
            &[
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty",
                "/dev/console",
                "/dev/ptmx",
                "/dev/pts/ptmx",
                "/dev/fd",
                "/dev/stdin",
                "/dev/stdout",
                "/dev/stderr",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
            ]
            .map(String::from),
        ))),
        "sysctl" => Ok(Some(sysctl(rest))),
        "sched" => sched().map(Some),
        "try" => Ok(Some(Json::obj().with("results", Json::Arr(try_ops(rest))))),
        "seccomp" => seccomp(rest).map(Some),
        "masked" => verify(rest, check_masked),
        "readonly" => verify(rest, check_readonly),
        "exe-attack" => exe_attack(rest).map(Some),
        "sleep" => {
            let secs: u64 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(3600);
            std::thread::sleep(Duration::from_secs(secs));
            Ok(None)
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(None)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(Some(json)) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("checker {cmd}: {msg}");
            ExitCode::from(1)
        }
    }
}

fn read(path: &str) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

fn errno_json(err: &io::Error) -> Json {
    Json::obj()
        .with("ok", false)
        .with("errno", err.raw_os_error().map(i64::from))
        .with("error", err.to_string())
}

/// Fields of /proc/self/status as a map, values trimmed.
fn proc_status() -> Result<Vec<(String, String)>, String> {
    Ok(read("/proc/self/status")?
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect())
}

fn ints(s: &str) -> Vec<i64> {
    s.split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect()
}

fn status() -> Result<Json, String> {
    let st = proc_status()?;
    let get = |k: &str| st.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut j = Json::obj().with("pid", std::process::id());
    for key in ["Uid", "Gid"] {
        j.set(&key.to_lowercase(), ints(&get(key).unwrap_or_default()));
    }
    j.set("groups", ints(&get("Groups").unwrap_or_default()));
    for key in [
        "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "Umask", "PPid",
    ] {
        j.set(key, get(key));
    }
    j.set(
        "NoNewPrivs",
        get("NoNewPrivs").and_then(|v| v.parse::<i64>().ok()),
    );
    j.set(
        "Seccomp",
        get("Seccomp").and_then(|v| v.parse::<i64>().ok()),
    );
    j.set(
        "oom_score_adj",
        read("/proc/self/oom_score_adj")?.trim().parse::<i64>().ok(),
    );
    j.set(
        "personality",
        fs::read_to_string("/proc/self/personality")
            .ok()
            .map(|s| s.trim().to_string()),
    );
    Ok(j)
}

fn hostname() -> Result<Json, String> {
    Ok(Json::obj()
        .with(
            "hostname",
            read("/proc/sys/kernel/hostname")?.trim_end().to_string(),
        )
        .with(
            "domainname",
            read("/proc/sys/kernel/domainname")?.trim_end().to_string(),
        ))
}

/// /proc/self/limits rows keyed by their RLIMIT_* name.
fn rlimits() -> Result<Json, String> {
    const NAMES: [(&str, &str); 16] = [
        ("Max cpu time", "RLIMIT_CPU"),
        ("Max file size", "RLIMIT_FSIZE"),
        ("Max data size", "RLIMIT_DATA"),
        ("Max stack size", "RLIMIT_STACK"),
        ("Max core file size", "RLIMIT_CORE"),
        ("Max resident set", "RLIMIT_RSS"),
        ("Max processes", "RLIMIT_NPROC"),
        ("Max open files", "RLIMIT_NOFILE"),
        ("Max locked memory", "RLIMIT_MEMLOCK"),
        ("Max address space", "RLIMIT_AS"),
        ("Max file locks", "RLIMIT_LOCKS"),
        ("Max pending signals", "RLIMIT_SIGPENDING"),
        ("Max msgqueue size", "RLIMIT_MSGQUEUE"),
        ("Max nice priority", "RLIMIT_NICE"),
        ("Max realtime priority", "RLIMIT_RTPRIO"),
        ("Max realtime timeout", "RLIMIT_RTTIME"),
    ];
    let text = read("/proc/self/limits")?;
    let mut j = Json::obj();
    for line in text.lines().skip(1) {
        for (label, name) in NAMES {
            if let Some(rest) = line.strip_prefix(label) {
                let mut cols = rest.split_whitespace();
                let val = |s: Option<&str>| -> Json {
                    match s {
                        Some("unlimited") => Json::Str("unlimited".into()),
                        Some(n) => n.parse::<u64>().map(Json::from).unwrap_or(Json::Null),
                        None => Json::Null,
                    }
                };
                let soft = val(cols.next());
                let hard = val(cols.next());
                j.set(name, Json::obj().with("soft", soft).with("hard", hard));
            }
        }
    }
    Ok(j)
}

fn fds() -> Result<Json, String> {
    // Collect names first: the directory handle itself is an open fd while we read.
    let names: Vec<String> = fs::read_dir("/proc/self/fd")
        .map_err(|e| format!("/proc/self/fd: {e}"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut list = Vec::new();
    for name in names {
        let Ok(fd) = name.parse::<i64>() else {
            continue;
        };
        // The read_dir handle is closed by now, so its link no longer resolves.
        if let Ok(target) = fs::read_link(format!("/proc/self/fd/{fd}")) {
            list.push(
                Json::obj()
                    .with("fd", fd)
                    .with("target", target.to_string_lossy().into_owned()),
            );
        }
    }
    Ok(Json::obj().with("fds", Json::Arr(list)))
}

fn dev_ino(p: &Path) -> io::Result<(u64, u64)> {
    let m = fs::metadata(p)?;
    Ok((m.dev(), m.ino()))
}

/// Walks `..` up from the cwd until it reaches a directory that is its own
/// parent, and says whether that directory is this process's root. A cwd
/// outside the root (a leaked host directory) climbs to some other top.
fn cwd() -> Result<Json, String> {
    let link = fs::read_link("/proc/self/cwd").map(|p| p.to_string_lossy().into_owned());
    let root = dev_ino(Path::new("/")).map_err(|e| format!("stat /: {e}"))?;
    let mut p = PathBuf::from(".");
    let mut inside = None;
    for _ in 0..512 {
        let here = dev_ino(&p).map_err(|e| format!("stat {}: {e}", p.display()))?;
        let up = p.join("..");
        let parent = dev_ino(&up).map_err(|e| format!("stat {}: {e}", up.display()))?;
        if here == parent {
            inside = Some(here == root);
            break;
        }
        p = up;
    }
    let entries: Vec<String> = fs::read_dir(".")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    Ok(Json::obj()
        .with("cwd", link.ok())
        .with("inside_root", inside)
        .with("entries", entries))
}

fn env() -> Json {
    let vars: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    Json::obj().with("env", vars)
}

fn ns() -> Result<Json, String> {
    let mut links = Json::obj();
    for t in [
        "cgroup",
        "ipc",
        "mnt",
        "net",
        "pid",
        "pid_for_children",
        "time",
        "time_for_children",
        "user",
        "uts",
    ] {
        links.set(
            t,
            fs::read_link(format!("/proc/self/ns/{t}"))
                .ok()
                .map(|p| p.to_string_lossy().into_owned()),
        );
    }
    let net_devices: Vec<String> = read("/proc/net/dev")?
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .collect();
    Ok(Json::obj()
        .with("pid", std::process::id())
        .with("ns", links)
        .with("uid_map", read("/proc/self/uid_map")?)
        .with("gid_map", read("/proc/self/gid_map")?)
        .with("net_devices", net_devices)
        .with("cgroup", read("/proc/self/cgroup")?)
        .with(
            "timens_offsets",
            fs::read_to_string("/proc/self/timens_offsets").ok(),
        )
        .with("uptime", read("/proc/uptime")?.trim().to_string()))
}

struct MountInfo {
    id: i64,
    parent: i64,
    root: String,
    mount_point: String,
    options: String,
    optional: String,
    fstype: String,
    source: String,
    super_options: String,
}

fn unescape(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let digits = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(digits, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mountinfo() -> Result<Vec<MountInfo>, String> {
    let text = read("/proc/self/mountinfo")?;
    let mut v = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let f: Vec<&str> = pre.split(' ').collect();
        let g: Vec<&str> = post.split(' ').collect();
        if f.len() < 6 || g.len() < 3 {
            continue;
        }
        v.push(MountInfo {
            id: f[0].parse().unwrap_or(-1),
            parent: f[1].parse().unwrap_or(-1),
            root: unescape(f[3]),
            mount_point: unescape(f[4]),
            options: f[5].to_string(),
            optional: f[6..].join(" "),
            fstype: g[0].to_string(),
            source: unescape(g[1]),
            super_options: g[2].to_string(),
        });
    }
    Ok(v)
}

fn mounts_json() -> Result<Json, String> {
    let list: Vec<Json> = mountinfo()?
        .into_iter()
        .map(|m| {
            Json::obj()
                .with("id", m.id)
                .with("parent", m.parent)
                .with("root", m.root)
                .with("mount_point", m.mount_point)
                .with("options", m.options)
                .with("optional", m.optional)
                .with("fstype", m.fstype)
                .with("source", m.source)
                .with("super_options", m.super_options)
        })
        .collect();
    Ok(Json::obj().with("mounts", Json::Arr(list)))
}

fn major(rdev: u64) -> u64 {
    ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff)
}
fn minor(rdev: u64) -> u64 {
    (rdev & 0xff) | ((rdev >> 12) & !0xff)
}

fn stat_paths(paths: &[String]) -> Json {
    let mut out = Json::obj();
    for p in paths {
        let entry = match fs::symlink_metadata(p) {
            Err(e) => errno_json(&e).with("exists", false),
            Ok(m) => {
                let ft = m.file_type();
                let kind = if ft.is_symlink() {
                    "symlink"
                } else if ft.is_dir() {
                    "dir"
                } else if ft.is_char_device() {
                    "char"
                } else if ft.is_block_device() {
                    "block"
                } else if ft.is_fifo() {
                    "fifo"
                } else if ft.is_socket() {
                    "socket"
                } else {
                    "file"
                };
                Json::obj()
                    .with("exists", true)
                    .with("type", kind)
                    .with("mode", i64::from(m.mode() & 0o7777))
                    .with("uid", m.uid())
                    .with("gid", m.gid())
                    .with("major", major(m.rdev()))
                    .with("minor", minor(m.rdev()))
                    .with("size", m.size())
                    .with(
                        "link",
                        fs::read_link(p)
                            .ok()
                            .map(|l| l.to_string_lossy().into_owned()),
                    )
            }
        };
        out.set(p, entry);
    }
    out
}

fn sysctl(names: &[String]) -> Json {
    let mut out = Json::obj();
    for n in names {
        let path = format!("/proc/sys/{}", n.replace('.', "/"));
        out.set(
            n,
            fs::read_to_string(&path)
                .ok()
                .map(|s| s.trim_end().to_string()),
        );
    }
    out
}

/// Policy and nice from /proc/self/stat (fields 41 and 19, counting from 1).
fn sched() -> Result<Json, String> {
    let stat = read("/proc/self/stat")?;
    let after_comm = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    // after_comm starts at field 3 (state).
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|s| s.parse::<i64>().ok());
    Ok(Json::obj()
        .with("policy", field(41))
        .with("nice", field(19))
        .with("rt_priority", field(40)))
}

/// Seccomp mode and filter count, plus `try` results for the given operations.
fn seccomp(ops: &[String]) -> Result<Json, String> {
    let st = proc_status()?;
    let num = |k: &str| {
        st.iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse::<i64>().ok())
    };
    Ok(Json::obj()
        .with("Seccomp", num("Seccomp"))
        .with("Seccomp_filters", num("Seccomp_filters"))
        .with("results", Json::Arr(try_ops(ops))))
}

fn try_ops(specs: &[String]) -> Vec<Json> {
    let mut results = Vec::new();
    for spec in specs {
        let (op, path) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        let outcome: io::Result<Option<Json>> = match op {
            "mkdir" => fs::create_dir(path).map(|_| None),
            "rmdir" => fs::remove_dir(path).map(|_| None),
            "chmod" => fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map(|_| None),
            "write" | "create" => fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .and_then(|mut f| f.write_all(b"berth-checker-was-here\n"))
                .map(|_| None),
            "append" => fs::OpenOptions::new()
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(b"berth-checker-was-here\n"))
                .map(|_| None),
            "open-wr" => fs::OpenOptions::new().write(true).open(path).map(|_| None),
            "read" => {
                fs::read(path).map(|d| Some(Json::from(String::from_utf8_lossy(&d).into_owned())))
            }
            "head" => fs::File::open(path).and_then(|f| {
                let mut d = Vec::new();
                f.take(16).read_to_end(&mut d)?;
                Ok(Some(Json::from(
                    d.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                )))
            }),
            "exec" => std::process::Command::new(path)
                .status()
                .map(|s| Some(Json::from(s.code()))),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown op {other}"),
            )),
        };
        let r = match outcome {
            Ok(data) => Json::obj().with("ok", true).with("data", data),
            Err(e) => errno_json(&e),
        };
        results.push(r.with("op", op).with("path", path));
    }
    results
}

fn verify(
    paths: &[String],
    check: fn(&str) -> Result<String, String>,
) -> Result<Option<Json>, String> {
    if paths.is_empty() {
        return Err("no paths given".into());
    }
    let mut failures = Vec::new();
    let mut report = Json::obj();
    for p in paths {
        match check(p) {
            Ok(how) => report.set(p, how),
            Err(msg) => failures.push(format!("{p}: {msg}")),
        }
    }
    if failures.is_empty() {
        Ok(Some(report))
    } else {
        Err(failures.join("; "))
    }
}

fn check_masked(path: &str) -> Result<String, String> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok("absent".into()),
        Err(e) => return Err(format!("stat failed: {e}")),
    };
    if meta.is_dir() {
        let entries: Vec<String> = fs::read_dir(path)
            .map_err(|e| format!("expected an empty directory, listing failed: {e}"))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !entries.is_empty() {
            return Err(format!(
                "expected an empty directory, found entries {entries:?}"
            ));
        }
        // The spec asks only that masked paths cannot be read; runc, crun and
        // youki also make the covering tmpfs read-only, which is reported.
        let probe = Path::new(path).join(".berth-mask-probe");
        let writable = fs::write(&probe, b"x").is_ok();
        let _ = fs::remove_file(&probe);
        return Ok(if writable {
            "empty writable directory"
        } else {
            "empty read-only directory"
        }
        .into());
    }
    let mut data = Vec::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| format!("expected reads to return nothing, open/read failed: {e}"))?;
    if !data.is_empty() {
        return Err(format!(
            "expected reads to return nothing, read {} bytes: {:?}",
            data.len(),
            String::from_utf8_lossy(&data[..data.len().min(64)])
        ));
    }
    // Writing to a /dev/null mask is allowed and must leave nothing behind.
    let _ = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(b"berth-mask-probe\n"));
    let again = fs::read(path).map_err(|e| format!("re-read failed: {e}"))?;
    if !again.is_empty() {
        return Err(format!(
            "a write to the masked file stuck: it now reads {:?}",
            String::from_utf8_lossy(&again[..again.len().min(64)])
        ));
    }
    if meta.file_type().is_char_device() {
        Ok(format!(
            "empty (char device {}:{})",
            major(meta.rdev()),
            minor(meta.rdev())
        ))
    } else {
        Ok("empty".into())
    }
}

/// The mount that `path` lives on: the longest mount point that prefixes it.
fn covering_mount<'a>(mounts: &'a [MountInfo], path: &str) -> Option<&'a MountInfo> {
    mounts
        .iter()
        .filter(|m| {
            let mp = m.mount_point.as_str();
            path == mp || mp == "/" || path.starts_with(&format!("{mp}/"))
        })
        // Later entries in mountinfo are mounted on top of earlier ones.
        .enumerate()
        .max_by_key(|(i, m)| (m.mount_point.len(), *i))
        .map(|(_, m)| m)
}

fn check_readonly(path: &str) -> Result<String, String> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok("absent".into()),
        Err(e) => return Err(format!("stat failed: {e}")),
    };
    let mounts = mountinfo()?;
    let m = covering_mount(&mounts, path).ok_or("no mount covers it")?;
    if !m.options.split(',').any(|o| o == "ro") {
        return Err(format!(
            "expected a read-only mount, the mount at {} has options {}",
            m.mount_point, m.options
        ));
    }
    let attempt = if meta.is_dir() {
        let probe = Path::new(path).join(".berth-ro-probe");
        let r = fs::write(&probe, b"x");
        if r.is_ok() {
            let _ = fs::remove_file(&probe);
        }
        r
    } else {
        fs::OpenOptions::new().write(true).open(path).map(|_| ())
    };
    match attempt {
        Ok(()) => Err("expected writes to fail, a write succeeded".into()),
        Err(e) => Ok(format!("ro mount at {}, write fails: {e}", m.mount_point)),
    }
}

/// CVE-2019-5736 probe. Watches /proc for processes whose executable is not one
/// of the rootfs's own binaries (the runtime entering the container for `exec`,
/// or an entrypoint that resolves to `/proc/self/exe`), and for each tries to
/// open that executable for writing: directly, and again later through an
/// O_PATH handle, which is how the original exploit waited out ETXTBSY. Every
/// successful write appends a marker, so the host side can see it too.
fn exe_attack(args: &[String]) -> Result<Json, String> {
    let [report, stop, secs] = args else {
        return Err("usage: exe-attack REPORT STOPFILE SECS".into());
    };
    let secs: u64 = secs.parse().map_err(|_| format!("bad SECS {secs:?}"))?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let me = std::process::id().to_string();
    let own = ["/bin/busybox", "/bin/checker"];
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut held: Vec<(Json, fs::File, bool)> = Vec::new();
    let mut direct = Vec::new();
    let mut polls = 0u64;
    while Instant::now() < deadline && !Path::new(stop).exists() {
        polls += 1;
        if let Ok(rd) = fs::read_dir("/proc") {
            for e in rd.filter_map(|e| e.ok()) {
                let pid = e.file_name().to_string_lossy().into_owned();
                if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
                    continue;
                }
                let exe_path = format!("/proc/{pid}/exe");
                let Ok(target) = fs::read_link(&exe_path) else {
                    continue;
                };
                let target = target.to_string_lossy().into_owned();
                if own.contains(&target.as_str()) || !seen.insert((pid.clone(), target.clone())) {
                    continue;
                }
                let wr = fs::OpenOptions::new().append(true).open(&exe_path);
                let wr_json = match wr {
                    Ok(mut f) => {
                        let w = f.write_all(b"\nBERTH-CVE-2019-5736\n");
                        Json::obj().with("ok", true).with("wrote", w.is_ok())
                    }
                    Err(e) => errno_json(&e),
                };
                let target_json = Json::obj()
                    .with("pid", pid.clone())
                    .with("exe", target.clone());
                direct.push(
                    Json::obj()
                        .with("target", target_json)
                        .with("open_for_write", wr_json),
                );
                if let Ok(f) = fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(O_PATH)
                    .open(&exe_path)
                {
                    held.push((Json::obj().with("pid", pid).with("exe", target), f, false));
                }
            }
        }
        for (_, f, done) in held.iter_mut().filter(|(_, _, d)| !*d) {
            let fd_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(f));
            if let Ok(mut w) = fs::OpenOptions::new().append(true).open(&fd_path) {
                *done = w.write_all(b"\nBERTH-CVE-2019-5736\n").is_ok();
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let reopened: Vec<Json> = held
        .into_iter()
        .map(|(t, _, done)| {
            Json::obj()
                .with("target", t)
                .with("reopened_for_write", done)
        })
        .collect();
    let j = Json::obj()
        .with("polls", polls)
        .with("direct", Json::Arr(direct))
        .with("via_o_path", Json::Arr(reopened));
    fs::write(report, format!("{j}\n")).map_err(|e| format!("{report}: {e}"))?;
    Ok(j)
}
