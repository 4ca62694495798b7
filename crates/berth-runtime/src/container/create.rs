//! `create`: fork the container's init into new namespaces, place it in its cgroup,
//! map its ids, run the runtime-side hooks, and persist the state once init is ready.

use super::{state_json, Global};
use crate::error::{Context, Result, RuntimeError};
use crate::init::{self, InitArgs};
use crate::process::{tag, SyncChannel};
use crate::spec::Bundle;
use crate::state::{self, ContainerState};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};
use rustix::fs::{Mode, OFlags};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Options of `create` (and the create half of `run`).
#[derive(Debug, Default, Clone)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// A created container.
pub struct Created {
    pub pid: i32,
    pub state: ContainerState,
}

/// Undo a half-made container if create fails.
struct Cleanup {
    dir: Option<PathBuf>,
    cgroup: Option<berth_cgroups::Cgroup>,
    child: Option<i32>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = self.child {
            let _ = berth_sys::kill(pid, libc::SIGKILL);
            let _ = rustix::process::waitpid(
                rustix::process::Pid::from_raw(pid),
                rustix::process::WaitOptions::empty(),
            );
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.destroy();
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn write_id_map(pid: i32, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    if maps.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for m in maps {
        text.push_str(&format!(
            "{} {} {}\n",
            m.container_id(),
            m.host_id(),
            m.size()
        ));
    }
    let path = format!("/proc/{pid}/{file}");
    std::fs::write(&path, text.as_bytes()).ctx(|| format!("writing {text:?} to {path}"))
}

/// Create a container from a bundle. `console` overrides `--console-socket` with an
/// already connected socket (used by a foreground `run` with a terminal).
pub fn create(g: &Global, o: &CreateOpts, console: Option<OwnedFd>) -> Result<Created> {
    create_from(g, o, &Bundle::load(&o.bundle)?, console)
}

/// [`create`] for a caller that has already loaded the bundle (to look at its config
/// first), so the config is not read and parsed twice.
/// The compiled seccomp programs' cache under the runtime root (`@` cannot appear in a
/// container id, so no container's directory can take this name).
pub const SECCOMP_CACHE: &str = "@seccomp-cache";

pub fn create_from(
    g: &Global,
    o: &CreateOpts,
    bundle: &Bundle,
    console: Option<OwnedFd>,
) -> Result<Created> {
    state::validate_id(&o.id)?;
    let spec = &bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidConfig {
            path: bundle.dir.join("config.json"),
            msg: "process is missing".into(),
        })?;
    g.root.ensure()?;
    let dir = g.root.dir(&o.id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(RuntimeError::Exists(o.id.clone()))
        }
        Err(e) => return Err(e).ctx(|| format!("creating {}", dir.display())),
    }
    let mut cleanup = Cleanup {
        dir: Some(dir.clone()),
        cgroup: None,
        child: None,
    };
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec(spec).unwrap_or_default(),
    )
    .ctx(|| format!("saving config in {}", dir.display()))?;

    let linux = spec.linux().as_ref();
    // Compiled here, on the host and through the root's cache, so the init only loads it.
    let seccomp_program = match linux.and_then(|l| l.seccomp().as_ref()) {
        Some(s) => berth_seccomp::compile(s, Some(&g.root.path.join(SECCOMP_CACHE)))?,
        None => None,
    };
    let cg_path_cfg = linux
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let cgroup = berth_cgroups::Cgroup::new(cg_path_cfg.as_deref(), &o.id, g.systemd_cgroup)?;
    cgroup.create()?;
    cleanup.cgroup = Some(cgroup.clone());
    if let Some(r) = linux.and_then(|l| l.resources().as_ref()) {
        let mut r = r.clone();
        if let Some(devs) = r.devices() {
            let mut devs = devs.clone();
            devs.extend(default_device_rules());
            r.set_devices(Some(devs));
        }
        cgroup.apply(&r)?;
    }
    let cgroup_path = cgroup.path().to_string();

    // The exec fifo: init blocks opening it for write until `start` opens it to read.
    let fifo_path = dir.join(state::EXEC_FIFO);
    let old = rustix::process::umask(Mode::empty());
    let r = rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo_path,
        rustix::fs::FileType::Fifo,
        Mode::from_raw_mode(0o622),
        0,
    );
    rustix::process::umask(old);
    r.ctx(|| format!("creating {}", fifo_path.display()))?;
    let fifo = rustix::fs::open(&fifo_path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .ctx(|| format!("opening {}", fifo_path.display()))?;

    let terminal = process.terminal().unwrap_or(false);
    let console = match (terminal, console, &o.console_socket) {
        (false, _, _) => None,
        (true, Some(c), _) => Some(c),
        (true, None, Some(p)) => Some(crate::process::connect_console(p)?),
        (true, None, None) => {
            return Err(RuntimeError::Usage(
                "cannot allocate a tty without a console socket (--console-socket)".into(),
            ))
        }
    };

    // Work out which namespaces are new and which are joined.
    let mut clone_flags: u64 = 0;
    let mut join: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
    let mut join_user = None;
    let mut join_pid = None;
    let mut join_time = None;
    let mut new_cgroupns = false;
    let mut new_time = false;
    let mut userns = false;
    for ns in linux
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or_default()
    {
        let t = ns.typ();
        match ns.path() {
            Some(p) => {
                let fd = rustix::fs::open(p, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                    .ctx(|| format!("opening {t} namespace {}", p.display()))?;
                match t {
                    LinuxNamespaceType::User => join_user = Some(fd),
                    LinuxNamespaceType::Pid => join_pid = Some(fd),
                    LinuxNamespaceType::Time => join_time = Some(fd),
                    _ => join.push((t, fd)),
                }
            }
            None => match t {
                LinuxNamespaceType::Cgroup => new_cgroupns = true,
                LinuxNamespaceType::Time => new_time = true,
                LinuxNamespaceType::User => {
                    userns = true;
                    clone_flags |= t as u64;
                }
                _ => clone_flags |= t as u64,
            },
        }
    }
    // Join order: ipc, uts, net, cgroup, and the mount namespace last.
    join.sort_by_key(|(t, _)| match t {
        LinuxNamespaceType::Mount => 9,
        LinuxNamespaceType::Cgroup => 5,
        _ => 1,
    });
    if join_user.is_some() && clone_flags & (LinuxNamespaceType::Pid as u64) != 0 {
        return Err(RuntimeError::Usage(
            "joining a user namespace by path together with a new pid namespace is not supported"
                .into(),
        ));
    }
    let mut post_user_unshare = 0;
    if join_user.is_some() {
        // Namespaces made after joining the user namespace must be owned by it.
        post_user_unshare = clone_flags;
        clone_flags = 0;
    }
    if let Some(fd) = &join_pid {
        rustix::thread::move_into_link_name_space(
            fd.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::ProcessID),
        )
        .ctx(|| "joining pid namespace".into())?;
    }
    if let Some(fd) = &join_time {
        rustix::thread::move_into_link_name_space(
            fd.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Time),
        )
        .ctx(|| "joining time namespace".into())?;
    }
    if new_time {
        berth_sys::unshare(libc::CLONE_NEWTIME).ctx(|| "creating time namespace".into())?;
        if let Some(offs) = linux.and_then(|l| l.time_offsets().as_ref()) {
            let mut text = String::new();
            for (clock, off) in offs {
                text.push_str(&format!(
                    "{clock} {} {}\n",
                    off.secs().unwrap_or(0),
                    off.nanosecs().unwrap_or(0)
                ));
            }
            std::fs::write("/proc/self/timens_offsets", text.as_bytes())
                .ctx(|| format!("writing time offsets {text:?}"))?;
        }
    }

    let runtime_hooks = spec.hooks().as_ref().is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    let (parent, child) = SyncChannel::pair()?;
    let entry = cgroup.entry()?;
    let (forked, cloned_into) = crate::process::fork_into(clone_flags, &entry)
        .ctx(|| "creating the container process".into())?;
    match forked {
        berth_sys::Forked::Child => {
            drop(parent);
            std::mem::forget(cleanup);
            if let Err(e) = entry.join_self() {
                let _ = child.send(tag::ERROR, e.to_string().as_bytes());
                berth_sys::exit_now(1);
            }
            drop(entry);
            if post_user_unshare != 0 {
                if let Some(u) = &join_user {
                    if let Err(e) = rustix::thread::move_into_link_name_space(
                        u.as_fd(),
                        Some(rustix::thread::LinkNameSpaceType::User),
                    )
                    .ctx(|| "joining user namespace".into())
                    .and_then(|_| {
                        berth_sys::unshare(post_user_unshare as i32)
                            .ctx(|| "creating namespaces".into())
                    }) {
                        let _ = child.send(tag::ERROR, e.to_string().as_bytes());
                        berth_sys::exit_now(1);
                    }
                }
            }
            init::run(InitArgs {
                id: &o.id,
                bundle: &bundle.dir,
                spec,
                rootfs: &bundle.rootfs,
                sync: child,
                fifo: Some(fifo),
                console,
                no_pivot: o.no_pivot,
                no_new_keyring: o.no_new_keyring,
                preserve_fds: o.preserve_fds,
                cgroup_path: cgroup_path.clone(),
                join,
                join_user: if post_user_unshare != 0 {
                    None
                } else {
                    join_user
                },
                new_cgroupns,
                userns,
                runtime_hooks,
                seccomp_program: seccomp_program.as_ref(),
            })
        }
        berth_sys::Forked::Parent(pid) => {
            drop(child);
            drop(console);
            cleanup.child = Some(pid);
            if userns {
                if let Some(l) = linux {
                    write_id_map(
                        pid,
                        "uid_map",
                        l.uid_mappings().as_deref().unwrap_or_default(),
                    )?;
                    write_id_map(
                        pid,
                        "gid_map",
                        l.gid_mappings().as_deref().unwrap_or_default(),
                    )?;
                }
            }
            let go = (|| -> Result<()> {
                entry.finish(pid, cloned_into)?;
                if let Some(adj) = process.oom_score_adj() {
                    let p = format!("/proc/{pid}/oom_score_adj");
                    std::fs::write(&p, adj.to_string())
                        .ctx(|| format!("writing oomScoreAdj {adj} to {p}"))?;
                }
                parent.send(tag::GO, b"")
            })();
            if let Err(e) = go {
                // The init may build its root filesystem before it waits for GO; if it
                // failed there (and so is gone), its report is the cause to give.
                return Err(init_failure(&parent).unwrap_or(e));
            }
            if runtime_hooks {
                parent.expect(tag::HOOKS)?;
                let st = state_json(&o.id, "created", pid, spec, &bundle.dir);
                if let Some(h) = spec.hooks() {
                    crate::hooks::run_all(
                        "prestart",
                        h.prestart().as_deref().unwrap_or_default(),
                        &st,
                    )?;
                    crate::hooks::run_all(
                        "createRuntime",
                        h.create_runtime().as_deref().unwrap_or_default(),
                        &st,
                    )?;
                }
                parent.send(tag::HOOKS_DONE, b"")?;
            }
            parent.expect(tag::READY)?;
            let (_, start_time) = state::proc_stat(pid)
                .ok_or_else(|| RuntimeError::Init("container init exited during create".into()))?;
            let st = ContainerState {
                id: o.id.clone(),
                pid,
                start_time,
                bundle: bundle.dir.clone(),
                rootfs: bundle.rootfs.clone(),
                created: state::now_rfc3339(),
                owner: String::new(),
                annotations: spec.annotations().clone().unwrap_or_default(),
                cgroup_path,
                systemd_cgroup: g.systemd_cgroup,
            };
            g.root.save(&st)?;
            if let Some(pf) = &o.pid_file {
                write_pid_file(pf, pid)?;
            }
            cleanup.child = None;
            cleanup.cgroup = None;
            cleanup.dir = None;
            Ok(Created { pid, state: st })
        }
    }
}

