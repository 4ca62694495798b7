//! `DELETE /images/{name}`: untagging, deleting, and collecting what nothing needs
//! any more, with dockerd's rules and messages.
//!
//! By name: the name is removed (with the same repository's digest names when no tag
//! of it is left); if that was the image's last name the image is deleted too, unless
//! a container uses it. Removing the only name of an image a container uses needs
//! force (`conflict: unable to remove repository reference …`).
//! By id: an image with several names needs force (`… image is referenced in multiple
//! repositories`); one a stopped container uses needs force; one a running container
//! uses cannot be deleted at all.
//!
//! Deleting an image drops its record, then runs garbage collection: its blobs and
//! layer snapshots go unless another image or a container's snapshot needs them.
//! Every snapshot that is not a committed layer (containers' writable layers, unpacks
//! in progress) is a root, so the layers under a container always stay.

use berth_api_types::image::ImageDeleteResponseItem;
use berth_image::gc::{self, BoxError, GcOptions, Roots, SnapshotGc};
use berth_image::images::ImageRecord;
use berth_image::snapshot::{Kind, Snapshotter};
use berth_types::{Digest, Reference};

use super::{canonical, image_err, short_id, ImageService};
use crate::api::{EngineError, EngineResult};

/// A container's use of an image, for removal's conflict checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    /// `sha256:…` of the image.
    pub image_id: String,
    /// The container's id (named, shortened, in conflict messages).
    pub container_id: String,
    pub running: bool,
}

/// dockerd's image delete conflict.
struct DeleteConflict {
    image: String,
    /// Cannot be overridden by force.
    hard: bool,
    /// A container uses the image.
    used: bool,
    message: String,
}

impl DeleteConflict {
    fn error(&self) -> EngineError {
        EngineError::Conflict(format!(
            "conflict: unable to delete {} ({}) - {}",
            short_id(&self.image),
            if self.hard {
                "cannot be forced"
            } else {
                "must be forced"
            },
            self.message
        ))
    }
}

fn container_words(u: &ImageUser) -> String {
    let state = if u.running { "running" } else { "stopped" };
    if u.container_id.is_empty() {
        format!("a {state} container")
    } else {
        format!("{state} container {}", short_id(&u.container_id))
    }
}

/// At most one tag, and every name in one repository (dockerd's `isSingleReference`).
fn single_reference(names: &[Reference]) -> bool {
    let tags = names.iter().filter(|r| r.digest().is_none()).count();
    if tags > 1 {
        return false;
    }
    let mut repos = names.iter().map(Reference::name);
    match repos.next() {
        None => true,
        Some(first) => repos.all(|r| r == first),
    }
}

/// The conflicts to look for.
#[derive(Clone, Copy)]
struct Checks {
    running: bool,
    names: bool,
    stopped: bool,
}

/// Garbage collection's view of the snapshotter: everything, so that parents of
/// non-committed snapshots (the roots) are known.
struct SnapshotsForGc<'a>(&'a dyn Snapshotter);

impl SnapshotGc for SnapshotsForGc<'_> {
    fn list(&self) -> Result<Vec<(String, Option<String>)>, BoxError> {
        Ok(self
            .0
            .list()?
            .into_iter()
            .map(|i| (i.key, i.parent))
            .collect())
    }

    fn remove(&self, key: &str) -> Result<(), BoxError> {
        Ok(self.0.remove(key)?)
    }
}

impl ImageService {
    /// Removes `name` as `DELETE /images/{name}` does, given the containers that use
    /// images (any image; those of other images are ignored).
    pub fn remove_image(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
        users: &[ImageUser],
    ) -> EngineResult<Vec<ImageDeleteResponseItem>> {
        let all_users = users;
        let rec = self.get(name)?;
        let id = rec.id.to_string();
        let users: Vec<&ImageUser> = users.iter().filter(|u| u.image_id == id).collect();
        let mut records = Vec::new();
        let by_name = Reference::parse(name)
            .ok()
            .map(|r| canonical(&r))
            .filter(|r| rec.names.contains(r));
        if let Some(reference) = by_name {
            if !force && single_reference(&rec.names) {
                if let Some(u) = users.first() {
                    let container = if u.container_id.is_empty() {
                        "a container".to_string()
                    } else {
                        format!("container {}", short_id(&u.container_id))
                    };
                    return Err(EngineError::Conflict(format!(
                        "conflict: unable to remove repository reference {name:?} (must force) - {container} is using its referenced image {}",
                        short_id(&id)
                    )));
                }
            }
            let untagged = self.store.untag(&reference).map_err(image_err)?;
            records.extend(untagged.removed.iter().map(untagged_item));
            if !untagged.last_name {
                return Ok(records);
            }
            let before = records.len();
            self.delete_helper(&rec.id, force, &users, true, &mut records)?;
            if !no_prune && records.len() > before {
                self.prune_parents(&rec, all_users, &mut records)?;
            }
            return Ok(records);
        }
        if single_reference(&rec.names) {
            let checks = Checks {
                running: true,
                names: false,
                stopped: !force,
            };
            if let Some(c) = self.conflict(&rec, &users, checks)? {
                return Err(c.error());
            }
            for n in &rec.names {
                self.store.untag(n).map_err(image_err)?;
                records.push(untagged_item(n));
            }
        }
        self.delete_helper(&rec.id, force, &users, false, &mut records)?;
        if !no_prune {
            self.prune_parents(&rec, all_users, &mut records)?;
        }
        Ok(records)
    }

