//! `top` against the host's real `ps` and a real child process.

use std::process::{Child, Command};

use berth_engine::top::top;

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn top_lists_only_the_given_processes() {
    let child = Reaped(Command::new("sleep").arg("61.5").spawn().unwrap());
    let pid = child.0.id() as i32;

    let t = top(&[pid], None).unwrap();
    assert_eq!(t.titles.first().map(String::as_str), Some("UID"));
    assert_eq!(t.titles.last().map(String::as_str), Some("CMD"));
    assert_eq!(t.processes.len(), 1, "{:?}", t.processes);
    let row = &t.processes[0];
    assert_eq!(row.len(), t.titles.len());
    let pid_col = t.titles.iter().position(|c| c == "PID").unwrap();
    assert_eq!(row[pid_col], pid.to_string());
    assert_eq!(row.last().unwrap(), "sleep 61.5");

    // Other arguments, other columns; our own process is not listed.
    let t = top(&[pid], Some("-o pid,comm,args")).unwrap();
    assert_eq!(t.titles, ["PID", "COMMAND", "COMMAND"]);
    assert_eq!(
        t.processes,
        [[pid.to_string(), "sleep".into(), "sleep 61.5".into()]]
    );
    assert!(top(&[], None).unwrap().processes.is_empty());
}

#[test]
fn top_reports_bad_arguments() {
    let e = top(&[1], Some("--no-such-option-for-ps")).unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("--no-such-option-for-ps"), "{e}");
    let e = top(&[1], Some("-o comm")).unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(e.to_string(), "Couldn't find PID field in ps output");
}
