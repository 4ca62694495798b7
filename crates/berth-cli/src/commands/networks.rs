//! Network commands: network create, ls, inspect, rm, prune, connect, disconnect.

use std::collections::BTreeMap;

use berth_api_types::network::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest,
};

use super::{for_each, parse_filters};
use crate::cli::{
    NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs, NetworkInspectArgs,
    NetworkLsArgs, NetworkPruneArgs, NetworkRmArgs,
};
use crate::format::{inspect_array, render_networks};
use crate::template::Template;
use crate::{CliError, Ctx};

/// What `network prune` asks before it removes anything.
const PRUNE_WARNING: &str = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?";

/// `k=v` flags (`--label`, `-o`) as a map; a bare `k` has an empty value.
fn key_values(flags: &[String]) -> BTreeMap<String, String> {
    flags
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (f.clone(), String::new()),
        })
        .collect()
}

/// Whether `ip` (an address or a CIDR) lies in `subnet` (a CIDR), IPv4 or IPv6.
fn in_subnet(ip: &str, subnet: &str) -> bool {
    // IPv4 in the top 32 bits, so a prefix counts from the top for both families.
    let addr = |s: &str| -> Option<(u128, u32, bool)> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u32>().ok()?)),
            None => (s, None),
        };
        match a.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(v4) => {
                Some((u128::from(u32::from(v4)) << 96, p.unwrap_or(32), false))
            }
            std::net::IpAddr::V6(v6) => Some((u128::from(v6), p.unwrap_or(128), true)),
        }
    };
    let (Some((a, _, a6)), Some((n, p, n6))) = (addr(ip), addr(subnet)) else {
        return false;
    };
    if a6 != n6 || p > 128 {
        return false;
    }
    let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
    a & mask == n & mask
}

/// docker's pairing of `--subnet`, `--ip-range` and `--gateway`: each range and gateway
/// goes with the subnet that holds it, at most one of each per subnet.
fn ipam_configs(a: &NetworkCreateArgs) -> Result<Vec<IpamConfig>, CliError> {
    if a.subnet.is_empty() {
        if !a.ip_range.is_empty() || !a.gateway.is_empty() {
            return Err(CliError::msg(
                "every ip-range or gateway must have a corresponding subnet",
            ));
        }
        return Ok(Vec::new());
    }
    let mut out: Vec<IpamConfig> = a
        .subnet
        .iter()
        .map(|s| IpamConfig {
            subnet: s.clone(),
            ..Default::default()
        })
        .collect();
    for r in &a.ip_range {
        let c = out
            .iter_mut()
            .find(|c| in_subnet(r, &c.subnet))
            .ok_or_else(|| CliError::msg(format!("no matching subnet for range {r}")))?;
        if !c.ip_range.is_empty() {
            return Err(CliError::msg(format!(
                "cannot configure multiple ranges ({r}, {}) on the same subnet ({})",
                c.ip_range, c.subnet
            )));
        }
        c.ip_range = r.clone();
    }
    for g in &a.gateway {
        let c = out
            .iter_mut()
            .find(|c| in_subnet(g, &c.subnet))
            .ok_or_else(|| CliError::msg(format!("no matching subnet for gateway {g}")))?;
        if !c.gateway.is_empty() {
            return Err(CliError::msg(format!(
                "cannot configure multiple gateways ({g}, {}) for the same subnet ({})",
                c.gateway, c.subnet
            )));
        }
        c.gateway = g.clone();
    }
    for aux in &a.aux_address {
        let (name, ip) = aux.split_once('=').ok_or_else(|| {
            CliError::msg(format!("invalid aux-address {aux:?}: expected NAME=IP"))
        })?;
        let c = out
            .iter_mut()
            .find(|c| in_subnet(ip, &c.subnet))
            .ok_or_else(|| CliError::msg(format!("no matching subnet for aux-address {ip}")))?;
        c.auxiliary_addresses
            .insert(name.to_string(), ip.to_string());
    }
    Ok(out)
}

pub fn create(ctx: &mut Ctx<'_>, a: &NetworkCreateArgs) -> Result<i32, CliError> {
    let req = NetworkCreateRequest {
        name: a.name.clone(),
        check_duplicate: true,
        driver: a.driver.clone(),
        scope: a.scope.clone().unwrap_or_default(),
        internal: a.internal,
        attachable: a.attachable,
        ingress: a.ingress,
        config_only: a.config_only,
        config_from: a
            .config_from
            .as_ref()
            .map(|n| berth_api_types::network::ConfigReference { network: n.clone() }),
        ipam: Some(Ipam {
            driver: a.ipam_driver.clone(),
            options: Some(key_values(&a.ipam_opt)),
            config: ipam_configs(a)?,
        }),
        enable_ipv6: a.ipv6,
        options: key_values(&a.opt),
        labels: key_values(&a.label),
    };
    let resp = ctx.client.create_network(&req)?;
    if !resp.warning.is_empty() {
        let _ = writeln!(ctx.err, "{}", resp.warning);
    }
    writeln!(ctx.out, "{}", resp.id).map_err(CliError::io("writing output"))?;
    Ok(0)
}