/// The error the init reported, if it sent one (within a moment).
fn init_failure(sync: &crate::process::SyncChannel) -> Option<RuntimeError> {
    let fd = sync.as_fd();
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let wait = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    match rustix::event::poll(&mut fds, Some(&wait)) {
        Ok(n) if n > 0 => match sync.expect(tag::READY) {
            Err(e @ RuntimeError::Init(_)) => Some(e),
            _ => None,
        },
        _ => None,
    }
}

/// Device cgroup rules every container gets after its own (as runc adds them): mknod of
/// any node, the default device nodes and ptys. Devices from `linux.devices` are created
/// but only usable if the config's own rules allow them.
fn default_device_rules() -> Vec<oci_spec::runtime::LinuxDeviceCgroup> {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let rule_acc = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some(access.into()));
        d
    };
    let rule = |typ, major, minor| rule_acc(typ, major, minor, "rwm");
    // Creating device nodes is allowed (using them is not), as with runc.
    let mut v = vec![
        rule_acc(LinuxDeviceType::C, None, None, "m"),
        rule_acc(LinuxDeviceType::B, None, None, "m"),
    ];
    v.extend(
        crate::rootfs::default_devices()
            .into_iter()
            .map(|(_, ma, mi)| rule(LinuxDeviceType::C, Some(ma as i64), Some(mi as i64))),
    );
    v.push(rule(LinuxDeviceType::C, Some(5), Some(2))); // /dev/ptmx
    v.push(rule(LinuxDeviceType::C, Some(136), None)); // /dev/pts/*
    v.push(rule(LinuxDeviceType::C, Some(5), Some(1))); // /dev/console
    v
}

/// Write a pid file atomically (containerd reads it as soon as create returns).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ctx(|| "getcwd".into())?.join(path)
    };
    let tmp = abs.with_file_name(format!(
        ".{}.tmp",
        abs.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string()).ctx(|| format!("writing pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, &abs).ctx(|| format!("renaming pid file to {}", abs.display()))
}
