//! The container's init: the forked child that joins namespaces, builds the root
//! filesystem, drops privileges, waits for `start` and execs the user's process.
//! It reports success or failure to the runtime over the sync channel.

use crate::error::{Context, Result, RuntimeError};
use crate::process::{self, tag, SyncChannel};
use crate::rootfs::{self, MountCtx};
use oci_spec::runtime::{LinuxNamespaceType, LinuxPersonalityDomain, Spec};
use rustix::fs::{Mode, OFlags};
use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Everything the init needs, prepared by the runtime before forking.
pub struct InitArgs<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub sync: SyncChannel,
    /// O_PATH fd of the exec fifo; opening it for write blocks until `start`.
    pub fifo: Option<OwnedFd>,
    /// Connected console socket when the process wants a terminal.
    pub console: Option<OwnedFd>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub cgroup_path: String,
    /// Namespaces to join by path (everything but pid and user, which are handled
    /// before the fork), in join order.
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
    /// Joined user namespace, entered first when set.
    pub join_user: Option<OwnedFd>,
    pub new_cgroupns: bool,
    pub userns: bool,
    /// The runtime runs createRuntime/prestart hooks when asked.
    pub runtime_hooks: bool,
    /// `linux.seccomp` compiled by the runtime before the fork (None: compile here).
    pub seccomp_program: Option<&'a berth_seccomp::CompiledFilter>,
}

/// Run the init; never returns. Failures are reported over the sync channel.
pub fn run(a: InitArgs<'_>) -> ! {
    let sync_fd = a.sync.as_fd().try_clone_to_owned().ok();
    let err = match setup(a) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if let Some(fd) = sync_fd {
        let msg = err.to_string();
        let mut buf = vec![tag::ERROR];
        buf.extend_from_slice(msg.as_bytes());
        let _ = rustix::net::send(&fd, &buf, rustix::net::SendFlags::NOSIGNAL);
    }
    berth_sys::exit_now(1)
}

fn setns(fd: &OwnedFd, t: LinuxNamespaceType) -> Result<()> {
    use rustix::thread::{move_into_link_name_space, LinkNameSpaceType as L};
    let lt = match t {
        LinuxNamespaceType::Mount => L::Mount,
        LinuxNamespaceType::Cgroup => L::ControlGroup,
        LinuxNamespaceType::Uts => L::HostNameAndNISDomainName,
        LinuxNamespaceType::Ipc => L::InterProcessCommunication,
        LinuxNamespaceType::User => L::User,
        LinuxNamespaceType::Pid => L::ProcessID,
        LinuxNamespaceType::Network => L::Network,
        LinuxNamespaceType::Time => L::Time,
    };
    move_into_link_name_space(fd.as_fd(), Some(lt)).ctx(|| format!("joining {t} namespace"))
}

