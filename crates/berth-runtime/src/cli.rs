//! runc's command line over the runtime library. `berth-runc ARGS…` and
//! `berth runtime ARGS…` both call [`main`]. Hand-parsed: the runtime is started for
//! every container operation, and a small parser keeps it fast and lean.

use crate::container::{self, CreateOpts, ExecOpts, Global, ListFormat};
use crate::error::{Result, RuntimeError};
use crate::state::Root;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

const USAGE: &str = "berth-runc: berth's OCI runtime (runc's command line)

usage: berth-runc [--root DIR] [--log FILE] [--log-format text|json] [--debug]
                  [--systemd-cgroup] COMMAND [ARGS...]

commands: create start run state kill delete exec pause resume ps list spec
          features update events checkpoint(unsupported) version
";

/// Parsed flags and positional arguments of one command.
#[derive(Debug, Default)]
struct Parsed {
    flags: HashMap<String, Vec<String>>,
    pos: Vec<String>,
}

impl Parsed {
    fn has(&self, k: &str) -> bool {
        self.flags.contains_key(k)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.flags.get(k).and_then(|v| v.last()).map(String::as_str)
    }
    fn all(&self, k: &str) -> Vec<String> {
        self.flags.get(k).cloned().unwrap_or_default()
    }
    fn bool(&self, k: &str) -> bool {
        self.get(k).is_some_and(|v| v != "false")
    }
}

/// A flag spec: names (long first), whether it takes a value.
type FlagSpec = (&'static [&'static str], bool);

fn parse(args: &[String], spec: &[FlagSpec], stop_at_positional: bool) -> Result<Parsed> {
    let mut p = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            p.pos.extend(args[i + 1..].iter().cloned());
            break;
        }
        if a.starts_with('-') && a.len() > 1 && (p.pos.is_empty() || !stop_at_positional) {
            let body = a.trim_start_matches('-');
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let Some((names, takes)) = spec.iter().find(|(names, _)| names.contains(&name)) else {
                return Err(RuntimeError::Usage(format!(
                    "flag provided but not defined: -{name}"
                )));
            };
            let key = names[0].to_string();
            let val = if *takes {
                match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i).cloned().ok_or_else(|| {
                            RuntimeError::Usage(format!("flag needs an argument: -{name}"))
                        })?
                    }
                }
            } else {
                inline.unwrap_or_else(|| "true".into())
            };
            p.flags.entry(key).or_default().push(val);
        } else {
            p.pos.push(a.clone());
            if stop_at_positional {
                p.pos.extend(args[i + 1..].iter().cloned());
                break;
            }
        }
        i += 1;
    }
    Ok(p)
}

fn one_id(p: &Parsed, cmd: &str) -> Result<String> {
    match p.pos.as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(RuntimeError::Usage(format!(
            "{cmd}: container id cannot be empty"
        ))),
        _ => Err(RuntimeError::Usage(format!(
            "{cmd}: expected exactly one container id, got {:?}",
            p.pos
        ))),
    }
}

const GLOBAL_FLAGS: &[FlagSpec] = &[
    (&["root"], true),
    (&["log"], true),
    (&["log-format"], true),
    (&["debug"], false),
    (&["systemd-cgroup"], false),
    (&["rootless"], true),
    (&["criu"], true),
    (&["help", "h"], false),
    (&["version", "v"], false),
];

const CREATE_FLAGS: &[FlagSpec] = &[
    (&["bundle", "b"], true),
    (&["pid-file"], true),
    (&["console-socket"], true),
    (&["no-pivot"], false),
    (&["no-new-keyring"], false),
    (&["preserve-fds"], true),
    (&["detach", "d"], false),
    (&["keep"], false),
    (&["no-subreaper"], false),
];

/// Entry point: run the command line and return the process exit code.
pub fn main(argv: Vec<OsString>) -> i32 {
    let again = argv.clone();
    main_as(argv, again)
}

