//! Loads real seccomp filters and changes real capabilities. Neither can be undone, so
//! every case runs in a child process of its own: this binary re-run with
//! `BERTH_SECCOMP_CASE=<case>`. The child applies the settings, attempts syscalls and
//! reports through its exit status (or dies of the signal the filter chose); the parent
//! checks what a user would observe. A small harness instead of libtest keeps the child
//! single-threaded, as a container's init is when it loads its filter.
//!
//! Cases marked `needs_root` change capabilities and are ignored, as libtest ignores an
//! `#[ignore]`d test: `--include-ignored` runs them too and `--ignored` runs only them
//! (scripts/test.sh runs everything, as root).

use std::collections::HashSet;
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use berth_seccomp::caps::{self, Capability};
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall};
use oci_spec::runtime::{ContainerState, LinuxCapabilities, LinuxSeccomp, StateBuilder};
use rustix::fs::Mode;
use rustix::io::Errno;
use serde_json::json;

const CASE_ENV: &str = "BERTH_SECCOMP_CASE";
const ARG_ENV: &str = "BERTH_SECCOMP_ARG";
const SIGSYS: i32 = 31;

/// Docker's own default profile, from the project's shared reference directory (next to
/// the checkout) or `BERTH_DOCKER_SECCOMP_PROFILE`.
fn docker_default_path() -> std::path::PathBuf {
    std::env::var_os("BERTH_DOCKER_SECCOMP_PROFILE")
        .map(Into::into)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/reference/docker-default-seccomp.json")
        })
}

type Outcome = Result<(), String>;

/// Why a `needs_root` case is ignored: the reason the `#[ignore]`d tests give.
const NEEDS_ROOT: &str = "needs root (scripts/test.sh runs it with --include-ignored)";

struct Case {
    name: &'static str,
    needs_root: bool,
    /// Parent side: spawns the child(ren) and checks what they did.
    run: fn() -> Outcome,
}

const CASES: &[Case] = &[
    Case {
        name: "errno_with_custom_errno_ret",
        needs_root: false,
        run: errno_with_custom_errno_ret,
    },
    Case {
        name: "kill_process_kills",
        needs_root: false,
        run: kill_process_kills,
    },
    Case {
        name: "kill_and_kill_thread_kill_a_single_threaded_process",
        needs_root: false,
        run: kill_thread_kills,
    },
    Case {
        name: "trap_raises_sigsys",
        needs_root: false,
        run: trap_raises_sigsys,
    },
    Case {
        name: "trace_without_tracer_is_enosys",
        needs_root: false,
        run: trace_without_tracer,
    },
    Case {
        name: "log_allows_and_default_errno_ret_applies",
        needs_root: false,
        run: log_allows,
    },
    Case {
        name: "argument_conditions",
        needs_root: false,
        run: argument_conditions,
    },
    Case {
        name: "notify_listener_reaches_the_agent_which_answers",
        needs_root: false,
        run: notify,
    },
    Case {
        name: "docker_default_profile",
        needs_root: true,
        run: docker_default_profile,
    },
    Case {
        name: "berth_default_profile",
        needs_root: false,
        run: berth_default_profile,
    },
    Case {
        name: "caps_reduced_set_exact_masks",
        needs_root: true,
        run: caps_reduced,
    },
    Case {
        name: "caps_privileged_is_what_the_host_has_and_no_more",
        needs_root: true,
        run: caps_privileged,
    },
    Case {
        name: "caps_survive_the_user_switch",
        needs_root: true,
        run: caps_user_switch,
    },
];

fn main() {
    if let Ok(name) = std::env::var(CASE_ENV) {
        let code = match child(&name) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{name}: {e}");
                1
            }
        };
        std::process::exit(code);
    }

    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let (only_ignored, include_ignored) = (flag("--ignored"), flag("--include-ignored"));
    let exact = flag("--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<&Case> = CASES
        .iter()
        .filter(|c| !only_ignored || c.needs_root)
        .filter(|c| {
            filters.is_empty()
                || filters.iter().any(|f| {
                    if exact {
                        c.name == f.as_str()
                    } else {
                        c.name.contains(f.as_str())
                    }
                })
        })
        .collect();
    if flag("--list") {
        for c in selected {
            println!("{}: test", c.name);
        }
        return;
    }

    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut failed, mut ignored) = (0, Vec::new(), 0);
    for c in selected {
        if c.needs_root && !(include_ignored || only_ignored) {
            println!("test {} ... ignored, {NEEDS_ROOT}", c.name);
            ignored += 1;
            continue;
        }
        match (c.run)() {
            Ok(()) => {
                println!("test {} ... ok", c.name);
                passed += 1;
            }
            Err(e) => {
                println!(
                    "test {} ... FAILED\n    {}",
                    c.name,
                    e.replace('\n', "\n    ")
                );
                failed.push(c.name);
            }
        }
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; {ignored} ignored\n",
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}