fn setup(a: InitArgs<'_>) -> Result<Infallible> {
    let spec = a.spec;
    let proc_cfg = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::Usage("config has no process".into()))?;
    // GO comes once the runtime has put this process in its cgroups (and written its id
    // maps). Moving a process between cgroup-v1 cgroups can wait for an RCU grace period
    // (~10 ms), so when nothing below depends on it — no user namespace to be mapped,
    // no cgroup namespace rooted at the new cgroup — the root filesystem is built
    // meanwhile and GO is awaited just after.
    let early_go = a.userns || a.join_user.is_some() || a.new_cgroupns;
    if early_go {
        a.sync.expect(tag::GO)?;
    }

    if let Some(u) = &a.join_user {
        setns(u, LinuxNamespaceType::User)?;
    }
    if a.userns || a.join_user.is_some() {
        // Become the namespace's root so files we create have a mapped owner.
        let _ = rustix::thread::set_thread_res_gid(
            rustix::process::Gid::ROOT,
            rustix::process::Gid::ROOT,
            rustix::process::Gid::ROOT,
        );
        let _ = rustix::thread::set_thread_res_uid(
            rustix::process::Uid::ROOT,
            rustix::process::Uid::ROOT,
            rustix::process::Uid::ROOT,
        );
    }
    for (t, fd) in &a.join {
        setns(fd, *t)?;
    }
    if a.new_cgroupns {
        berth_sys::unshare(libc::CLONE_NEWCGROUP).ctx(|| "creating cgroup namespace".into())?;
    }

    let has_ns = |t| crate::spec::namespace(spec, t).is_some();
    if let Some(h) = spec.hostname() {
        if !has_ns(LinuxNamespaceType::Uts) {
            return Err(RuntimeError::Usage(
                "unable to set hostname without a private UTS namespace".into(),
            ));
        }
        rustix::system::sethostname(h.as_bytes()).ctx(|| format!("setting hostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname() {
        if !has_ns(LinuxNamespaceType::Uts) {
            return Err(RuntimeError::Usage(
                "unable to set domainname without a private UTS namespace".into(),
            ));
        }
        rustix::system::setdomainname(d.as_bytes()).ctx(|| format!("setting domainname {d:?}"))?;
    }

    let linux = spec.linux().as_ref();
    let own_mntns = has_ns(LinuxNamespaceType::Mount);
    build_rootfs(&a, spec, own_mntns)?;
    if !early_go {
        a.sync.expect(tag::GO)?;
    }

    if a.runtime_hooks {
        a.sync.send(tag::HOOKS, b"")?;
        a.sync.expect(tag::HOOKS_DONE)?;
    }
    if let Some(hooks) = spec.hooks() {
        if let Some(hs) = hooks.create_container() {
            let st = crate::container::state_json(
                a.id,
                "created",
                rustix::process::getpid().as_raw_nonzero().get(),
                spec,
                a.bundle,
            );
            crate::hooks::run_all("createContainer", hs, &st)?;
        }
    }

    if !own_mntns {
        // Sharing the host's mount namespace: there is nothing to pivot; chroot, as runc does.
        rootfs::chroot_root(a.rootfs)?;
    } else if a.no_pivot {
        rootfs::move_root(a.rootfs)?;
    } else {
        rootfs::pivot_root(a.rootfs)?;
    }
    if let Some(prop) = linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        let flags = match prop {
            "shared" => libc::MS_SHARED,
            "rshared" => libc::MS_SHARED | libc::MS_REC,
            "slave" => libc::MS_SLAVE,
            "rslave" => libc::MS_SLAVE | libc::MS_REC,
            "private" => libc::MS_PRIVATE,
            "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
            "unbindable" => libc::MS_UNBINDABLE,
            "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
            _ => 0,
        };
        if flags != 0 {
            rootfs::set_propagation("/", flags)?;
        }
    }

    if let Some(l) = linux {
        if let Some(sysctl) = l.sysctl() {
            let mut keys: Vec<_> = sysctl.iter().collect();
            keys.sort();
            for (k, v) in keys {
                rootfs::write_sysctl(k, v)?;
            }
        }
        let root = rustix::fs::open(
            "/",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| "opening /".into())?;
        for p in l.readonly_paths().as_deref().unwrap_or_default() {
            rootfs::readonly_path(root.as_fd(), Path::new(p))?;
        }
        let masked = l.masked_paths().as_deref().unwrap_or_default();
        if !masked.is_empty() {
            // The container's own /dev/null, checked to be the real device: a rootfs that
            // planted something else there must not get it bound over masked paths.
            let null = rootfs::open_verified_null()?;
            for p in masked {
                rootfs::mask_path(root.as_fd(), Path::new(p), null.as_fd())?;
            }
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        rootfs::remount_root_readonly()?;
    }

    if let Some(c) = &a.console {
        let size = proc_cfg
            .console_size()
            .as_ref()
            .map(|b| (b.height() as u16, b.width() as u16));
        process::setup_console(c, size, true)?;
    }
    drop(a.console);

    if !a.no_new_keyring {
        let name = CString::new(format!("_ses.{}", a.id)).unwrap_or_default();
        // Kernels without keyrings (or a seccomp profile forbidding keyctl) are fine.
        let _ = berth_sys::join_session_keyring(&name);
    }

    if let Some(per) = linux.and_then(|l| l.personality().as_ref()) {
        let domain = match per.domain() {
            LinuxPersonalityDomain::PerLinux => 0,
            LinuxPersonalityDomain::PerLinux32 => 0x0008,
        };
        berth_sys::personality(domain).ctx(|| format!("setting personality {:?}", per.domain()))?;
    }
    process::apply_rlimits(proc_cfg)?;
    process::apply_sched(proc_cfg)?;

    finish(FinishArgs {
        spec,
        process: proc_cfg,
        sync: Some(a.sync),
        fifo: a.fifo,
        preserve_fds: a.preserve_fds,
        setgroups_allowed: true,
        id: a.id,
        bundle: a.bundle,
        seccomp_program: a.seccomp_program,
    })
}

fn build_rootfs(a: &InitArgs<'_>, spec: &Spec, own_mntns: bool) -> Result<()> {
    let linux = spec.linux().as_ref();
    if !own_mntns {
        return build_mounts(a, spec);
    }
    // Keep the container's mount events away from the host.
    let root_prop = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        Some("shared") | Some("rshared") => libc::MS_SHARED | libc::MS_REC,
        Some("private") | Some("rprivate") => libc::MS_PRIVATE | libc::MS_REC,
        _ => libc::MS_SLAVE | libc::MS_REC,
    };
    rootfs::set_propagation("/", root_prop)?;
    rootfs::make_parent_mount_private(a.rootfs)?;
    build_mounts(a, spec)
}