/// Like [`main`], for a binary that hosts the runtime under a subcommand: `reexec` is
/// the full original command line, used when the runtime re-executes itself.
pub fn main_as(argv: Vec<OsString>, reexec: Vec<OsString>) -> i32 {
    let args: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // Global flags come before the command.
    let split = {
        let mut i = 0;
        while i < args.len() && args[i].starts_with('-') {
            let name = args[i].trim_start_matches('-');
            let takes = GLOBAL_FLAGS
                .iter()
                .find(|(n, _)| n.contains(&name.split('=').next().unwrap_or("")))
                .is_some_and(|(_, t)| *t);
            i += if takes && !name.contains('=') { 2 } else { 1 };
        }
        i.min(args.len())
    };
    let globals = match parse(&args[..split], GLOBAL_FLAGS, false) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("berth-runc: {e}");
            return 1;
        }
    };
    crate::log::init(
        globals.get("log").map(PathBuf::from),
        globals.get("log-format") == Some("json"),
        globals.has("debug"),
    );
    if globals.has("version") {
        println!(
            "berth-runc version {}\nspec: 1.2.0",
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }
    let Some(cmd) = args.get(split).cloned() else {
        print!("{USAGE}");
        return if globals.has("help") { 0 } else { 1 };
    };
    let rest = &args[split + 1..];
    // Guard against a re-exec loop should a sealed image not be recognised as one.
    let reexeced = std::env::var_os(crate::sealed::REEXEC_ENV).is_some();
    let root = PathBuf::from(globals.get("root").unwrap_or("/run/berth-runc"));
    if matches!(cmd.as_str(), "create" | "run" | "exec" | "shim")
        && !reexeced
        && !crate::sealed::is_sealed()
    {
        let Err(e) = crate::sealed::reexec_sealed(&reexec, &root);
        crate::log::warn(&format!("running without a sealed runtime image: {e}"));
    }
    let g = Global {
        root: Root::new(root),
        systemd_cgroup: globals.has("systemd-cgroup"),
        debug: globals.has("debug"),
    };
    match dispatch(&g, &cmd, rest) {
        Ok(code) => code,
        Err(e) => {
            let msg = e.to_string();
            if crate::log::has_file() {
                crate::log::error(&msg);
            }
            eprintln!("berth-runc: {msg}");
            1
        }
    }
}