    /// After an image is deleted: its parents a build left (untagged, with no other
    /// child, used by no container) go too, as dockerd prunes them.
    fn prune_parents(
        &self,
        deleted: &ImageRecord,
        users: &[ImageUser],
        records: &mut Vec<ImageDeleteResponseItem>,
    ) -> EngineResult<()> {
        let mut next = deleted.parent.clone();
        let mut any = false;
        while let Some(p) = next.take() {
            let all = self.store.list().map_err(image_err)?;
            let Some(parent) = all.iter().find(|r| r.id == p) else {
                break;
            };
            let has_child = all.iter().any(|r| r.parent.as_ref() == Some(&p));
            let used = users.iter().any(|u| u.image_id == p.to_string());
            if !parent.is_dangling() || has_child || used {
                break;
            }
            let _gc = self.collecting();
            self.store.delete(&p).map_err(image_err)?;
            records.push(ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(p.to_string()),
            });
            any = true;
            next = parent.parent.clone();
        }
        if any {
            let _gc = self.collecting();
            let removed = self.collect_garbage(&[])?;
            records.extend(removed.into_iter().map(|k| ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(k),
            }));
        }
        Ok(())
    }

    /// Deletes the image unless a conflict forbids it; `quiet` (after a name was
    /// removed) turns the conflicts of a used or still named image into "keep it".
    fn delete_helper(
        &self,
        id: &Digest,
        force: bool,
        users: &[&ImageUser],
        quiet: bool,
        records: &mut Vec<ImageDeleteResponseItem>,
    ) -> EngineResult<()> {
        let rec = self.store.get(&id.to_string()).map_err(image_err)?;
        let checks = Checks {
            running: true,
            names: !force,
            stopped: !force,
        };
        if let Some(c) = self.conflict(&rec, users, checks)? {
            if quiet && (!rec.is_dangling() || c.used) {
                return Ok(());
            }
            return Err(c.error());
        }
        for n in &rec.names {
            self.store.untag(n).map_err(image_err)?;
            records.push(untagged_item(n));
        }
        let _gc = self.collecting();
        self.store.delete(id).map_err(image_err)?;
        records.push(ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(id.to_string()),
        });
        let removed = self.collect_garbage(users)?;
        records.extend(removed.into_iter().map(|k| ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(k),
        }));
        Ok(())
    }

    fn conflict(
        &self,
        rec: &ImageRecord,
        users: &[&ImageUser],
        checks: Checks,
    ) -> EngineResult<Option<DeleteConflict>> {
        let id = rec.id.to_string();
        if checks.running {
            if let Some(u) = users.iter().find(|u| u.running) {
                return Ok(Some(DeleteConflict {
                    image: id,
                    hard: true,
                    used: true,
                    message: format!("image is being used by {}", container_words(u)),
                }));
            }
        }
        if checks.names && !rec.names.is_empty() {
            return Ok(Some(DeleteConflict {
                image: id,
                hard: false,
                used: false,
                message: "image is referenced in multiple repositories".into(),
            }));
        }
        if checks.stopped {
            if let Some(u) = users.iter().find(|u| !u.running) {
                return Ok(Some(DeleteConflict {
                    image: id,
                    hard: false,
                    used: true,
                    message: format!("image is being used by {}", container_words(u)),
                }));
            }
        }
        Ok(None)
    }

    /// Runs garbage collection (the caller holds the GC lock) and returns the layer
    /// snapshots it removed (chain ids), top first, as dockerd lists deleted layers.
    fn collect_garbage(&self, users: &[&ImageUser]) -> EngineResult<Vec<String>> {
        let internal = |e: BoxError| EngineError::internal("removing unused image data", e);
        let snapshots = self.snapshotter.list().map_err(|e| internal(e.into()))?;
        let roots = Roots {
            // A container whose image was force-removed still shows its config.
            content: users
                .iter()
                .filter_map(|u| u.image_id.parse::<Digest>().ok())
                .collect(),
            snapshots: snapshots
                .into_iter()
                .filter(|i| i.kind != Kind::Committed)
                .map(|i| i.key)
                .collect(),
        };
        let sn = SnapshotsForGc(self.snapshotter.as_ref());
        let report = gc::collect(
            &self.store,
            &self.leases,
            &roots,
            Some(&sn),
            &GcOptions::default(),
        )
        .map_err(|e| internal(e.into()))?;
        Ok(report
            .snapshots
            .into_iter()
            .filter(|k| k.starts_with("sha256:"))
            .collect())
    }
}

fn untagged_item(r: &Reference) -> ImageDeleteResponseItem {
    ImageDeleteResponseItem {
        untagged: Some(r.familiar()),
        deleted: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_reference_is_one_tag_in_one_repository() {
        let r = |s: &str| Reference::parse_named(s).unwrap();
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(single_reference(&[]));
        assert!(single_reference(&[r("busybox:latest")]));
        assert!(single_reference(&[
            r("busybox:latest"),
            r(&format!("busybox@{d}"))
        ]));
        assert!(!single_reference(&[r("busybox:latest"), r("busybox:1")]));
        assert!(!single_reference(&[
            r("busybox:latest"),
            r(&format!("alpine@{d}"))
        ]));
    }
}
