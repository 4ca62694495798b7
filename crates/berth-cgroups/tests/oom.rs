//! Root integration test on the host's memory controller, v1 or v2: a process
//! that outgrows the cgroup's limit is killed by the OOM killer, the kill is
//! counted, and the notifier wakes.

mod common;

use std::time::{Duration, Instant};

use berth_cgroups::{Cgroup, Layout, Mode};
use common::{unique, Guard, Script};
use oci_spec::runtime::{LinuxMemoryBuilder, LinuxResourcesBuilder};

const MIB: i64 = 1024 * 1024;

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn oom_kill_is_counted_and_notified() {
    let layout = Layout::detect().unwrap();
    let path = unique("oom");
    let cg = Cgroup::new(Some(&path), "oom", false).unwrap();
    let mut guard = Guard::new(cg.clone());
    // On a pure v2 host, create enables every controller in the root's subtree_control.
    if let (Mode::Unified, Some(u)) = (layout.mode(), &layout.unified) {
        let available =
            std::fs::read_to_string(u.mount_point.join("cgroup.controllers")).unwrap_or_default();
        for c in available.split_whitespace() {
            guard.keep_subtree_control(u.mount_point.clone(), c);
        }
    }
    cg.create().unwrap();
    if cg.oom_kills().unwrap().is_none() {
        eprintln!("skipping oom_kill_is_counted_and_notified: no memory controller with oom_kill");
        return;
    }
    // Memory and memory+swap alike, so nothing can be swapped out instead.
    let mem = LinuxMemoryBuilder::default()
        .limit(16 * MIB)
        .swap(16 * MIB)
        .build()
        .unwrap();
    cg.apply(
        &LinuxResourcesBuilder::default()
            .memory(mem)
            .build()
            .unwrap(),
    )
    .unwrap();
    let notifier = cg.oom_notifier().unwrap().expect("a notifier");
    assert_eq!(cg.oom_kills().unwrap(), Some(0));

    // dd fills a 64 MiB buffer from /dev/zero: four times the limit.
    let mut s = Script::spawn("read _; exec dd if=/dev/zero of=/dev/null bs=64M count=1");
    cg.add_process(s.pid()).unwrap();
    s.go();
    let status = s.child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert_eq!(cg.oom_kills().unwrap(), Some(1));

    let end = Instant::now() + Duration::from_secs(5);
    let mut fds = [rustix::event::PollFd::new(
        &notifier,
        rustix::event::PollFlags::IN,
    )];
    loop {
        let ts = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        if rustix::event::poll(&mut fds, Some(&ts)).unwrap_or(0) > 0 {
            break;
        }
        assert!(Instant::now() < end, "the OOM notifier never woke");
    }
    let mut b = [0u8; 256];
    assert!(rustix::io::read(&notifier, &mut b).unwrap() > 0);
}