fn dispatch(g: &Global, cmd: &str, rest: &[String]) -> Result<i32> {
    let mut out = std::io::stdout();
    match cmd {
        "create" => {
            let p = parse(rest, CREATE_FLAGS, true)?;
            let o = create_opts(&p, "create")?;
            container::create(g, &o, None)?;
            Ok(0)
        }
        "run" => run(g, rest),
        "start" => {
            let p = parse(rest, &[], true)?;
            container::start(g, &one_id(&p, "start")?)?;
            Ok(0)
        }
        "state" => {
            let p = parse(rest, &[], true)?;
            let c = container::Container::load(g, &one_id(&p, "state")?)?;
            let s = serde_json::to_string_pretty(&c.oci_state()).unwrap_or_default();
            let _ = writeln!(out, "{s}");
            Ok(0)
        }
        "kill" => {
            let p = parse(rest, &[(&["all", "a"], false)], false)?;
            let (id, sig) = match p.pos.as_slice() {
                [id] => (id.clone(), libc::SIGTERM),
                [id, s] => (id.clone(), container::parse_signal(s)?),
                _ => {
                    return Err(RuntimeError::Usage(
                        "kill: usage: kill [--all] ID [SIGNAL]".into(),
                    ))
                }
            };
            container::kill(g, &id, sig, p.bool("all"))?;
            Ok(0)
        }
        "delete" => {
            let p = parse(rest, &[(&["force", "f"], false)], false)?;
            if p.pos.is_empty() {
                return Err(RuntimeError::Usage(
                    "delete: container id cannot be empty".into(),
                ));
            }
            for id in &p.pos {
                container::delete(g, id, p.bool("force"))?;
            }
            Ok(0)
        }
        "pause" => {
            let p = parse(rest, &[], true)?;
            container::pause(g, &one_id(&p, "pause")?)?;
            Ok(0)
        }
        "resume" => {
            let p = parse(rest, &[], true)?;
            container::resume(g, &one_id(&p, "resume")?)?;
            Ok(0)
        }
        "ps" => {
            let p = parse(rest, &[(&["format", "f"], true)], true)?;
            let (id, ps_args) = p
                .pos
                .split_first()
                .ok_or_else(|| RuntimeError::Usage("ps: container id cannot be empty".into()))?;
            let json = match p.get("format").unwrap_or("table") {
                "json" => true,
                "table" => false,
                f => return Err(RuntimeError::Usage(format!("ps: invalid format {f:?}"))),
            };
            container::ps(g, id, json, ps_args, &mut out)?;
            Ok(0)
        }
        "list" | "ls" => {
            let p = parse(
                rest,
                &[(&["format", "f"], true), (&["quiet", "q"], false)],
                false,
            )?;
            let f = if p.bool("quiet") {
                ListFormat::Quiet
            } else {
                match p.get("format").unwrap_or("table") {
                    "json" => ListFormat::Json,
                    "table" => ListFormat::Table,
                    f => return Err(RuntimeError::Usage(format!("list: invalid format {f:?}"))),
                }
            };
            container::list(g, f, &mut out)?;
            Ok(0)
        }
        "exec" => exec(g, rest),
        // Hidden: the per-container shim the engine starts (docs/shim.md).
        "shim" => crate::shim::main(g, rest),
        "spec" => {
            let p = parse(
                rest,
                &[(&["bundle", "b"], true), (&["rootless"], false)],
                false,
            )?;
            let dir = PathBuf::from(p.get("bundle").unwrap_or("."));
            crate::defaults::write_spec(&dir, p.bool("rootless"))?;
            Ok(0)
        }
        "features" => {
            let _ = writeln!(out, "{}", crate::defaults::features());
            Ok(0)
        }
        "update" => update(g, rest),
        "events" => {
            let p = parse(rest, &[(&["stats"], false), (&["interval"], true)], false)?;
            let id = one_id(&p, "events")?;
            let interval = parse_duration(p.get("interval").unwrap_or("5s"))?;
            container::events(g, &id, p.bool("stats"), interval, &mut out)?;
            Ok(0)
        }
        "version" => {
            let _ = writeln!(
                out,
                "berth-runc version {}\nspec: 1.2.0",
                env!("CARGO_PKG_VERSION")
            );
            Ok(0)
        }
        "checkpoint" | "restore" => Err(RuntimeError::Usage(format!(
            "{cmd}: checkpoint/restore is not supported by berth-runc"
        ))),
        "help" => {
            print!("{USAGE}");
            Ok(0)
        }
        other => Err(RuntimeError::Usage(format!(
            "unknown command {other:?}\n{USAGE}"
        ))),
    }
}

fn create_opts(p: &Parsed, cmd: &str) -> Result<CreateOpts> {
    Ok(CreateOpts {
        id: one_id(p, cmd)?,
        bundle: PathBuf::from(p.get("bundle").unwrap_or(".")),
        pid_file: p.get("pid-file").map(PathBuf::from),
        console_socket: p.get("console-socket").map(PathBuf::from),
        no_pivot: p.bool("no-pivot"),
        no_new_keyring: p.bool("no-new-keyring"),
        preserve_fds: p
            .get("preserve-fds")
            .map(|v| {
                v.parse()
                    .map_err(|_| RuntimeError::Usage(format!("invalid --preserve-fds {v:?}")))
            })
            .transpose()?
            .unwrap_or(0),
    })
}

fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let bad = || RuntimeError::Usage(format!("invalid duration {s:?}"));
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A socket pair standing in for a console socket, for a foreground run with a tty.
pub(crate) fn console_pair() -> Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| RuntimeError::Io {
        context: "creating console socket pair".into(),
        source: e.into(),
    })
}

