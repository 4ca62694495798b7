//! A container's mount points over its life: resolved at create (volumes created on
//! use and referenced, so `volume rm` refuses them), made ready at start (a `-v`
//! bind's missing host directory created, volume filesystems mounted, empty volumes
//! filled from the image), let go at exit, and dropped at removal — with `rm -v` or
//! `--rm`, anonymous volumes too.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api_types::container::{ContainerConfig, HostConfig, MountPoint};

use super::Inner;
use crate::api::{EngineError, EngineResult};
use crate::spec::UserMount;
use crate::store::ContainerRecord;
use crate::volumes::mounts::{self, MountRecord, BIND, VOLUME};
use crate::volumes::{copyup, Want, DEFAULT_DRIVER};

impl Inner {
    /// Emits a volume event (`create`, `mount`, `unmount`, `destroy`) for `name`.
    pub(crate) fn volume_event(&self, action: &str, name: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> = BTreeMap::new();
        attrs.insert("driver".into(), DEFAULT_DRIVER.into());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.events.emit("volume", action, name, attrs);
    }

    /// The mount points of new container `id`: `VolumesFrom`, `Binds`, `Mounts` and
    /// `Config.Volumes` combined, volumes found or created and referenced by `id`.
    /// On failure nothing is left referenced and the volumes made here are removed.
    pub(crate) fn resolve_mounts(
        &self,
        id: &str,
        config: &ContainerConfig,
        hc: &HostConfig,
    ) -> EngineResult<Vec<MountRecord>> {
        let mut inherited = Vec::new();
        for spec in &hc.volumes_from {
            let (name, read_only) = mounts::parse_volumes_from(spec)?;
            let other = self.get(&name)?;
            inherited.extend(mounts::inherit(&other.record().mounts, read_only));
        }
        let config_volumes: Vec<String> = config
            .volumes
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        let planned = mounts::plan(&config_volumes, hc, inherited)?;
        let mut out: Vec<MountRecord> = Vec::new();
        let mut created: Vec<String> = Vec::new();
        let mut failed = None;
        for p in planned {
            let mut m = p.mount;
            if m.kind == VOLUME {
                let want = Want {
                    name: (!m.name.is_empty()).then_some(m.name.as_str()),
                    driver: &m.driver,
                    options: &p.volume_options,
                    labels: &p.volume_labels,
                };
                let (rec, new) = match self.volumes.acquire(&want, id) {
                    Ok(v) => v,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                if new {
                    created.push(rec.name.clone());
                    self.volume_event("create", &rec.name, &[]);
                }
                m.source = self
                    .volumes
                    .data_path(&rec.name)
                    .to_string_lossy()
                    .into_owned();
                m.name = rec.name;
                m.driver = rec.driver;
                // dockerd shows `z` for a local volume given without a mode, except the
                // anonymous ones of `Config.Volumes`.
                if m.mode.is_empty() && !p.inherited && !p.from_config && m.driver == DEFAULT_DRIVER
                {
                    m.mode = "z".into();
                }
            }
            out.push(m);
        }
        if let Some(e) = failed {
            for m in out.iter().filter(|m| m.kind == VOLUME) {
                self.volumes.release(&m.name, id);
            }
            for name in &created {
                if matches!(self.volumes.remove(name, false), Ok(true)) {
                    self.volume_event("destroy", name, &[]);
                }
            }
            return Err(e);
        }
        Ok(out)
    }

    /// What the spec generator mounts for `rec`.
    pub(crate) fn user_mounts(rec: &ContainerRecord) -> Vec<UserMount> {
        rec.mounts
            .iter()
            .map(|m| UserMount {
                destination: m.destination.clone(),
                source: (m.kind != mounts::TMPFS).then(|| m.source.clone().into()),
                tmpfs_options: m.tmpfs_options.clone(),
                read_only: !m.rw,
                propagation: m.propagation.clone(),
                recursive: !m.non_recursive,
            })
            .collect()
    }

    /// Makes `rec`'s mount points ready for a start, its root filesystem mounted at
    /// `rootfs`: on failure, what was mounted is let go again.
    pub(crate) fn mount_volumes(&self, rec: &ContainerRecord, rootfs: &Path) -> EngineResult<()> {
        let res = rec
            .mounts
            .iter()
            .try_for_each(|m| self.mount_one(rec, m, rootfs));
        if res.is_err() {
            self.unmount_volumes(rec);
        }
        res
    }

    fn mount_one(&self, rec: &ContainerRecord, m: &MountRecord, rootfs: &Path) -> EngineResult<()> {
        match m.kind.as_str() {
            BIND => {
                let src = Path::new(&m.source);
                if std::fs::symlink_metadata(src).is_err() {
                    if !m.create_source {
                        return Err(EngineError::BadParameter(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            m.source
                        )));
                    }
                    // `-v /missing:/x` makes the host directory, as docker's -v does.
                    std::fs::create_dir_all(src).map_err(|e| {
                        EngineError::internal(
                            format!("error while creating mount source path '{}'", m.source),
                            e,
                        )
                    })?;
                }
                Ok(())
            }
            VOLUME => {
                let inside = mounts::host_path_in_root(rootfs, &m.destination);
                if let Some(p) = &inside {
                    if std::fs::symlink_metadata(p).is_ok_and(|md| !md.is_dir()) {
                        return Err(EngineError::BadParameter(format!(
                            "cannot mount volume over existing file, file exists {}",
                            p.display()
                        )));
                    }
                }
                let (data, first) = self.volumes.mount(&m.name, &rec.id)?;
                if first {
                    self.volume_event(
                        "mount",
                        &m.name,
                        &[
                            ("container", rec.id.clone()),
                            ("destination", m.destination.clone()),
                            ("propagation", m.propagation.clone()),
                            ("read/write", m.rw.to_string()),
                        ],
                    );
                }
                // Only while no other container has it: nothing may write meanwhile.
                let alone = self.volumes.mounted_by(&m.name) == 1;
                if m.copy_data && alone && copyup::is_empty_dir(&data) {
                    if let Some(src) = inside {
                        copyup::copy_up(&src, &data).map_err(|e| {
                            EngineError::internal(
                                format!(
                                    "copying the image's {} into volume {}",
                                    m.destination, m.name
                                ),
                                e,
                            )
                        })?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `rec` stopped: its volumes are no longer mounted by it.
    pub(crate) fn unmount_volumes(&self, rec: &ContainerRecord) {
        for m in rec.mounts.iter().filter(|m| m.kind == VOLUME) {
            if self.volumes.unmount(&m.name, &rec.id) {
                self.volume_event("unmount", &m.name, &[("container", rec.id.clone())]);
            }
        }
    }

    /// `rec` is removed: its references go, and with `anonymous` its anonymous
    /// volumes too, unless another container still uses them.
    pub(crate) fn drop_volumes(&self, rec: &ContainerRecord, anonymous: bool) {
        for m in rec.mounts.iter().filter(|m| m.kind == VOLUME) {
            self.volumes.release(&m.name, &rec.id);
        }
        if !anonymous {
            return;
        }
        for m in rec
            .mounts
            .iter()
            .filter(|m| m.kind == VOLUME && m.anonymous)
        {
            if matches!(self.volumes.remove(&m.name, false), Ok(true)) {
                self.volume_event("destroy", &m.name, &[]);
            }
        }
    }
}

/// `Mounts` of inspect and list, by destination.
pub(crate) fn mount_points(rec: &ContainerRecord) -> Vec<MountPoint> {
    rec.mounts
        .iter()
        .map(|m| MountPoint {
            kind: m.kind.clone(),
            name: m.name.clone(),
            source: m.source.clone(),
            destination: m.destination.clone(),
            driver: m.driver.clone(),
            mode: m.mode.clone(),
            rw: m.rw,
            propagation: m.propagation.clone(),
        })
        .collect()
}
