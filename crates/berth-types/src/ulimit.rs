//! Resource limit names as `--ulimit` and `--default-ulimit` take them.

/// The names dockerd's go-units knows (setrlimit's resources without `RLIMIT_`; `as`
/// is left out there, as unusable with the way a container starts).
pub const NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Whether `name` is a limit the daemon's `--default-ulimit` accepts: go-units's, and
/// `as`, which berth's daemon sets as well.
pub fn daemon_accepts(name: &str) -> bool {
    name == "as" || NAMES.contains(&name)
}
