//! The container lifecycle through the command line: create, state, start,
//! kill, delete; `run` exit codes and output.

use crate::runtime;
use berth_conformance::{Bundle, Invoke};
use std::path::Path;
use std::time::Duration;

fn cmdline(pid: i64) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .replace('\0', " ")
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn create_start_kill_delete() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["/bin/sleep", "1000"]);

    let (c, out) = rt.create(&b, &[]);
    out.expect_success("create");
    let st = c.expect_state();
    assert_eq!(
        st.status, "created",
        "status after create; state: {}",
        st.raw
    );
    assert_eq!(st.id, c.id(), "state id; state: {}", st.raw);
    let pid = st.pid.filter(|p| *p > 0).unwrap_or_else(|| {
        panic!(
            "state after create must carry the init pid; state: {}",
            st.raw
        )
    });
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "state pid {pid} is not a live process"
    );
    assert!(
        !cmdline(pid).contains("sleep"),
        "the user process must not run before start, but pid {pid} already runs {:?}",
        cmdline(pid)
    );
    let canon = |p: &str| std::fs::canonicalize(p).unwrap_or_else(|_| p.into());
    assert_eq!(
        canon(&st.bundle),
        canon(&b.path().to_string_lossy()),
        "state bundle; state: {}",
        st.raw
    );

    c.start().expect_success("start");
    let st = c.expect_state();
    assert_eq!(
        st.status, "running",
        "status after start; state: {}",
        st.raw
    );
    assert_eq!(
        st.pid,
        Some(pid),
        "pid must not change across start; state: {}",
        st.raw
    );
    assert!(
        cmdline(pid).contains("sleep"),
        "after start pid {pid} runs {:?}, expected sleep",
        cmdline(pid)
    );

    c.kill("9").expect_success("kill 9");
    c.wait_status("stopped", Duration::from_secs(10));

    c.delete().expect_success("delete");
    let after = c.state();
    assert!(
        after.is_err(),
        "state after delete must fail, got {:?}",
        after.map(|s| s.raw)
    );
    assert!(
        !rt.root().join(c.id()).exists(),
        "delete left the state directory {} behind",
        rt.root().join(c.id()).display()
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn state_of_unknown_container_fails() {
    let rt = runtime();
    rt.invoke(&["state", "bc-no-such-container"], Invoke::default())
        .expect_failure("state of a container that does not exist");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn create_with_duplicate_id_fails() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["/bin/sleep", "1000"]);
    let (first, out) = rt.create(&b, &[]);
    out.expect_success("first create");
    let before = first.expect_state();

    let mut b2 = Bundle::new();
    b2.args(&["/bin/sleep", "1000"]);
    let id = first.id().to_string();
    let (second, out) = rt.create_named(&b2, &id, &[], Invoke::default());
    out.expect_failure("a second create with the same id");
    std::mem::forget(second); // its guard would delete the first container

    let after = first.expect_state();
    assert_eq!(
        after.status, "created",
        "the first container must survive; state: {}",
        after.raw
    );
    assert_eq!(
        after.pid, before.pid,
        "the first container's pid changed; state: {}",
        after.raw
    );
    assert_eq!(
        after.bundle, before.bundle,
        "the first container's bundle changed; state: {}",
        after.raw
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn delete_of_running_container_needs_force() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["/bin/sleep", "1000"]);
    let c = rt.start_container(&b);
    c.delete()
        .expect_failure("delete (without --force) of a running container");
    let st = c.expect_state();
    assert_eq!(
        st.status, "running",
        "a refused delete must leave the container running; state: {}",
        st.raw
    );
    rt.invoke(&["delete", "--force", c.id()], Invoke::default())
        .expect_success("delete --force");
    assert!(c.state().is_err(), "state after delete --force must fail");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn start_twice_fails() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["/bin/sleep", "1000"]);
    let c = rt.start_container(&b);
    c.start()
        .expect_failure("start of a container that is already running");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn kill_delivers_the_signal() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.shell("trap 'echo got-TERM > /tmp/signal; exit 3' TERM; echo ready > /tmp/ready; while :; do sleep 0.05; done");
    let c = rt.start_container(&b);
    let ready = b.rootfs().join("tmp/ready");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ready.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the container never became ready"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    c.kill("15").expect_success("kill 15");
    c.wait_status("stopped", Duration::from_secs(10));
    let got = std::fs::read_to_string(b.rootfs().join("tmp/signal")).unwrap_or_default();
    assert_eq!(
        got.trim(),
        "got-TERM",
        "the container's TERM trap did not run: SIGTERM was not delivered"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn run_propagates_exit_code_and_output() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.shell("echo to-stdout; echo to-stderr >&2; exit 42");
    let out = rt.run(&b);
    assert_eq!(
        out.code,
        Some(42),
        "run must exit with the container's exit code; {out}"
    );
    assert_eq!(out.stdout, "to-stdout\n", "container stdout; {out}");
    assert!(
        out.stderr.contains("to-stderr"),
        "container stderr missing; {out}"
    );

    b.args(&["/bin/true"]);
    assert_eq!(rt.run(&b).code, Some(0), "run of /bin/true");
    b.args(&["/bin/false"]);
    assert_eq!(rt.run(&b).code, Some(1), "run of /bin/false");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn run_passes_args_verbatim() {
    let rt = runtime();
    let mut b = Bundle::new();
    let args = [
        "/bin/checker",
        "args",
        "two words",
        "",
        "quote\"d",
        "-x",
        "$HOME",
    ];
    b.args(&args);
    let out = rt.run(&b).expect_success("run checker args");
    let got = out.json()["args"].clone();
    assert_eq!(
        got,
        serde_json::json!(args),
        "argv inside the container; {out}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn run_of_missing_executable_fails() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.args(&["/no/such/binary"]);
    let out = rt
        .run(&b)
        .expect_failure("run of a binary that is not in the rootfs");
    assert!(
        out.all_output().contains("/no/such/binary"),
        "the error should name the missing executable; {out}"
    );
}