fn build_mounts(a: &InitArgs<'_>, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let rc = CString::new(a.rootfs.as_os_str().as_encoded_bytes())
        .map_err(|_| RuntimeError::Usage("rootfs path has a NUL".into()))?;
    berth_sys::mount(Some(&rc), &rc, None, libc::MS_BIND | libc::MS_REC, None)
        .ctx(|| format!("binding rootfs {} onto itself", a.rootfs.display()))?;
    let root = rustix::fs::open(
        a.rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening rootfs {}", a.rootfs.display()))?;
    let ctx = MountCtx {
        rootfs: a.rootfs,
        root: root.as_fd(),
        cgroupns: a.new_cgroupns
            || crate::spec::namespace(spec, LinuxNamespaceType::Cgroup).is_some(),
        userns: a.userns || a.join_user.is_some(),
        cgroup_path: &a.cgroup_path,
        label: linux.and_then(|l| l.mount_label().as_deref()),
    };
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    let mut dev_bound = false;
    for m in mounts {
        if m.destination() == Path::new("/dev") {
            let o = rootfs::parse_options(m.options().as_deref().unwrap_or_default());
            dev_bound = o.flags & libc::MS_BIND != 0 || m.typ().as_deref() == Some("bind");
        }
        rootfs::mount_entry(&ctx, m)?;
    }
    if !dev_bound {
        let cfg_devs = linux
            .and_then(|l| l.devices().as_deref())
            .unwrap_or_default();
        for (path, major, minor) in rootfs::default_devices() {
            if cfg_devs.iter().any(|d| d.path() == Path::new(path)) {
                continue;
            }
            rootfs::create_device(
                &ctx,
                &rootfs::DeviceNode {
                    path: Path::new(path),
                    kind: oci_spec::runtime::LinuxDeviceType::C,
                    major: major as u64,
                    minor: minor as u64,
                    mode: 0o666,
                    uid: 0,
                    gid: 0,
                },
            )?;
        }
        for d in cfg_devs {
            rootfs::create_config_device(&ctx, d)?;
        }
        rootfs::dev_symlinks(&ctx)?;
    } else {
        for d in linux
            .and_then(|l| l.devices().as_deref())
            .unwrap_or_default()
        {
            rootfs::create_config_device(&ctx, d)?;
        }
    }
    Ok(())
}

/// The last steps before exec, shared with `exec`.
pub struct FinishArgs<'a> {
    pub spec: &'a Spec,
    pub process: &'a oci_spec::runtime::Process,
    pub sync: Option<SyncChannel>,
    pub fifo: Option<OwnedFd>,
    pub preserve_fds: u32,
    pub setgroups_allowed: bool,
    pub id: &'a str,
    pub bundle: &'a Path,
    /// `linux.seccomp` already compiled; None: compile it with libseccomp here.
    pub seccomp_program: Option<&'a berth_seccomp::CompiledFilter>,
}

/// Loads the filter: the precompiled program when there is one, else through
/// libseccomp (which also hands back a notify listener).
fn load_seccomp(
    s: &oci_spec::runtime::LinuxSeccomp,
    compiled: Option<&berth_seccomp::CompiledFilter>,
) -> Result<Option<OwnedFd>> {
    match compiled {
        Some(c) => {
            berth_seccomp::load_compiled(c)?;
            Ok(None)
        }
        None => Ok(berth_seccomp::load(s)?),
    }
}

