//! What a project is and has: `ps`, `logs`, `top`, `images`, `port`, `ls`.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use berth_api_types::Filters;
use berth_cli::template::{align, render_table};
use berth_client::{ListContainersOptions, LogsOptions};
use serde_json::{json, Value};

use super::{service_containers, Env};
use crate::cli::{ImagesArgs, LogsArgs, LsArgs, PortArgs, PsArgs, ServicesArgs};
use crate::labels;
use crate::logs::{copy_logs, LogOutput};
use crate::up::ComposeError;

fn print(text: &str) -> Result<(), ComposeError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| ComposeError::msg(format!("writing to standard output: {e}")))
}

fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn ps(env: &Env<'_>, a: &PsArgs) -> Result<i32, ComposeError> {
    let project = env.project_or_name()?;
    let mut list = service_containers(env, &project, &a.services, a.all)?;
    if !a.all {
        list.retain(|c| c.running());
    }
    if !a.status.is_empty() {
        list.retain(|c| a.status.contains(&c.state));
    }
    if a.services_only {
        let mut names: Vec<&str> = list.iter().map(|c| c.service.as_str()).collect();
        names.dedup();
        let text: String = names.iter().map(|n| format!("{n}\n")).collect();
        return print(&text).map(|()| 0);
    }
    if a.quiet {
        let text: String = list.iter().map(|c| format!("{}\n", c.id)).collect();
        return print(&text).map(|()| 0);
    }
    let now = now();
    let rows: Vec<Value> = list
        .iter()
        .map(|c| {
            let mut row = berth_cli::format::ps_row(&c.summary, true, now);
            let publishers: Vec<Value> = c
                .summary
                .ports
                .iter()
                .map(|p| {
                    json!({"URL": p.ip, "TargetPort": p.private_port,
                           "PublishedPort": p.public_port, "Protocol": p.kind})
                })
                .collect();
            if let Some(o) = row.as_object_mut() {
                o.insert("Name".into(), json!(c.name));
                o.insert("Service".into(), json!(c.service));
                o.insert("Project".into(), json!(project.name));
                o.insert("ID".into(), json!(c.id));
                o.insert("Publishers".into(), Value::Array(publishers));
                let health = if c.summary.status.contains("(healthy)") {
                    "healthy"
                } else if c.summary.status.contains("(unhealthy)") {
                    "unhealthy"
                } else if c.summary.status.contains("(health: starting)") {
                    "starting"
                } else {
                    ""
                };
                o.insert("Health".into(), json!(health));
            }
            row
        })
        .collect();
    let format = a.format.as_deref().unwrap_or("table");
    if format == "json" {
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        return print(&text).map(|()| 0);
    }
    let format = if format == "table" {
        "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}"
    } else {
        format
    };
    let text = render_table(
        format,
        &rows,
        &headers(&[
            ("Name", "NAME"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("Service", "SERVICE"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("Ports", "PORTS"),
            ("ID", "CONTAINER ID"),
            ("State", "STATE"),
            ("Project", "PROJECT"),
            ("Health", "HEALTH"),
        ]),
    )
    .map_err(|e| ComposeError::msg(e.to_string()))?;
    print(&text).map(|()| 0)
}

pub fn logs(env: &Env<'_>, a: &LogsArgs) -> Result<i32, ComposeError> {
    let project = env.project_or_name()?;
    let mut list = service_containers(env, &project, &a.services, false)?;
    if let Some(i) = a.index {
        list.retain(|c| c.number == i);
    }
    let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    let output = LogOutput::new(
        Box::new(io::stdout()),
        env.colour && !a.no_color,
        !a.no_log_prefix,
        &names,
    );
    let now = now();
    let time = |v: &Option<String>| -> Result<String, ComposeError> {
        match v {
            Some(s) if !s.is_empty() => berth_cli::units::get_timestamp(s, now)
                .map_err(|e| ComposeError::msg(e.to_string())),
            _ => Ok(String::new()),
        }
    };
    let opts = LogsOptions {
        follow: a.follow,
        stdout: true,
        stderr: true,
        since: time(&a.since)?,
        until: time(&a.until)?,
        timestamps: a.timestamps,
        tail: a.tail.clone(),
    };
    std::thread::scope(|scope| {
        for (i, c) in list.iter().enumerate() {
            let (output, opts) = (&output, &opts);
            scope.spawn(move || {
                if let Err(e) = copy_logs(env.client, c, opts, output, i) {
                    output.line(&format!("{}: {e}", c.name));
                }
            });
        }
    });
    Ok(0)
}

pub fn top(env: &Env<'_>, a: &ServicesArgs) -> Result<i32, ComposeError> {
    let project = env.project_or_name()?;
    let list: Vec<_> = service_containers(env, &project, &a.services, false)?
        .into_iter()
        .filter(|c| c.running())
        .collect();
    let mut text = String::new();
    for c in list {
        let top = env.client.top(&c.id, "")?;
        text.push_str(&c.name);
        text.push('\n');
        let mut table = top.titles.join("\t");
        table.push('\n');
        for p in &top.processes {
            table.push_str(&p.join("\t"));
            table.push('\n');
        }
        text.push_str(&align(&table));
        text.push('\n');
    }
    print(&text).map(|()| 0)
}

pub fn images(env: &Env<'_>, a: &ImagesArgs) -> Result<i32, ComposeError> {
    let project = env.project_or_name()?;
    let list = service_containers(env, &project, &a.services, false)?;
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for c in &list {
        let image = env.client.inspect_image(&c.summary.image_id).ok();
        let id = image
            .as_ref()
            .map(|i| i.id.clone())
            .unwrap_or_else(|| c.summary.image_id.clone());
        if a.quiet {
            if !ids.contains(&id) {
                ids.push(id);
            }
            continue;
        }
        let (repo, tag) = match c.summary.image.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            _ => (c.summary.image.clone(), "latest".to_string()),
        };
        let size = image.as_ref().map_or(0, |i| i.size);
        rows.push(format!(
            "{}\t{repo}\t{tag}\t{}\t{}",
            c.name,
            berth_cli::format::short_id(&id),
            berth_cli::units::human_size(size as f64)
        ));
    }
    if a.quiet {
        let text: String = ids.iter().map(|i| format!("{i}\n")).collect();
        return print(&text).map(|()| 0);
    }
    let mut table = "CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE\n".to_string();
    for r in rows {
        table.push_str(&r);
        table.push('\n');
    }
    print(&align(&table)).map(|()| 0)
}

pub fn port(env: &Env<'_>, a: &PortArgs) -> Result<i32, ComposeError> {
    let project = env.project()?;
    let list = service_containers(env, &project, std::slice::from_ref(&a.service), false)?;
    let c = list.iter().find(|c| c.number == a.index).ok_or_else(|| {
        ComposeError::msg(format!(
            "service {:?} has no container #{}",
            a.service, a.index
        ))
    })?;
    let inspect = env.client.inspect_container(&c.id, false)?;
    let key = format!("{}/{}", a.private_port, a.protocol);
    let binding = inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.get(&key).cloned().flatten())
        .and_then(|b| b.into_iter().next())
        .ok_or_else(|| {
            ComposeError::msg(format!(
                "no port {key} for container {}: the service publishes no such port",
                c.name
            ))
        })?;
    let ip = if binding.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &binding.host_ip
    };
    print(&format!("{ip}:{}\n", binding.host_port)).map(|()| 0)
}

