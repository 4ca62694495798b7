//! Handing the seccomp notify listener to the agent at `linux.seccomp.listenerPath`, as
//! the OCI runtime spec describes: one message on a unix stream socket carrying the
//! listener as SCM_RIGHTS and the container process state (JSON) as its body.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use oci_spec::runtime::{ContainerProcessStateBuilder, State, SECCOMP_FD_NAME};
use rustix::io::Errno;
use rustix::net::{send, sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use crate::SeccompError;

/// The container process state the agent receives with the listener: `ociVersion`,
/// `fds: ["seccompFd"]`, `pid`, `metadata` (= `listenerMetadata`) and `state`.
pub fn process_state_json(
    pid: i32,
    metadata: Option<&str>,
    state: &State,
) -> Result<Vec<u8>, SeccompError> {
    let mut b = ContainerProcessStateBuilder::default()
        .version(state.version().clone())
        .fds(vec![SECCOMP_FD_NAME.to_string()])
        .pid(pid)
        .state(state.clone());
    if let Some(m) = metadata {
        b = b.metadata(m.to_string());
    }
    let cps = b
        .build()
        .map_err(|e| SeccompError::ProcessState(e.to_string()))?;
    serde_json::to_vec(&cps).map_err(|e| SeccompError::ProcessState(e.to_string()))
}

/// Connect to `path` and send `fd` (SCM_RIGHTS) with `state_json` as the message body
/// (see [`process_state_json`]). The descriptor travels with the first bytes; the rest
/// of the body follows if the socket took it in pieces.
pub fn send_listener(path: &Path, state_json: &[u8], fd: BorrowedFd) -> Result<(), SeccompError> {
    let fail = |source: io::Error| SeccompError::SendListener {
        path: path.to_owned(),
        source,
    };
    if state_json.is_empty() {
        // A stream socket drops ancillary data sent with no bytes.
        return Err(fail(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the container process state is empty",
        )));
    }
    let sock = UnixStream::connect(path).map_err(fail)?;

    let fds = [fd];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(fail(io::Error::other(
            "SCM_RIGHTS does not fit its control buffer",
        )));
    }
    let sent = loop {
        match sendmsg(
            &sock,
            &[IoSlice::new(state_json)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Err(Errno::INTR) => continue,
            r => break r.map_err(|e| fail(e.into()))?,
        }
    };
    // send, not write: a vanished agent must give EPIPE, not a SIGPIPE that kills init.
    let mut rest = &state_json[sent..];
    while !rest.is_empty() {
        match send(&sock, rest, SendFlags::NOSIGNAL) {
            Err(Errno::INTR) => continue,
            Ok(0) => return Err(fail(io::ErrorKind::WriteZero.into())),
            Ok(n) => rest = &rest[n..],
            Err(e) => return Err(fail(e.into())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{IoSliceMut, Read};
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::net::UnixListener;

    use oci_spec::runtime::{ContainerState, StateBuilder};
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use serde_json::json;

    use super::*;

    fn state() -> State {
        StateBuilder::default()
            .version("1.2.0")
            .id("c1")
            .status(ContainerState::Creating)
            .pid(4321)
            .bundle("/run/bundles/c1")
            .build()
            .expect("a state")
    }

    #[test]
    fn process_state_has_the_spec_fields() {
        let body = process_state_json(4321, Some("agent-data"), &state()).expect("encodes");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(v["ociVersion"], json!("1.2.0"));
        assert_eq!(v["fds"], json!(["seccompFd"]));
        assert_eq!(v["pid"], json!(4321));
        assert_eq!(v["metadata"], json!("agent-data"));
        assert_eq!(v["state"]["id"], json!("c1"));
        assert_eq!(v["state"]["status"], json!("creating"));
        assert_eq!(v["state"]["bundle"], json!("/run/bundles/c1"));

        let body = process_state_json(1, None, &state()).expect("encodes");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert!(v.get("metadata").is_none(), "{v}");
    }

    /// Receive one message: its body and the descriptors that came with it.
    fn receive(listener: &UnixListener) -> (Vec<u8>, Vec<OwnedFd>) {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = recvmsg(
            &conn,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .expect("recvmsg");
        let mut body = buf[..got.bytes].to_vec();
        let mut fds = Vec::new();
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = msg {
                fds.extend(rights);
            }
        }
        conn.read_to_end(&mut body).expect("the rest of the body");
        (body, fds)
    }

    #[test]
    fn sends_the_descriptor_and_the_state() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let sock = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&sock).expect("bind");
        let file = tempfile::tempfile().expect("a file to pass");
        // Larger than one socket buffer, to exercise the tail loop.
        let metadata = "m".repeat(300 * 1024);
        let body = process_state_json(77, Some(&metadata), &state()).expect("encodes");

        let sender = {
            let sock = sock.clone();
            let fd = file.try_clone().expect("dup");
            let body = body.clone();
            std::thread::spawn(move || send_listener(&sock, &body, fd.as_fd()))
        };
        let (got, fds) = receive(&listener);
        sender.join().expect("sender thread").expect("sent");

        assert_eq!(got, body);
        assert_eq!(fds.len(), 1);
        let theirs = std::fs::File::from(fds.into_iter().next().expect("one fd"));
        let (a, b) = (
            theirs.metadata().expect("fstat"),
            file.metadata().expect("fstat"),
        );
        assert_eq!(
            (a.dev(), a.ino()),
            (b.dev(), b.ino()),
            "the same open file arrived"
        );
    }

    #[test]
    fn a_missing_agent_is_an_error_naming_the_socket() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let sock = dir.path().join("nobody-listens.sock");
        let file = tempfile::tempfile().expect("a file");
        let err = send_listener(&sock, b"{}", file.as_fd()).unwrap_err();
        assert!(err.to_string().contains("nobody-listens.sock"), "{err}");
        let err = send_listener(&sock, b"", file.as_fd()).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }
}