// ---------------------------------------------------------------------------------
// Parent side.

/// Run this binary as the child for `case`, with `arg` in its environment.
fn spawn(case: &str, arg: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let mut cmd = Command::new(exe);
    cmd.env(CASE_ENV, case).env(ARG_ENV, arg);
    cmd
}

fn run_child(case: &str, arg: &str) -> Result<Output, String> {
    spawn(case, arg)
        .output()
        .map_err(|e| format!("spawning the {case} child: {e}"))
}

fn describe(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn expect_success(o: &Output) -> Outcome {
    if o.status.success() {
        Ok(())
    } else {
        Err(format!("the child failed: {}", describe(o)))
    }
}

fn expect_signal(o: &Output, sig: i32) -> Outcome {
    if o.status.signal() == Some(sig) {
        Ok(())
    } else {
        Err(format!("expected death by signal {sig}: {}", describe(o)))
    }
}

fn tempdir() -> Result<tempfile::TempDir, String> {
    tempfile::tempdir().map_err(|e| format!("creating a temporary directory: {e}"))
}

fn arg_of(dir: &Path) -> &str {
    dir.to_str().expect("temporary paths are UTF-8")
}

fn errno_with_custom_errno_ret() -> Outcome {
    let dir = tempdir()?;
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).map_err(|e| format!("mkdir {}: {e}", victim.display()))?;
    expect_success(&run_child("errno", arg_of(dir.path()))?)?;
    if dir.path().join("blocked").exists() {
        return Err("mkdir went through the filter".into());
    }
    if !victim.exists() {
        return Err("rmdir went through the filter".into());
    }
    Ok(())
}

fn kill_process_kills() -> Outcome {
    expect_signal(&run_child("kill_process", "")?, SIGSYS)
}

fn kill_thread_kills() -> Outcome {
    expect_signal(&run_child("kill", "SCMP_ACT_KILL")?, SIGSYS)?;
    expect_signal(&run_child("kill", "SCMP_ACT_KILL_THREAD")?, SIGSYS)
}

fn trap_raises_sigsys() -> Outcome {
    expect_signal(&run_child("kill", "SCMP_ACT_TRAP")?, SIGSYS)
}

fn trace_without_tracer() -> Outcome {
    expect_success(&run_child("trace", "")?)
}

fn log_allows() -> Outcome {
    let dir = tempdir()?;
    expect_success(&run_child("log", arg_of(dir.path()))?)?;
    if !dir.path().join("logged").is_dir() {
        return Err("the logged mkdir did not happen".into());
    }
    Ok(())
}

fn argument_conditions() -> Outcome {
    let dir = tempdir()?;
    expect_success(&run_child("conditions", arg_of(dir.path()))?)?;
    if dir.path().join("group-rx").exists() || !dir.path().join("group-rwx").is_dir() {
        return Err("the masked mode condition let the wrong mkdir through".into());
    }
    Ok(())
}

