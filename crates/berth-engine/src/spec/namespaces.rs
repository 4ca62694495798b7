//! Namespace modes: `host`, private or `container:<ref>` for `NetworkMode`,
//! `PidMode`, `IpcMode` and `UTSMode`, and the OCI namespace entries they become.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use super::{invalid, JoinedContainer, SpecContext, SpecError};

pub(super) enum Mode<'a> {
    Private,
    Host,
    Join(&'a JoinedContainer),
}

pub(super) fn mode<'a>(
    value: &str,
    field: &'static str,
    ctx: &'a SpecContext,
) -> Result<Mode<'a>, SpecError> {
    match value {
        "host" => Ok(Mode::Host),
        v => {
            match v.strip_prefix("container:") {
                Some("") => Err(invalid(field, v, "no container given after \"container:\"")),
                Some(r) => ctx.containers.get(r).map(Mode::Join).ok_or_else(|| {
                    SpecError::NoSuchContainer {
                        field,
                        reference: r.to_string(),
                    }
                }),
                None => match (field, v) {
                    (_, "" | "private") => Ok(Mode::Private),
                    // Network modes name networks; those are set up elsewhere.
                    ("HostConfig.NetworkMode", _) => Ok(Mode::Private),
                    _ => Err(invalid(
                        field,
                        v,
                        "expected \"\", \"private\", \"host\" or \"container:<id>\"",
                    )),
                },
            }
        }
    }
}

pub(super) fn ns(typ: LinuxNamespaceType, path: Option<PathBuf>) -> LinuxNamespace {
    let mut n = LinuxNamespace::default();
    n.set_typ(typ);
    n.set_path(path);
    n
}