pub fn ls(env: &Env<'_>, a: &LsArgs) -> Result<i32, ComposeError> {
    let mut filters = Filters::new();
    filters.add("label", labels::PROJECT);
    let list = env.client.list_containers(&ListContainersOptions {
        all: true,
        filters,
        ..Default::default()
    })?;
    // project → (state → count, config files)
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, String)> = BTreeMap::new();
    for c in &list {
        let Some(p) = c.labels.get(labels::PROJECT) else {
            continue;
        };
        let e = projects.entry(p.clone()).or_default();
        *e.0.entry(c.state.clone()).or_default() += 1;
        if let Some(f) = c.labels.get(labels::CONFIG_FILES) {
            e.1 = f.clone();
        }
    }
    if !a.all {
        projects.retain(|_, (states, _)| states.contains_key("running"));
    }
    let status = |states: &BTreeMap<String, usize>| -> String {
        states
            .iter()
            .map(|(s, n)| format!("{s}({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = if a.quiet {
        projects.keys().map(|p| format!("{p}\n")).collect()
    } else if a.format == "json" {
        let v: Vec<Value> = projects
            .iter()
            .map(|(n, (s, f))| json!({"Name": n, "Status": status(s), "ConfigFiles": f}))
            .collect();
        format!("{}\n", Value::Array(v))
    } else {
        let mut table = "NAME\tSTATUS\tCONFIG FILES\n".to_string();
        for (n, (s, f)) in &projects {
            table.push_str(&format!("{n}\t{}\t{f}\n", status(s)));
        }
        align(&table)
    };
    print(&text).map(|()| 0)
}