/// Accept the agent connection and read the process state and listener from it.
fn accept_listener(
    listener: &UnixListener,
    child: &mut std::process::Child,
) -> Result<(serde_json::Value, OwnedFd), String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Ok(Some(st)) = child.try_wait() {
                    return Err(format!("the child exited ({st}) without connecting"));
                }
                if Instant::now() > deadline {
                    return Err("the child never connected".into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = rustix::net::RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        &conn,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        rustix::net::RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for m in control.drain() {
        if let rustix::net::RecvAncillaryMessage::ScmRights(r) = m {
            fds.extend(r);
        }
    }
    let state: serde_json::Value =
        serde_json::from_slice(&buf[..got.bytes]).map_err(|e| format!("state JSON: {e}"))?;
    let fd = fds.pop().ok_or("no descriptor came with the state")?;
    Ok((state, fd))
}

fn notify() -> Outcome {
    let dir = tempdir()?;
    let sock = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).map_err(|e| format!("bind: {e}"))?;
    let mut child = spawn("notify", arg_of(&sock))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let answered = (|| -> Outcome {
        let (state, fd) = accept_listener(&listener, &mut child)?;
        let want = json!({"fds": ["seccompFd"], "pid": child.id(), "metadata": "from-the-test"});
        for key in ["fds", "pid", "metadata"] {
            if state[key] != want[key] {
                return Err(format!("state {key}: {} != {}", state[key], want[key]));
            }
        }
        if state["state"]["id"] != json!("notify-case") {
            return Err(format!("state.state: {}", state["state"]));
        }
        // Wait (bounded) for the child's getppid to arrive on the listener.
        let mut pfd = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::time::Timespec {
            tv_sec: 20,
            tv_nsec: 0,
        };
        match rustix::event::poll(&mut pfd, Some(&timeout)) {
            Ok(1) => {}
            other => return Err(format!("no notification arrived: {other:?}")),
        }
        let req = ScmpNotifReq::receive(fd.as_raw_fd()).map_err(|e| format!("receive: {e}"))?;
        let getppid = ScmpSyscall::from_name("getppid").map_err(|e| e.to_string())?;
        if req.data.syscall != getppid || req.pid != child.id() {
            return Err(format!("unexpected notification {req:?}"));
        }
        ScmpNotifResp::new_val(req.id, 4242, ScmpNotifRespFlags::empty())
            .respond(fd.as_raw_fd())
            .map_err(|e| format!("respond: {e}"))
    })();
    if answered.is_err() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    answered?;
    expect_success(&out)
}

fn docker_default_profile() -> Outcome {
    if !docker_default_path().exists() {
        eprintln!(
            "SKIP docker_default_profile: {} not found (set BERTH_DOCKER_SECCOMP_PROFILE)",
            docker_default_path().display()
        );
        return Ok(());
    }
    let dir = tempdir()?;
    let child = spawn("docker_default", arg_of(dir.path()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let pid = child.id();
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    expect_success(&out)?;
    let reported = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if reported != pid.to_string() {
        return Err(format!(
            "getpid under the profile said {reported:?}, the pid is {pid}"
        ));
    }
    Ok(())
}

fn berth_default_profile() -> Outcome {
    let dir = tempdir()?;
    expect_success(&run_child("berth_default", arg_of(dir.path()))?)
}

/// A `CapXxx:` mask from a /proc status file.
fn status_mask(status: &str, field: &str) -> Result<u64, String> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .ok_or_else(|| format!("no {field} in status"))?;
    u64::from_str_radix(line.trim(), 16).map_err(|e| format!("{field}: {e}"))
}

fn caps_reduced() -> Outcome {
    expect_success(&run_child("caps_reduced", "")?)
}

fn caps_privileged() -> Outcome {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let host = status_mask(&status, "CapBnd")?;
    expect_success(&run_child("caps_privileged", &format!("{host:x}"))?)
}

fn caps_user_switch() -> Outcome {
    expect_success(&run_child("caps_user_switch", "")?)
}

// ---------------------------------------------------------------------------------
// Child side: runs in a fresh process, single-threaded, then exits.

fn child(name: &str) -> Outcome {
    // A filter that kills must not leave core files behind.
    rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: None,
        },
    )
    .map_err(|e| format!("RLIMIT_CORE: {e}"))?;
    // Without CAP_SYS_ADMIN the kernel only takes a filter under no_new_privs.
    if !rustix::process::geteuid().is_root() {
        rustix::thread::set_no_new_privs(true).map_err(|e| format!("no_new_privs: {e}"))?;
    }
    let arg = std::env::var(ARG_ENV).unwrap_or_default();
    match name {
        "errno" => child_errno(Path::new(&arg)),
        "kill_process" => child_kill_process(),
        "kill" => child_kill(&arg),
        "trace" => child_trace(),
        "log" => child_log(Path::new(&arg)),
        "conditions" => child_conditions(Path::new(&arg)),
        "notify" => child_notify(Path::new(&arg)),
        "docker_default" => child_docker_default(Path::new(&arg)),
        "berth_default" => child_berth_default(Path::new(&arg)),
        "caps_reduced" => child_caps_reduced(),
        "caps_privileged" => child_caps_privileged(&arg),
        "caps_user_switch" => child_caps_user_switch(),
        other => Err(format!("no child case {other}")),
    }
}

