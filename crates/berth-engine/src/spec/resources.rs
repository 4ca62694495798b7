//! Cgroup resources: memory, CPU, pids and block I/O from `HostConfig`'s resource
//! fields, for create and for `docker update`.

use berth_api_types::container::HostConfig;
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources, LinuxThrottleDeviceBuilder,
    LinuxWeightDeviceBuilder,
};

use super::devices::throttle_device_numbers;
use super::{invalid, SpecError};

const CPU_PERIOD_FOR_NANO_CPUS: u64 = 100_000;
const MIN_CPU_SHARES: i64 = 2;
const MAX_CPU_SHARES: i64 = 262_144;
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// The cgroup resources of `hc` alone (no device rules), with their warnings: what
/// `docker update` hands the runtime for a running container.
pub fn linux_resources(hc: &HostConfig) -> Result<(LinuxResources, Vec<String>), SpecError> {
    let mut warnings = Vec::new();
    let r = resources(hc, &mut warnings)?;
    Ok((r, warnings))
}

pub(super) fn resources(
    hc: &HostConfig,
    warnings: &mut Vec<String>,
) -> Result<LinuxResources, SpecError> {
    let r = &hc.resources;
    for (field, v) in [
        ("HostConfig.Memory", r.memory),
        ("HostConfig.MemoryReservation", r.memory_reservation),
        ("HostConfig.KernelMemory", r.kernel_memory),
        ("HostConfig.CpuQuota", r.cpu_quota.max(-1)),
        ("HostConfig.CpuPeriod", r.cpu_period),
        ("HostConfig.NanoCpus", r.nano_cpus),
        ("HostConfig.CpuRealtimePeriod", r.cpu_realtime_period),
        ("HostConfig.CpuRealtimeRuntime", r.cpu_realtime_runtime),
    ] {
        if v < 0 {
            return Err(invalid(field, v, "must not be negative"));
        }
    }
    if r.memory_swap < -1 {
        return Err(invalid(
            "HostConfig.MemorySwap",
            r.memory_swap,
            "must be -1 (unlimited) or positive",
        ));
    }
    if r.memory > 0 && r.memory < MIN_MEMORY {
        return Err(invalid(
            "HostConfig.Memory",
            r.memory,
            "the minimum memory limit allowed is 6MB",
        ));
    }
    if r.memory_swap > 0 && r.memory == 0 {
        return Err(SpecError::Conflict(
            "MemorySwap requires a Memory limit".to_string(),
        ));
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(SpecError::Conflict(format!(
            "MemorySwap ({}) must be larger than Memory ({})",
            r.memory_swap, r.memory
        )));
    }
    if r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation {
        return Err(SpecError::Conflict(format!(
            "Memory ({}) can not be less than MemoryReservation ({})",
            r.memory, r.memory_reservation
        )));
    }
    let mut memory = LinuxMemory::default();
    let mut any_memory = false;
    if r.memory > 0 {
        memory.set_limit(Some(r.memory));
        // Docker's default: swap as large again as memory.
        memory.set_swap(Some(if r.memory_swap == 0 {
            r.memory * 2
        } else {
            r.memory_swap
        }));
        any_memory = true;
    } else if r.memory_swap == -1 {
        memory.set_swap(Some(-1));
        any_memory = true;
    }
    if r.memory_reservation > 0 {
        memory.set_reservation(Some(r.memory_reservation));
        any_memory = true;
    }
    if r.kernel_memory > 0 {
        memory.set_kernel(Some(r.kernel_memory));
        warnings.push("KernelMemory is deprecated and ignored by most kernels".to_string());
        any_memory = true;
    }
    if r.kernel_memory_tcp > 0 {
        memory.set_kernel_tcp(Some(r.kernel_memory_tcp));
        any_memory = true;
    }
    match r.memory_swappiness {
        Some(-1) | None => {}
        Some(s) if (0..=100).contains(&s) => {
            memory.set_swappiness(Some(s as u64));
            any_memory = true;
        }
        Some(s) => {
            return Err(invalid(
                "HostConfig.MemorySwappiness",
                s,
                "must be between 0 and 100, or -1",
            ))
        }
    }
    if let Some(d) = r.oom_kill_disable {
        memory.set_disable_oom_killer(Some(d));
        any_memory = true;
        if d && r.memory == 0 {
            warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources".to_string());
        }
    }

    let mut cpu = LinuxCpu::default();
    let mut any_cpu = false;
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return Err(SpecError::Conflict(
            "NanoCpus and CpuPeriod cannot both be set".to_string(),
        ));
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return Err(SpecError::Conflict(
            "NanoCpus and CpuQuota cannot both be set".to_string(),
        ));
    }
    if r.cpu_shares != 0 {
        let shares = if r.cpu_shares < 0 {
            return Err(invalid(
                "HostConfig.CpuShares",
                r.cpu_shares,
                "must not be negative",
            ));
        } else if r.cpu_shares < MIN_CPU_SHARES {
            warnings.push(format!(
                "changing requested CpuShares of {} to minimum allowed of {MIN_CPU_SHARES}",
                r.cpu_shares
            ));
            MIN_CPU_SHARES
        } else if r.cpu_shares > MAX_CPU_SHARES {
            warnings.push(format!(
                "changing requested CpuShares of {} to maximum allowed of {MAX_CPU_SHARES}",
                r.cpu_shares
            ));
            MAX_CPU_SHARES
        } else {
            r.cpu_shares
        };
        cpu.set_shares(Some(shares as u64));
        any_cpu = true;
    }
    if r.nano_cpus > 0 {
        cpu.set_period(Some(CPU_PERIOD_FOR_NANO_CPUS));
        cpu.set_quota(Some(
            (i128::from(r.nano_cpus) * i128::from(CPU_PERIOD_FOR_NANO_CPUS) / 1_000_000_000) as i64,
        ));
        any_cpu = true;
    }
    if r.cpu_period > 0 {
        if !(1000..=1_000_000).contains(&r.cpu_period) {
            return Err(invalid(
                "HostConfig.CpuPeriod",
                r.cpu_period,
                "must be between 1000 and 1000000 (µs)",
            ));
        }
        cpu.set_period(Some(r.cpu_period as u64));
        any_cpu = true;
    }
    if r.cpu_quota > 0 {
        if r.cpu_quota < 1000 {
            return Err(invalid(
                "HostConfig.CpuQuota",
                r.cpu_quota,
                "must be at least 1000 (1ms)",
            ));
        }
        cpu.set_quota(Some(r.cpu_quota));
        any_cpu = true;
    }
    if r.cpu_realtime_period > 0 {
        cpu.set_realtime_period(Some(r.cpu_realtime_period as u64));
        any_cpu = true;
    }
    if r.cpu_realtime_runtime > 0 {
        cpu.set_realtime_runtime(Some(r.cpu_realtime_runtime));
        any_cpu = true;
    }
    if r.cpu_realtime_period > 0 && r.cpu_realtime_runtime > r.cpu_realtime_period {
        return Err(SpecError::Conflict(
            "CpuRealtimeRuntime can not be greater than CpuRealtimePeriod".to_string(),
        ));
    }
    for (field, v) in [
        ("HostConfig.CpusetCpus", &r.cpuset_cpus),
        ("HostConfig.CpusetMems", &r.cpuset_mems),
    ] {
        if !v.is_empty()
            && !v
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '-')
        {
            return Err(invalid(field, v, "expected a list like 0-3,5"));
        }
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.set_cpus(Some(r.cpuset_cpus.clone()));
        any_cpu = true;
    }
    if !r.cpuset_mems.is_empty() {
        cpu.set_mems(Some(r.cpuset_mems.clone()));
        any_cpu = true;
    }

    let mut blkio = LinuxBlockIo::default();
    let mut any_blkio = false;
    if r.blkio_weight != 0 {
        if !(10..=1000).contains(&r.blkio_weight) {
            return Err(invalid(
                "HostConfig.BlkioWeight",
                r.blkio_weight,
                "must be between 10 and 1000",
            ));
        }
        blkio.set_weight(Some(r.blkio_weight));
        any_blkio = true;
    }
    if !r.blkio_weight_device.is_empty() {
        let mut v = Vec::new();
        for d in &r.blkio_weight_device {
            if !(10..=1000).contains(&d.weight) {
                return Err(invalid(
                    "HostConfig.BlkioWeightDevice",
                    format!("{}:{}", d.path, d.weight),
                    "weight must be between 10 and 1000",
                ));
            }
            let (maj, min) = throttle_device_numbers(&d.path, "HostConfig.BlkioWeightDevice")?;
            v.push(
                LinuxWeightDeviceBuilder::default()
                    .major(maj)
                    .minor(min)
                    .weight(d.weight)
                    .build()
                    .expect("every field of a weight device is set"),
            );
        }
        blkio.set_weight_device(Some(v));
        any_blkio = true;
    }
    let throttles = [
        ("HostConfig.BlkioDeviceReadBps", &r.blkio_device_read_bps),
        ("HostConfig.BlkioDeviceWriteBps", &r.blkio_device_write_bps),
        ("HostConfig.BlkioDeviceReadIOps", &r.blkio_device_read_iops),
        (
            "HostConfig.BlkioDeviceWriteIOps",
            &r.blkio_device_write_iops,
        ),
    ];
    for (i, (field, list)) in throttles.into_iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let mut v = Vec::new();
        for d in list {
            let (maj, min) = throttle_device_numbers(&d.path, field)?;
            v.push(
                LinuxThrottleDeviceBuilder::default()
                    .major(maj)
                    .minor(min)
                    .rate(d.rate)
                    .build()
                    .expect("every field of a throttle device is set"),
            );
        }
        match i {
            0 => blkio.set_throttle_read_bps_device(Some(v)),
            1 => blkio.set_throttle_write_bps_device(Some(v)),
            2 => blkio.set_throttle_read_iops_device(Some(v)),
            _ => blkio.set_throttle_write_iops_device(Some(v)),
        };
        any_blkio = true;
    }

    let mut res = LinuxResources::default();
    res.set_memory(any_memory.then_some(memory));
    res.set_cpu(any_cpu.then_some(cpu));
    res.set_block_io(any_blkio.then_some(blkio));
    res.set_pids(r.pids_limit.map(|n| {
        let mut p = LinuxPids::default();
        p.set_limit(if n <= 0 { -1 } else { n });
        p
    }));
    Ok(res)
}
