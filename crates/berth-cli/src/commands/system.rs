//! System commands: info, version, system df, events, stats.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use berth_api_types::system::{Info, Version};
use berth_client::{EventsOptions, ListContainersOptions};
use serde_json::{json, Value};

use super::parse_filters;
use crate::cli::{DfArgs, EventsArgs, FormatArgs, StatsArgs};
use crate::format::{
    df_headers, df_rows, event_line, stats_headers, stats_row, DF_DEFAULT, STATS_DEFAULT,
};
use crate::template::{self, Template};
use crate::units::{bytes_size, get_timestamp, now_unix};
use crate::{CliError, Ctx};

fn out(ctx: &mut Ctx<'_>, s: &str) -> Result<(), CliError> {
    ctx.out
        .write_all(s.as_bytes())
        .map_err(CliError::io("writing output"))?;
    let _ = ctx.out.flush();
    Ok(())
}

fn client_info() -> Value {
    json!({"Debug": false, "Context": "default", "Plugins": [], "Warnings": null})
}

/// `docker info`'s layout for the server part.
pub fn info_text(i: &Info) -> String {
    let mut s = String::new();
    let mut l = |line: String| {
        s.push_str(&line);
        s.push('\n');
    };
    l("Client:".into());
    l(" Context:    default".into());
    l(" Debug Mode: false".into());
    l(String::new());
    l("Server:".into());
    l(format!(" Containers: {}", i.containers));
    l(format!("  Running: {}", i.containers_running));
    l(format!("  Paused: {}", i.containers_paused));
    l(format!("  Stopped: {}", i.containers_stopped));
    l(format!(" Images: {}", i.images));
    l(format!(" Server Version: {}", i.server_version));
    l(format!(" Storage Driver: {}", i.driver));
    for [k, v] in &i.driver_status {
        l(format!("  {k}: {v}"));
    }
    l(format!(" Logging Driver: {}", i.logging_driver));
    l(format!(" Cgroup Driver: {}", i.cgroup_driver));
    l(format!(" Cgroup Version: {}", i.cgroup_version));
    l(" Plugins:".into());
    l(format!("  Volume: {}", i.plugins.volume.join(" ")));
    l(format!("  Network: {}", i.plugins.network.join(" ")));
    l(format!("  Log: {}", i.plugins.log.join(" ")));
    l(format!(" Swarm: {}", i.swarm.local_node_state));
    l(format!(
        " Runtimes: {}",
        i.runtimes.keys().cloned().collect::<Vec<_>>().join(" ")
    ));
    l(format!(" Default Runtime: {}", i.default_runtime));
    l(format!(" Init Binary: {}", i.init_binary));
    l(format!(" containerd version: {}", i.containerd_commit.id));
    l(format!(" runc version: {}", i.runc_commit.id));
    l(format!(" init version: {}", i.init_commit.id));
    if !i.security_options.is_empty() {
        l(" Security Options:".into());
        for o in &i.security_options {
            let mut name = String::new();
            let mut rest = Vec::new();
            for kv in o.split(',') {
                match kv.split_once('=') {
                    Some(("name", v)) => name = v.to_string(),
                    Some((k, v)) => rest.push(format!("{}{}: {v}", k[..1].to_uppercase(), &k[1..])),
                    None => {}
                }
            }
            l(format!("  {name}"));
            for r in rest {
                l(format!("   {r}"));
            }
        }
    }
    l(format!(" Kernel Version: {}", i.kernel_version));
    l(format!(" Operating System: {}", i.operating_system));
    l(format!(" OSType: {}", i.os_type));
    l(format!(" Architecture: {}", i.architecture));
    l(format!(" CPUs: {}", i.ncpu));
    l(format!(" Total Memory: {}", bytes_size(i.mem_total as f64)));
    l(format!(" Name: {}", i.name));
    l(format!(" ID: {}", i.id));
    l(format!(" Docker Root Dir: {}", i.docker_root_dir));
    l(format!(" Debug Mode: {}", i.debug));
    if !i.index_server_address.is_empty() {
        l(format!(" Registry: {}", i.index_server_address));
    }
    l(" Labels:".into());
    for label in &i.labels {
        l(format!("  {label}"));
    }
    l(format!(" Experimental: {}", i.experimental_build));
    if let Some(rc) = &i.registry_config {
        l(" Insecure Registries:".into());
        for r in &rc.insecure_registry_cidrs {
            l(format!("  {r}"));
        }
    }
    l(format!(" Live Restore Enabled: {}", i.live_restore_enabled));
    if !i.warnings.is_empty() {
        l(String::new());
        for w in &i.warnings {
            l(w.clone());
        }
    }
    s
}