/// A foreground process with a terminal and no console socket gets one of ours: the
/// pair's first end receives the pty master, the second goes to the container.
type ConsoleEnds = (Option<std::os::fd::OwnedFd>, Option<std::os::fd::OwnedFd>);

fn own_console(terminal: bool, has_socket: bool, detach: bool) -> Result<ConsoleEnds> {
    if !terminal || has_socket {
        return Ok((None, None));
    }
    if detach {
        return Err(RuntimeError::Usage(
            "cannot allocate a tty when detaching without --console-socket".into(),
        ));
    }
    let (a, b) = console_pair()?;
    Ok((Some(a), Some(b)))
}

/// Receive the pty master sent over a console socket.
pub(crate) fn recv_master(sock: &std::os::fd::OwnedFd) -> Result<std::os::fd::OwnedFd> {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 256];
    recvmsg(
        sock,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut anc,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| RuntimeError::Io {
        context: "receiving the pty master".into(),
        source: e.into(),
    })?;
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(RuntimeError::Init("no pty master received".into()))
}

fn run(g: &Global, rest: &[String]) -> Result<i32> {
    let p = parse(rest, CREATE_FLAGS, true)?;
    let o = create_opts(&p, "run")?;
    let detach = p.bool("detach");
    // Block signals before forking so the exit of a process that ends at once is never
    // lost; they are forwarded to the container while we wait.
    if !detach {
        berth_sys::block_all_signals();
    }
    let bundle = crate::spec::Bundle::load(&o.bundle)?;
    let (mine, theirs) = own_console(bundle.terminal(), o.console_socket.is_some(), detach)?;
    let created = container::create_from(g, &o, &bundle, theirs)?;
    let master = match &mine {
        Some(s) => Some(recv_master(s)?),
        None => None,
    };
    if let Err(e) = container::start(g, &o.id) {
        let _ = container::delete(g, &o.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = crate::foreground::wait(created.pid, master)?;
    if !p.bool("keep") {
        if let Ok(c) = container::Container::load(g, &o.id) {
            let cg = c.cgroup().ok();
            container::destroy(&c, cg.as_ref())?;
        }
    }
    Ok(code)
}

fn exec(g: &Global, rest: &[String]) -> Result<i32> {
    let spec: &[FlagSpec] = &[
        (&["process", "p"], true),
        (&["detach", "d"], false),
        (&["pid-file"], true),
        (&["console-socket"], true),
        (&["tty", "t"], false),
        (&["cwd"], true),
        (&["env", "e"], true),
        (&["user", "u"], true),
        (&["additional-gids", "g"], true),
        (&["cap", "c"], true),
        (&["no-new-privs"], false),
        (&["preserve-fds"], true),
        (&["process-label"], true),
        (&["apparmor"], true),
        (&["cgroup"], true),
        (&["ignore-paused"], false),
    ];
    let p = parse(rest, spec, true)?;
    let (id, cmd) = p
        .pos
        .split_first()
        .ok_or_else(|| RuntimeError::Usage("exec: container id cannot be empty".into()))?;
    let c = container::Container::load(g, id)?;
    let process = if let Some(file) = p.get("process") {
        let data = std::fs::read(file).map_err(|e| RuntimeError::Io {
            context: format!("reading process file {file}"),
            source: e,
        })?;
        serde_json::from_slice::<oci_spec::runtime::Process>(&data).map_err(|e| {
            RuntimeError::InvalidConfig {
                path: PathBuf::from(file),
                msg: e.to_string(),
            }
        })?
    } else {
        if cmd.is_empty() {
            return Err(RuntimeError::Usage(
                "exec: no command given (use ARGS or --process)".into(),
            ));
        }
        let mut pr = c.spec.process().clone().unwrap_or_default();
        pr.set_args(Some(cmd.to_vec()));
        pr.set_terminal(Some(p.bool("tty")));
        if let Some(cwd) = p.get("cwd") {
            pr.set_cwd(PathBuf::from(cwd));
        }
        let mut env = pr.env().clone().unwrap_or_default();
        for e in p.all("env") {
            let key = e.split('=').next().unwrap_or_default().to_string();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(e);
        }
        pr.set_env(Some(env));
        if let Some(u) = p.get("user") {
            let (uid, gid) = match u.split_once(':') {
                Some((a, b)) => (a, Some(b)),
                None => (u, None),
            };
            let mut user = pr.user().clone();
            user.set_uid(
                uid.parse()
                    .map_err(|_| RuntimeError::Usage(format!("exec: invalid --user {u:?}")))?,
            );
            if let Some(gid) = gid {
                user.set_gid(
                    gid.parse()
                        .map_err(|_| RuntimeError::Usage(format!("exec: invalid --user {u:?}")))?,
                );
            }
            pr.set_user(user);
        }
        if p.has("additional-gids") {
            let mut user = pr.user().clone();
            let gids = p
                .all("additional-gids")
                .iter()
                .map(|g| {
                    g.parse()
                        .map_err(|_| RuntimeError::Usage(format!("exec: invalid gid {g:?}")))
                })
                .collect::<Result<Vec<u32>>>()?;
            user.set_additional_gids(Some(gids));
            pr.set_user(user);
        }
        if p.has("cap") {
            let mut caps = pr.capabilities().clone().unwrap_or_default();
            for name in p.all("cap") {
                let cap: oci_spec::runtime::Capability = name.parse().map_err(|_| {
                    RuntimeError::Usage(format!("exec: unknown capability {name:?}"))
                })?;
                let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                    let mut s = s.clone().unwrap_or_default();
                    s.insert(cap);
                    Some(s)
                };
                caps.set_bounding(add(caps.bounding()));
                caps.set_effective(add(caps.effective()));
                caps.set_permitted(add(caps.permitted()));
            }
            pr.set_capabilities(Some(caps));
        }
        if p.bool("no-new-privs") {
            pr.set_no_new_privileges(Some(true));
        }
        pr
    };
    let detach = p.bool("detach");
    if !detach {
        berth_sys::block_all_signals();
    }
    let terminal = process.terminal().unwrap_or(false);
    let (mine, theirs) = own_console(terminal, p.get("console-socket").is_some(), detach)?;
    let o = ExecOpts {
        id: id.clone(),
        process: Some(process),
        detach,
        pid_file: p.get("pid-file").map(PathBuf::from),
        console_socket: p.get("console-socket").map(PathBuf::from),
        preserve_fds: p
            .get("preserve-fds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    };
    let e = container::exec(g, o, theirs)?;
    if detach {
        return Ok(0);
    }
    let master = match &mine {
        Some(s) => Some(recv_master(s)?),
        None => None,
    };
    crate::foreground::wait(e.pid, master)
}

fn update(g: &Global, rest: &[String]) -> Result<i32> {
    let spec: &[FlagSpec] = &[
        (&["resources", "r"], true),
        (&["memory", "m"], true),
        (&["memory-reservation"], true),
        (&["memory-swap"], true),
        (&["kernel-memory"], true),
        (&["kernel-memory-tcp"], true),
        (&["cpu-shares"], true),
        (&["cpu-quota"], true),
        (&["cpu-period"], true),
        (&["cpu-rt-period"], true),
        (&["cpu-rt-runtime"], true),
        (&["cpuset-cpus"], true),
        (&["cpuset-mems"], true),
        (&["pids-limit"], true),
        (&["blkio-weight"], true),
        (&["l3-cache-schema"], true),
        (&["mem-bw-schema"], true),
    ];
    let p = parse(rest, spec, false)?;
    let id = one_id(&p, "update")?;
    use oci_spec::runtime::{LinuxPids, LinuxResources};
    let mut r: LinuxResources = if let Some(src) = p.get("resources") {
        let data = if src == "-" {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).map_err(|e| {
                RuntimeError::Io {
                    context: "reading resources from stdin".into(),
                    source: e,
                }
            })?;
            v
        } else {
            std::fs::read(src).map_err(|e| RuntimeError::Io {
                context: format!("reading {src}"),
                source: e,
            })?
        };
        serde_json::from_slice(&data).map_err(|e| RuntimeError::InvalidConfig {
            path: PathBuf::from(src),
            msg: e.to_string(),
        })?
    } else {
        LinuxResources::default()
    };
    let num = |k: &str| -> Result<Option<i64>> {
        p.get(k)
            .map(|v| {
                parse_size(v)
                    .ok_or_else(|| RuntimeError::Usage(format!("update: invalid --{k} {v:?}")))
            })
            .transpose()
    };
    let mut mem = (*r.memory()).unwrap_or_default();
    let mut mem_set = r.memory().is_some();
    if let Some(v) = num("memory")? {
        mem.set_limit(Some(v));
        mem_set = true;
    }
    if let Some(v) = num("memory-reservation")? {
        mem.set_reservation(Some(v));
        mem_set = true;
    }
    if let Some(v) = num("memory-swap")? {
        mem.set_swap(Some(v));
        mem_set = true;
    }
    if mem_set {
        r.set_memory(Some(mem));
    }
    let mut cpu = r.cpu().clone().unwrap_or_default();
    let mut cpu_set = r.cpu().is_some();
    if let Some(v) = num("cpu-shares")? {
        cpu.set_shares(Some(v as u64));
        cpu_set = true;
    }
    if let Some(v) = num("cpu-quota")? {
        cpu.set_quota(Some(v));
        cpu_set = true;
    }
    if let Some(v) = num("cpu-period")? {
        cpu.set_period(Some(v as u64));
        cpu_set = true;
    }
    if let Some(v) = num("cpu-rt-period")? {
        cpu.set_realtime_period(Some(v as u64));
        cpu_set = true;
    }
    if let Some(v) = num("cpu-rt-runtime")? {
        cpu.set_realtime_runtime(Some(v));
        cpu_set = true;
    }
    if let Some(v) = p.get("cpuset-cpus") {
        cpu.set_cpus(Some(v.to_string()));
        cpu_set = true;
    }
    if let Some(v) = p.get("cpuset-mems") {
        cpu.set_mems(Some(v.to_string()));
        cpu_set = true;
    }
    if cpu_set {
        r.set_cpu(Some(cpu));
    }
    if let Some(v) = num("pids-limit")? {
        let mut pl = LinuxPids::default();
        pl.set_limit(v);
        r.set_pids(Some(pl));
    }
    if let Some(v) = num("blkio-weight")? {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(v as u16));
        r.set_block_io(Some(b));
    }
    container::update(g, &id, &r)?;
    Ok(0)
}

/// Parse a byte size or plain number ("512m", "1g", "-1").
fn parse_size(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit
        .to_ascii_lowercase()
        .trim_end_matches('b')
        .trim_end_matches('i')
    {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_stop_at_first_positional() {
        let p = parse(
            &v(&["--bundle", "/b", "--pid-file=/p", "id", "--not-a-flag"]),
            CREATE_FLAGS,
            true,
        )
        .unwrap();
        assert_eq!(p.get("bundle"), Some("/b"));
        assert_eq!(p.get("pid-file"), Some("/p"));
        assert_eq!(p.pos, v(&["id", "--not-a-flag"]));
    }

    #[test]
    fn unknown_flag_is_an_error_naming_it() {
        let e = parse(&v(&["--bogus", "id"]), CREATE_FLAGS, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("-1"), Some(-1));
        assert_eq!(parse_size("x"), None);
        assert_eq!(
            parse_duration("5s").unwrap(),
            std::time::Duration::from_secs(5)
        );
        assert_eq!(
            parse_duration("100ms").unwrap(),
            std::time::Duration::from_millis(100)
        );
    }
}