fn seccomp(v: serde_json::Value) -> Result<LinuxSeccomp, String> {
    serde_json::from_value(v).map_err(|e| format!("linux.seccomp: {e}"))
}

fn load(v: serde_json::Value) -> Result<Option<OwnedFd>, String> {
    berth_seccomp::load(&seccomp(v)?).map_err(|e| e.to_string())
}

fn expect_errno<T: std::fmt::Debug>(what: &str, r: rustix::io::Result<T>, want: Errno) -> Outcome {
    match r {
        Err(e) if e == want => Ok(()),
        other => Err(format!("{what}: expected {want:?}, got {other:?}")),
    }
}

fn expect_os_errno<T: std::fmt::Debug>(what: &str, r: std::io::Result<T>, want: i32) -> Outcome {
    match r {
        Err(e) if e.raw_os_error() == Some(want) => Ok(()),
        other => Err(format!("{what}: expected errno {want}, got {other:?}")),
    }
}

fn child_errno(dir: &Path) -> Outcome {
    let blocked = dir.join("blocked");
    let victim = dir.join("victim");
    load(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSPC},
            // No errnoRet: EPERM, as runc.
            {"names": ["rmdir", "unlinkat"], "action": "SCMP_ACT_ERRNO"},
        ],
    }))?;
    expect_errno(
        "mkdir",
        rustix::fs::mkdir(&blocked, Mode::from_raw_mode(0o755)),
        Errno::NOSPC,
    )?;
    expect_errno("rmdir", rustix::fs::rmdir(&victim), Errno::PERM)
}

fn child_kill_process() -> Outcome {
    load(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}],
    }))?;
    let ppid = rustix::process::getppid();
    Err(format!("survived getppid (= {ppid:?})"))
}

fn child_kill(action: &str) -> Outcome {
    load(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": action}],
    }))?;
    let ppid = rustix::process::getppid();
    Err(format!("survived getppid (= {ppid:?}) under {action}"))
}

fn child_trace() -> Outcome {
    let dir = std::env::temp_dir().join("berth-seccomp-never-created");
    load(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}],
    }))?;
    // With no tracer attached the kernel fails a traced syscall with ENOSYS.
    expect_errno(
        "mkdir",
        rustix::fs::mkdir(&dir, Mode::from_raw_mode(0o700)),
        Errno::NOSYS,
    )
}

fn child_log(dir: &Path) -> Outcome {
    let logged = dir.join("logged");
    // Everything not listed fails with ENOSYS: proves the filter is in force, and that
    // LOG lets its syscalls through.
    load(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::ENOSYS,
        "syscalls": [
            {"names": ["exit_group", "exit", "write", "brk", "mmap", "munmap", "madvise",
                       "futex", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "close"],
             "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"},
        ],
    }))?;
    rustix::fs::mkdir(&logged, Mode::from_raw_mode(0o700))
        .map_err(|e| format!("logged mkdir: {e}"))?;
    expect_errno(
        "rmdir (not listed)",
        rustix::fs::rmdir(&logged),
        Errno::NOSYS,
    )
}

fn child_conditions(dir: &Path) -> Outcome {
    let blocked = dir.join("group-rx");
    let allowed = dir.join("group-rwx");
    let me = rustix::process::getpid();
    load(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            // Two conditions on argument 0: either blocks (one rule each).
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
                {"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 0xffff_fffeu64, "op": "SCMP_CMP_EQ"},
            ]},
            // Conditions on arguments 0 and 1: only both together block.
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSPC, "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
            ]},
            // mkdirat(dirfd, path, mode) with mode & 0o070 (value: the mask) == 0o050
            // (valueTwo): group r-x. rustix makes directories with mkdirat.
            {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EROFS, "args": [
                {"index": 2, "value": 0o070, "valueTwo": 0o050, "op": "SCMP_CMP_MASKED_EQ"},
            ]},
        ],
    }))?;
    expect_os_errno(
        "personality(0xffffffff)",
        berth_sys::personality(0xffff_ffff),
        libc::EPERM,
    )?;
    expect_os_errno(
        "personality(0xfffffffe)",
        berth_sys::personality(0xffff_fffe),
        libc::EPERM,
    )?;
    berth_sys::personality(0).map_err(|e| format!("personality(PER_LINUX): {e}"))?;

    expect_errno(
        "getpriority(PRIO_PROCESS, 0)",
        rustix::process::getpriority_process(None),
        Errno::NOSPC,
    )?;
    rustix::process::getpriority_pgrp(None)
        .map_err(|e| format!("getpriority(PRIO_PGRP, 0): {e}"))?;
    rustix::process::getpriority_process(Some(me))
        .map_err(|e| format!("getpriority(PRIO_PROCESS, self): {e}"))?;

    expect_errno(
        "mkdir 0750",
        rustix::fs::mkdir(&blocked, Mode::from_raw_mode(0o750)),
        Errno::ROFS,
    )?;
    rustix::fs::mkdir(&allowed, Mode::from_raw_mode(0o770)).map_err(|e| format!("mkdir 0770: {e}"))
}