pub fn info(ctx: &mut Ctx<'_>, a: &FormatArgs) -> Result<i32, CliError> {
    let i = ctx.client.info()?;
    match &a.format {
        Some(f) if !f.is_empty() => {
            let mut data = serde_json::to_value(&i).map_err(|e| CliError::msg(e.to_string()))?;
            if let Value::Object(o) = &mut data {
                o.insert("ClientInfo".into(), client_info());
                o.insert("ServerErrors".into(), Value::Null);
            }
            let text = Template::parse(f)?.execute(&data)?;
            out(ctx, &format!("{text}\n"))?;
        }
        _ => out(ctx, &info_text(&i))?,
    }
    Ok(0)
}

fn client_version() -> Value {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    json!({
        "Platform": {"Name": ""},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": "1.41",
        "DefaultAPIVersion": "1.41",
        "GitCommit": "",
        "GoVersion": "",
        "Os": std::env::consts::OS,
        "Arch": arch,
        "BuildTime": "",
        "Context": "default",
    })
}

/// `docker version`'s layout.
pub fn version_text(client: &Value, server: Option<&Version>) -> String {
    let c = |k: &str| client[k].as_str().unwrap_or("").to_string();
    let mut s = format!(
        "Client:\n Version:           {}\n API version:       {}\n Go version:        {}\n Git commit:        {}\n Built:             {}\n OS/Arch:           {}/{}\n Context:           {}\n",
        c("Version"), c("ApiVersion"), c("GoVersion"), c("GitCommit"), c("BuildTime"), c("Os"), c("Arch"), c("Context")
    );
    if let Some(v) = server {
        let name = if v.platform.name.is_empty() {
            "berth".to_string()
        } else {
            v.platform.name.clone()
        };
        s.push_str(&format!("\nServer: {name}\n Engine:\n"));
        let min = if v.min_api_version.is_empty() {
            String::new()
        } else {
            format!(" (minimum version {})", v.min_api_version)
        };
        s.push_str(&format!(
            "  Version:          {}\n  API version:      {}{min}\n  Go version:       {}\n  Git commit:       {}\n  Built:            {}\n  OS/Arch:          {}/{}\n  Experimental:     {}\n",
            v.version, v.api_version, v.go_version, v.git_commit, v.build_time, v.os, v.arch, v.experimental
        ));
        for comp in v.components.iter().filter(|c| c.name != "Engine") {
            s.push_str(&format!(
                " {}:\n  Version:          {}\n",
                comp.name, comp.version
            ));
            if let Some(d) = &comp.details {
                if let Some(commit) = d.get("GitCommit") {
                    s.push_str(&format!("  GitCommit:        {commit}\n"));
                }
            }
        }
    }
    s
}

/// docker's templates name fields as its Go structs do; the one field of `version`
/// whose JSON name differs is APIVersion (JSON `ApiVersion`).
fn go_field_names(format: &str) -> String {
    format.replace(".APIVersion", ".ApiVersion")
}

