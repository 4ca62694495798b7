//! Containers: their configuration, the create, list, inspect, wait, top, update,
//! changes and stats bodies.

mod config;
mod host_config;
mod inspect;
mod mount;
mod ops;
mod stats;
mod summary;

pub use config::{ContainerConfig, EmptyObject, HealthConfig};
pub use host_config::{
    DeviceMapping, DeviceRequest, HostConfig, LogConfig, Resources, RestartPolicy, ThrottleDevice,
    Ulimit, WeightDevice,
};
pub use inspect::{ContainerInspect, ContainerState, GraphDriverData, Health, HealthcheckResult};
pub use mount::{BindOptions, Mount, MountPoint, TmpfsOptions, VolumeDriverConfig, VolumeOptions};
pub use ops::{
    go_mode, ContainerChange, ContainerCreateRequest, ContainerCreateResponse, ContainerPathStat,
    ContainerTopResponse, ContainerUpdateRequest, ContainerUpdateResponse, ContainerWaitError,
    ContainerWaitResponse,
};
pub use stats::{
    BlkioStatEntry, BlkioStats, CpuStats, CpuUsage, MemoryStats, NetworkStats, PidsStats, Stats,
    StorageStats, ThrottlingData,
};
pub use summary::{ContainerSummary, SummaryHostConfig};
