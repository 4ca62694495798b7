//! berth-init as a user of `docker run --init` sees it: the command's exit status comes
//! back, signals sent to init reach the command, orphans do not stay zombies, and a
//! command that cannot run is reported with the shell's statuses.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

const INIT: &str = env!("CARGO_BIN_EXE_berth-init");

fn init(args: &[&str]) -> Command {
    let mut c = Command::new(INIT);
    c.args(args);
    c
}

fn output(args: &[&str]) -> Output {
    init(args).output().expect("berth-init starts")
}

/// A running init that is killed (and waited for) if the test fails before it ends.
struct Running(Child);

impl Running {
    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.0.id()).expect("pids fit in i32")).expect("non-zero")
    }

    /// Waits for init to exit; fails the test after `limit` (a hang, not a timing check).
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.0.try_wait().expect("try_wait on our child") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "berth-init did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reads one line of the command's stdout (the command says when it is ready).
    fn read_line(&mut self) -> String {
        let out = self.0.stdout.as_mut().expect("stdout piped");
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .expect("read the child's stdout");
        line
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn exit_status_passes_through() {
    for (script, want) in [
        ("exit 0", 0),
        ("exit 3", 3),
        ("exit 255", 255),
        // Killed by a signal: 128 + its number, as a shell reports it.
        ("kill -KILL $$", 128 + 9),
        ("kill -TERM $$", 128 + 15),
    ] {
        let out = output(&["--", "/bin/sh", "-c", script]);
        assert_eq!(out.status.code(), Some(want), "{script}: {out:?}");
    }
}

#[test]
fn arguments_and_stdio_reach_the_command() {
    let out = output(&["--", "/bin/sh", "-c", "echo \"$1-$2\"", "sh", "a b", "c"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a b-c\n");
    assert!(out.status.success(), "{out:?}");
    // Without `--` too, and options after the command are the command's.
    let out = output(&["/bin/sh", "-c", "echo ok", "-h"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
}

#[test]
fn the_command_starts_with_no_signal_blocked_or_ignored() {
    // init blocks every signal for itself; the command must not inherit that (nor the
    // SIGPIPE that Rust's runtime ignores), or it could not be stopped or killed.
    let out = output(&[
        "--",
        "/bin/sh",
        "-c",
        // `exec`: grep reads its own status, as inherited. (Reading the shell's from a
        // child raced with dash blocking every signal while it waits for children.)
        "exec grep -E '^Sig(Blk|Ign):' /proc/self/status",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mask = |field: &str| {
        let hex = text
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .unwrap_or_else(|| panic!("no {field} in {text:?}"));
        u64::from_str_radix(hex.trim(), 16).expect("a hex mask")
    };
    assert_eq!(mask("SigBlk:"), 0, "{text}");
    // Signals 1–31; the C library keeps its internal real-time ones to itself.
    assert_eq!(mask("SigIgn:") & 0x7fff_ffff, 0, "{text}");
}

#[test]
fn signals_sent_to_init_reach_the_command() {
    for (sig, name, code) in [
        (Signal::TERM, "TERM", 42),
        (Signal::INT, "INT", 43),
        (Signal::HUP, "HUP", 44),
        (Signal::USR1, "USR1", 45),
        (Signal::USR2, "USR2", 46),
        (Signal::QUIT, "QUIT", 47),
    ] {
        // The trap runs once the current short sleep ends; "ready" says it is set.
        let script = format!("trap 'exit {code}' {name}; echo ready; while :; do sleep 0.05; done");
        let mut init = Running(
            init(&["--", "/bin/sh", "-c", &script])
                .stdout(Stdio::piped())
                .spawn()
                .expect("berth-init starts"),
        );
        assert_eq!(init.read_line(), "ready\n");
        rustix::process::kill_process(init.pid(), sig).expect("signal our own child");
        let st = init.wait(Duration::from_secs(20));
        assert_eq!(st.code(), Some(code), "SIG{name}: {st:?}");
    }
}

#[test]
fn a_signal_the_command_does_not_handle_ends_it() {
    let mut init = Running(
        init(&[
            "--",
            "/bin/sh",
            "-c",
            "echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("berth-init starts"),
    );
    assert_eq!(init.read_line(), "ready\n");
    rustix::process::kill_process(init.pid(), Signal::TERM).expect("signal our own child");
    // init itself is not killed by SIGTERM: it reports the child's death.
    assert_eq!(init.wait(Duration::from_secs(20)).code(), Some(128 + 15));
}

/// The command orphans a process that exits at once (its parent, a subshell, is gone,
/// so the kernel hands it to init), then watches its /proc entry: a reaped process
/// disappears, an unreaped one stays a zombie. Exit 0 when it disappeared, 1 when it
/// was still there after 10 s. The orphan moves to a session (and process group) of
/// its own with setsid(1) where available, as daemons do: init must reap any child,
/// not only those of its own group.
const ORPHAN_CHECK: &str = r#"
own_group=$(command -v setsid)
orphan=$(/bin/sh -c "$own_group /bin/sh -c 'exit 0' >/dev/null & echo \$!")
[ -n "$orphan" ] || exit 2
i=0
while [ -e "/proc/$orphan" ]; do
    i=$((i + 1))
    [ "$i" -lt 200 ] || { grep -s State "/proc/$orphan/status" >&2; exit 1; }
    sleep 0.05
done
exit 0
"#;

#[test]
fn orphans_are_reaped_as_a_subreaper() {
    let out = output(&["--", "/bin/sh", "-c", ORPHAN_CHECK]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// The real situation: init is PID 1 of a new pid namespace, with its own /proc.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn orphans_are_reaped_as_pid_1_of_a_pid_namespace() {
    let check = format!("[ $$ -eq 2 ] || exit 3\n{ORPHAN_CHECK}");
    let out = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            INIT,
            "--",
            "/bin/sh",
            "-c",
            &check,
        ])
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            eprintln!("SKIP: unshare(1): {e}");
            return;
        }
    };
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn a_missing_command_is_127_and_named() {
    for program in ["/nonexistent/berth-init-test", "berth-init-no-such-program"] {
        let out = output(&["--", program, "arg"]);
        assert_eq!(out.status.code(), Some(127), "{program}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(program), "{program}: {err}");
    }
}

#[test]
fn a_command_that_cannot_execute_is_126() {
    // A regular file without execute permission, and a directory.
    for program in ["/etc/passwd", "/"] {
        let out = output(&["--", program]);
        assert_eq!(out.status.code(), Some(126), "{program}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(program));
    }
}

#[test]
fn usage_errors_are_2_and_help_and_version_succeed() {
    for args in [&[][..], &["--"][..], &["--bogus", "sh"][..]] {
        let out = output(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Usage:"),
            "{out:?}"
        );
    }
    let help = output(&["-h"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage:"));
    let version = output(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("berth-init {}\n", env!("CARGO_PKG_VERSION"))
    );
}