/// Look up the executable, enter the cwd, load seccomp, switch user, drop
/// capabilities, report readiness, wait for start, run startContainer hooks, exec.
pub fn finish(f: FinishArgs<'_>) -> Result<Infallible> {
    let p = f.process;
    let env = process::environment(p);
    let args: Vec<CString> = p
        .args()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            CString::new(s.as_str())
                .map_err(|_| RuntimeError::Usage(format!("argument {s:?} contains a NUL byte")))
        })
        .collect::<Result<_>>()?;
    let arg0 = p
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    process::enter_cwd(p.cwd())?;
    // Look the executable up before reporting ready, so a missing one fails `create`
    // (as runc and crun do, and as containerd and docker expect).
    let exe: Option<PathBuf> = Some(process::find_executable(&arg0, &env)?);
    rustix::process::umask(Mode::from_raw_mode(p.user().umask().unwrap_or(0o022)));

    // Mark every fd but stdio and the preserved ones close-on-exec now, before a seccomp
    // filter might forbid close_range.
    for fd in 3..3 + f.preserve_fds {
        berth_sys::clear_cloexec(fd as i32).ctx(|| format!("keeping preserved fd {fd}"))?;
    }
    berth_sys::cloexec_from(3 + f.preserve_fds).ctx(|| "marking fds close-on-exec".into())?;
    let seccomp = f.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let nnp = p.no_new_privileges().unwrap_or(false);
    let mut listener = None;
    if let (Some(s), false) = (seccomp, nnp) {
        listener = load_seccomp(s, f.seccomp_program)?;
    }
    let no_caps = oci_spec::runtime::LinuxCapabilities::default();
    let caps = p.capabilities().as_ref().unwrap_or(&no_caps);
    // The bounding set can only be dropped while we still hold CAP_SETPCAP as root.
    berth_seccomp::caps::apply_bounding(caps)?;
    process::switch_user(p, f.setgroups_allowed)?;
    berth_seccomp::caps::apply(caps)?;
    if nnp {
        rustix::thread::set_no_new_privs(true).ctx(|| "setting no_new_privs".into())?;
    }
    if let Some(sync) = f.sync {
        sync.send(tag::READY, b"")?;
        drop(sync);
    }
    let mut fifo_writer = None;
    if let Some(fifo) = f.fifo {
        let path = rootfs::fd_path(fifo.as_fd());
        let w = loop {
            match rustix::fs::open(
                path.as_c_str(),
                OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Err(rustix::io::Errno::INTR) => continue,
                r => break r,
            }
        }
        .ctx(|| "opening the exec fifo".into())?;
        rustix::io::write(&w, b"0").ctx(|| "writing the exec fifo".into())?;
        // Held (close-on-exec) until exec, so `start` sees end-of-file exactly when the
        // process has been executed and can run poststart hooks after it.
        fifo_writer = Some(w);
        drop(fifo);
    }
    if let Some(hs) = f
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_ref())
    {
        let st = crate::container::state_json(
            f.id,
            "running",
            rustix::process::getpid().as_raw_nonzero().get(),
            f.spec,
            f.bundle,
        );
        crate::hooks::run_all("startContainer", hs, &st)?;
    }
    if let (Some(s), true) = (seccomp, nnp) {
        listener = load_seccomp(s, f.seccomp_program)?;
    }
    if let (Some(fd), Some(s)) = (&listener, seccomp) {
        if let Some(path) = s.listener_path() {
            let st = crate::container::state_json(
                f.id,
                "creating",
                rustix::process::getpid().as_raw_nonzero().get(),
                f.spec,
                f.bundle,
            );
            berth_seccomp::send_listener(path, &st, fd.as_fd())?;
        }
    }
    drop(listener);
    let exe = match exe {
        Some(e) => e,
        None => match process::find_executable(&arg0, &env) {
            Ok(e) => e,
            Err(e) => {
                let _ =
                    std::io::Write::write_all(&mut std::io::stderr(), format!("{e}\n").as_bytes());
                berth_sys::exit_now(127);
            }
        },
    };
    let exe_c = CString::new(exe.as_os_str().as_encoded_bytes())
        .map_err(|_| RuntimeError::Usage("executable path has a NUL".into()))?;
    berth_sys::reset_signal_handlers();
    berth_sys::unblock_all_signals();
    let err = berth_sys::execve(&exe_c, &args, &env);
    drop(fifo_writer);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("exec {}: {err}\n", exe.display()).as_bytes(),
    );
    Err(RuntimeError::Init(format!("exec {}: {err}", exe.display())))
}
