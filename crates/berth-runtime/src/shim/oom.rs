//! OOM kills in the container's cgroup, as the shim reports them: counted from
//! when the container was created (a cgroup left over from an earlier run keeps
//! its count), watched while it runs (berth-cgroups' notifier: inotify on v2's
//! `memory.events`, an eventfd on v1's `memory.oom_control`), and read one last
//! time at exit, before the cgroup is removed.
//!
//! v1 signals its eventfd when the cgroup runs out of memory, before the OOM killer
//! has chosen and counted its victim: a wake that finds no new kill is followed by a
//! few more looks (5 ms, 10 ms, … 640 ms later; 1.3 s in all), driven by the loop's
//! poll timeout.

use std::time::{Duration, Instant};

use berth_cgroups::Cgroup;
use rustix::fd::OwnedFd;

const RECHECK_FIRST: Duration = Duration::from_millis(5);
const RECHECK_LAST: Duration = Duration::from_millis(640);

pub(super) struct Oom {
    cgroup: Option<Cgroup>,
    /// Readable when the memory controller reports an event.
    pub(super) fd: Option<OwnedFd>,
    /// The count when the container was created.
    base: u64,
    /// The count last seen.
    seen: u64,
    /// When to look again after a wake without a new kill, and the delay that led there.
    recheck: Option<(Instant, Duration)>,
}

impl Oom {
    /// Starts counting for `cgroup` (none: nothing is ever reported). A kernel
    /// without the counter, or a notifier that cannot be set up, is logged and
    /// leaves less to report, never an error: the container runs regardless.
    pub(super) fn watch(id: &str, cgroup: Option<Cgroup>) -> Oom {
        let base = match cgroup.as_ref().map(Cgroup::oom_kills) {
            Some(Ok(n)) => n.unwrap_or(0),
            Some(Err(e)) => {
                crate::log::warn(&format!("container {id}: {e}"));
                0
            }
            None => 0,
        };
        let fd = match cgroup.as_ref().map(Cgroup::oom_notifier) {
            Some(Ok(fd)) => fd,
            Some(Err(e)) => {
                crate::log::warn(&format!("container {id}: {e}"));
                None
            }
            None => None,
        };
        Oom {
            cgroup,
            fd,
            base,
            seen: base,
            recheck: None,
        }
    }

    /// The notifier is readable: empties it and reads the count; true when it grew.
    pub(super) fn woke(&mut self) -> bool {
        self.drain();
        let grew = self.check();
        self.recheck = (!grew).then(|| (Instant::now() + RECHECK_FIRST, RECHECK_FIRST));
        grew
    }

    /// How long until a look after a wake is due (for poll's timeout).
    pub(super) fn recheck_in(&self) -> Option<Duration> {
        self.recheck
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }

    /// Takes the look after a wake if it is due; true when the count grew.
    pub(super) fn recheck(&mut self) -> bool {
        let Some((at, delay)) = self.recheck else {
            return false;
        };
        if Instant::now() < at {
            return false;
        }
        let grew = self.check();
        let next = delay * 2;
        self.recheck = (!grew && next <= RECHECK_LAST).then(|| (Instant::now() + next, next));
        grew
    }

    /// Empties the notifier so poll(2) waits for the next event.
    fn drain(&self) {
        let Some(fd) = &self.fd else { return };
        let mut b = [0u8; 256];
        while let Ok(n) = rustix::io::read(fd, &mut b) {
            if n == 0 {
                break;
            }
        }
    }

    /// Reads the count; true when it grew since the last look (one or more
    /// processes were killed since).
    pub(super) fn check(&mut self) -> bool {
        let n = match self.cgroup.as_ref().map(Cgroup::oom_kills) {
            Some(Ok(Some(n))) => n,
            _ => return false,
        };
        let grew = n > self.seen;
        self.seen = self.seen.max(n);
        grew
    }

    /// How many processes of this container the OOM killer took, as last seen.
    pub(super) fn kills(&self) -> u64 {
        self.seen - self.base
    }

    /// Stops watching (the cgroup is about to be removed).
    pub(super) fn close(&mut self) {
        self.fd = None;
        self.recheck = None;
    }
}