pub fn version(ctx: &mut Ctx<'_>, a: &FormatArgs) -> Result<i32, CliError> {
    let client = client_version();
    let server = ctx.client.version();
    let server_value = server
        .as_ref()
        .ok()
        .and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or(Value::Null);
    match &a.format {
        Some(f) if !f.is_empty() => {
            let data = json!({"Client": client, "Server": server_value});
            let text = Template::parse(&go_field_names(f))?.execute(&data)?;
            out(ctx, &format!("{text}\n"))?;
        }
        _ => out(ctx, &version_text(&client, server.as_ref().ok()))?,
    }
    match server {
        Ok(_) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

pub fn df(ctx: &mut Ctx<'_>, a: &DfArgs) -> Result<i32, CliError> {
    let df = ctx.client.system_df()?;
    if a.verbose
        && a.format
            .as_deref()
            .is_none_or(|f| f.is_empty() || f == "table")
    {
        let text = crate::format::df_verbose(&df, now_unix())?;
        out(ctx, &text)?;
        return Ok(0);
    }
    let format = match &a.format {
        Some(f) if !f.is_empty() && f != "table" => f.clone(),
        _ => DF_DEFAULT.to_string(),
    };
    let text = template::render_table(&format, &df_rows(&df), &df_headers())?;
    out(ctx, &text)?;
    Ok(0)
}

pub fn events(ctx: &mut Ctx<'_>, a: &EventsArgs) -> Result<i32, CliError> {
    let now = now_unix();
    let ts = |v: &Option<String>| -> Result<String, CliError> {
        match v {
            Some(s) if !s.is_empty() => {
                get_timestamp(s, now).map_err(|e| CliError::msg(e.to_string()))
            }
            _ => Ok(String::new()),
        }
    };
    let opts = EventsOptions {
        since: ts(&a.since)?,
        until: ts(&a.until)?,
        filters: parse_filters(&a.filter)?,
    };
    let template = match &a.format {
        Some(f) if !f.is_empty() => Some(Template::parse(&template::row_format(f))?),
        _ => None,
    };
    for event in ctx.client.events(&opts)? {
        let event = event?;
        let line = match &template {
            Some(t) => {
                let v = serde_json::to_value(&event).map_err(|e| CliError::msg(e.to_string()))?;
                t.execute(&v)?
            }
            None => event_line(&event),
        };
        out(ctx, &format!("{line}\n"))?;
    }
    Ok(0)
}

pub fn stats(ctx: &mut Ctx<'_>, a: &StatsArgs) -> Result<i32, CliError> {
    let names: Vec<String> = if a.containers.is_empty() {
        ctx.client
            .list_containers(&ListContainersOptions {
                all: a.all,
                ..Default::default()
            })?
            .into_iter()
            .map(|c| c.id)
            .collect()
    } else {
        a.containers.clone()
    };
    let format = match &a.format {
        Some(f) if !f.is_empty() && f != "table" => f.clone(),
        _ => STATS_DEFAULT.to_string(),
    };
    let trunc = !a.no_trunc;
    let render = |rows: &BTreeMap<usize, Value>| {
        let rows: Vec<Value> = rows.values().cloned().collect();
        template::render_table(&format, &rows, &stats_headers())
    };
    if a.no_stream {
        let mut rows = BTreeMap::new();
        let mut failed = false;
        for (i, name) in names.iter().enumerate() {
            match ctx
                .client
                .stats(name, false)
                .and_then(|mut s| s.next().transpose().map(|o| o.unwrap_or_default()))
            {
                Ok(s) => {
                    rows.insert(i, stats_row(&s, name, trunc));
                }
                Err(e) => {
                    failed = true;
                    let _ = writeln!(ctx.err, "{e}");
                }
            }
        }
        out(ctx, &render(&rows)?)?;
        return Ok(i32::from(failed));
    }
    let rows: Arc<Mutex<BTreeMap<usize, Value>>> = Arc::default();
    let mut handles = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let stream = ctx.client.stats(name, true)?;
        let rows = Arc::clone(&rows);
        let name = name.clone();
        handles.push(thread::spawn(move || {
            for s in stream.flatten() {
                if let Ok(mut r) = rows.lock() {
                    r.insert(i, stats_row(&s, &name, trunc));
                }
            }
        }));
    }
    loop {
        thread::sleep(Duration::from_millis(500));
        let snapshot = rows.lock().map(|r| r.clone()).unwrap_or_default();
        // Clear the screen and redraw, as docker does on a terminal.
        out(ctx, &format!("\x1b[2J\x1b[H{}", render(&snapshot)?))?;
        if handles.iter().all(|h| h.is_finished()) {
            return Ok(0);
        }
    }
}