pub fn ls(ctx: &mut Ctx<'_>, a: &NetworkLsArgs) -> Result<i32, CliError> {
    let filters = parse_filters(&a.filter)?;
    let mut list = ctx.client.list_networks(&filters)?;
    list.sort_by(|x, y| x.name.cmp(&y.name));
    let text = render_networks(&list, a.format.as_deref(), a.quiet, !a.no_trunc)?;
    ctx.out
        .write_all(text.as_bytes())
        .map_err(CliError::io("writing output"))?;
    Ok(0)
}

pub fn inspect(ctx: &mut Ctx<'_>, a: &NetworkInspectArgs) -> Result<i32, CliError> {
    let tmpl_err =
        |e: crate::template::TemplateError| CliError::msg(format!("template parsing error: {e}"));
    let template = match &a.format {
        Some(f) if !f.is_empty() => Some(Template::parse(f).map_err(tmpl_err)?),
        _ => None,
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &a.networks {
        match ctx.client.inspect_network_bytes(name, a.verbose) {
            Ok(b) => found.push(b),
            Err(e) => errors.push(e.to_string()),
        }
    }
    match &template {
        None => writeln!(ctx.out, "{}", inspect_array(&found))
            .map_err(CliError::io("writing output"))?,
        Some(t) => {
            for bytes in &found {
                let value: serde_json::Value = serde_json::from_slice(bytes)
                    .map_err(|e| CliError::msg(format!("decoding an inspect answer: {e}")))?;
                let text = t.execute(&value).map_err(tmpl_err)?;
                writeln!(ctx.out, "{text}").map_err(CliError::io("writing output"))?;
            }
        }
    }
    for e in &errors {
        let _ = writeln!(ctx.err, "{e}");
    }
    Ok(i32::from(!errors.is_empty()))
}

pub fn rm(ctx: &mut Ctx<'_>, a: &NetworkRmArgs) -> Result<i32, CliError> {
    let force = a.force;
    for_each(ctx, &a.networks, true, |c, name| {
        match c.remove_network(name) {
            Err(berth_client::ClientError::Api { status: 404, .. }) if force => Ok(()),
            r => Ok(r?),
        }
    })
}

pub fn prune(ctx: &mut Ctx<'_>, a: &NetworkPruneArgs) -> Result<i32, CliError> {
    let filters = parse_filters(&a.filter)?;
    if !a.force && !super::confirm(ctx, PRUNE_WARNING)? {
        return Ok(0);
    }
    let report = ctx.client.prune_networks(&filters)?;
    if !report.networks_deleted.is_empty() {
        let mut text = String::from("Deleted Networks:\n");
        for n in &report.networks_deleted {
            text.push_str(n);
            text.push('\n');
        }
        text.push('\n');
        ctx.out
            .write_all(text.as_bytes())
            .map_err(CliError::io("writing output"))?;
    }
    Ok(0)
}

pub fn connect(ctx: &mut Ctx<'_>, a: &NetworkConnectArgs) -> Result<i32, CliError> {
    let ipam = (a.ip.is_some() || a.ip6.is_some() || !a.link_local_ip.is_empty()).then(|| {
        EndpointIpamConfig {
            ipv4_address: a.ip.clone().unwrap_or_default(),
            ipv6_address: a.ip6.clone().unwrap_or_default(),
            link_local_ips: a.link_local_ip.clone(),
        }
    });
    let req = NetworkConnectRequest {
        container: a.container.clone(),
        endpoint_config: Some(EndpointSettings {
            ipam_config: ipam,
            links: a.link.clone(),
            aliases: a.alias.clone(),
            driver_opts: (!a.driver_opt.is_empty()).then(|| key_values(&a.driver_opt)),
            ..Default::default()
        }),
    };
    ctx.client.connect_network(&a.network, &req)?;
    Ok(0)
}

pub fn disconnect(ctx: &mut Ctx<'_>, a: &NetworkDisconnectArgs) -> Result<i32, CliError> {
    ctx.client.disconnect_network(
        &a.network,
        &NetworkDisconnectRequest {
            container: a.container.clone(),
            force: a.force,
        },
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_gateways_go_with_their_subnets() {
        let a = NetworkCreateArgs {
            subnet: vec!["10.1.0.0/16".into(), "fd00:1::/64".into()],
            ip_range: vec!["10.1.2.0/24".into()],
            gateway: vec!["fd00:1::fe".into(), "10.1.0.254".into()],
            name: "n".into(),
            ..Default::default()
        };
        let c = ipam_configs(&a).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].ip_range.as_str(), c[0].gateway.as_str()),
            ("10.1.2.0/24", "10.1.0.254")
        );
        assert_eq!(
            (c[1].ip_range.as_str(), c[1].gateway.as_str()),
            ("", "fd00:1::fe")
        );
        let orphan = NetworkCreateArgs {
            gateway: vec!["10.1.0.1".into()],
            ..Default::default()
        };
        assert_eq!(
            ipam_configs(&orphan).unwrap_err().to_string(),
            "every ip-range or gateway must have a corresponding subnet"
        );
        let outside = NetworkCreateArgs {
            subnet: vec!["10.1.0.0/16".into()],
            ip_range: vec!["10.2.0.0/24".into()],
            ..Default::default()
        };
        assert_eq!(
            ipam_configs(&outside).unwrap_err().to_string(),
            "no matching subnet for range 10.2.0.0/24"
        );
        assert!(!in_subnet("10.1.0.1", "fd00::/8"));
        assert!(in_subnet("10.1.0.1", "0.0.0.0/0"));
    }
}