fn child_notify(sock: &Path) -> Outcome {
    let listener = load(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}],
    }))?
    .ok_or("a NOTIFY rule but no listener")?;
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let state = StateBuilder::default()
        .version("1.2.0")
        .id("notify-case")
        .status(ContainerState::Creating)
        .pid(pid)
        .bundle(PathBuf::from("/"))
        .build()
        .map_err(|e| e.to_string())?;
    let body = berth_seccomp::process_state_json(pid, Some("from-the-test"), &state)
        .map_err(|e| e.to_string())?;
    berth_seccomp::send_listener(sock, &body, listener.as_fd()).map_err(|e| e.to_string())?;
    drop(listener);
    // The agent (our parent) answers this one.
    match rustix::process::getppid() {
        Some(p) if p.as_raw_nonzero().get() == 4242 => Ok(()),
        other => Err(format!("getppid answered {other:?}, the agent said 4242")),
    }
}

fn child_docker_default(dir: &Path) -> Outcome {
    let path = docker_default_path();
    let json = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let profile = berth_seccomp::docker_profile_to_oci(
        &json,
        &caps::docker_default(),
        std::env::consts::ARCH,
    )
    .map_err(|e| e.to_string())?;
    berth_seccomp::load(&profile).map_err(|e| e.to_string())?;

    expect_os_errno(
        "unshare(0)",
        berth_sys::seccomp::unshare_nothing(),
        libc::EPERM,
    )?;
    expect_os_errno(
        "keyctl",
        berth_sys::seccomp::keyctl_session_keyring_id(),
        libc::EPERM,
    )?;
    rustix::fs::mkdir(dir.join("allowed"), Mode::from_raw_mode(0o700))
        .map_err(|e| format!("mkdir under the docker profile: {e}"))?;
    println!("{}", rustix::process::getpid().as_raw_nonzero());
    Ok(())
}

/// Under berth's own default profile: what a container must not do is refused, and
/// what every program does (files, threads, child processes — which libcs now start
/// with clone3, answered ENOSYS so they fall back to clone) still works.
fn child_berth_default(dir: &Path) -> Outcome {
    let profile = berth_seccomp::docker_profile_to_oci(
        &berth_seccomp::default_profile(),
        &caps::docker_default(),
        std::env::consts::ARCH,
    )
    .map_err(|e| e.to_string())?;
    berth_seccomp::load(&profile).map_err(|e| e.to_string())?;

    expect_os_errno(
        "unshare(0)",
        berth_sys::seccomp::unshare_nothing(),
        libc::EPERM,
    )?;
    expect_os_errno(
        "keyctl",
        berth_sys::seccomp::keyctl_session_keyring_id(),
        libc::EPERM,
    )?;
    rustix::fs::mkdir(dir.join("allowed"), Mode::from_raw_mode(0o700))
        .map_err(|e| format!("mkdir under berth's profile: {e}"))?;
    let answer = std::thread::spawn(|| 42)
        .join()
        .map_err(|_| "a thread under berth's profile panicked".to_string())?;
    if answer != 42 {
        return Err(format!("the thread returned {answer}"));
    }
    let status = Command::new("/bin/sh")
        .args(["-c", "exit 7"])
        .status()
        .map_err(|e| format!("spawning /bin/sh under berth's profile: {e}"))?;
    if status.code() != Some(7) {
        return Err(format!("/bin/sh under berth's profile: {status}"));
    }
    Ok(())
}

fn capabilities(v: serde_json::Value) -> Result<LinuxCapabilities, String> {
    serde_json::from_value(v).map_err(|e| format!("process.capabilities: {e}"))
}

fn own_status() -> Result<String, String> {
    std::fs::read_to_string("/proc/thread-self/status").map_err(|e| e.to_string())
}

fn expect_masks(want: &[(&str, u64)]) -> Outcome {
    let status = own_status()?;
    let mut wrong = Vec::new();
    for (field, mask) in want {
        let got = status_mask(&status, field)?;
        if got != *mask {
            wrong.push(format!("{field} {got:016x}, expected {mask:016x}"));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

fn names(set: &HashSet<Capability>) -> Vec<&'static str> {
    set.iter().map(|c| caps::name(*c)).collect()
}

fn child_caps_reduced() -> Outcome {
    let c = capabilities(json!({
        "bounding": names(&caps::docker_default()),
        "effective": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }))?;
    caps::apply(&c).map_err(|e| e.to_string())?;
    expect_masks(&[
        ("CapBnd", 0xa804_25fb),
        ("CapEff", 1 | 1 << 10),
        ("CapPrm", 1 | 1 << 5 | 1 << 10),
        ("CapInh", 1 << 10),
        ("CapAmb", 1 << 10),
    ])
}

fn child_caps_privileged(host_hex: &str) -> Outcome {
    let host = u64::from_str_radix(host_hex, 16).map_err(|e| format!("host mask: {e}"))?;
    let all: Vec<&str> = (0..=40)
        .filter_map(caps::from_number)
        .map(caps::name)
        .collect();
    let last: u8 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .map_err(|e| format!("cap_last_cap: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("cap_last_cap: {e}"))?;
    // A capability the kernel knows but the host's bounding set lacks cannot be
    // granted: asking for it fails, naming it, before anything changed (the engine
    // trims --privileged to the host's set, so this is only for explicit requests).
    let lacking: Vec<&str> = (0..=last)
        .filter(|n| host & (1u64 << n) == 0)
        .filter_map(caps::from_number)
        .map(caps::name)
        .collect();
    let every = |names: &[&str]| {
        capabilities(json!({
            "bounding": names, "effective": names, "permitted": names, "inheritable": names,
            "ambient": names,
        }))
    };
    if let Some(first) = lacking.first() {
        match caps::apply(&every(&all)?) {
            Err(e) if e.to_string().contains(first) => {}
            other => {
                return Err(format!(
                    "asking for {first}, which the host lacks: {other:?}"
                ))
            }
        }
        expect_masks(&[("CapBnd", host), ("CapEff", host)])?;
    }
    // Every capability the host has (what the engine writes for --privileged), plus
    // ones beyond the kernel's, which are skipped as runc skips them.
    let granted: Vec<&str> = all
        .iter()
        .copied()
        .filter(|n| !lacking.contains(n))
        .collect();
    caps::apply(&every(&granted)?).map_err(|e| format!("docker --privileged's request: {e}"))?;
    expect_masks(&[
        ("CapBnd", host),
        ("CapEff", host),
        ("CapPrm", host),
        ("CapInh", host),
        ("CapAmb", host),
    ])
}

fn child_caps_user_switch() -> Outcome {
    let d = names(&caps::docker_default());
    let c = capabilities(json!({"bounding": d, "effective": d, "permitted": d}))?;
    // The runtime's order: bounding set while still uid 0, keep the permitted set
    // across setuid, then the remaining sets.
    caps::apply_bounding(&c).map_err(|e| e.to_string())?;
    caps::keep_caps(true).map_err(|e| e.to_string())?;
    rustix::thread::set_thread_res_uid(
        rustix::process::Uid::from_raw(1000),
        rustix::process::Uid::from_raw(1000),
        rustix::process::Uid::from_raw(1000),
    )
    .map_err(|e| format!("setresuid(1000): {e}"))?;
    caps::keep_caps(false).map_err(|e| e.to_string())?;
    expect_masks(&[("CapEff", 0)]).map_err(|e| format!("after setuid: {e}"))?;
    caps::apply(&c).map_err(|e| e.to_string())?;
    expect_masks(&[
        ("CapBnd", 0xa804_25fb),
        ("CapEff", 0xa804_25fb),
        ("CapPrm", 0xa804_25fb),
        ("CapInh", 0),
        ("CapAmb", 0),
    ])?;
    let status = own_status()?;
    if !status
        .lines()
        .any(|l| l.starts_with("Uid:\t1000\t1000\t1000"))
    {
        return Err("the user switch did not happen".into());
    }
    Ok(())
}
