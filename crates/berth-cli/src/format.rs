//! docker's list formats: the fields `--format` sees for `ps`, `images`, `history`,
//! `stats`, `system df` and `events`, their table headers and default layouts, and
//! the indented JSON of `inspect`.

use berth_api_types::container::{ContainerSummary, Stats};
use berth_api_types::image::{ImageHistoryItem, ImageSummary};
use berth_api_types::system::EventMessage;
use berth_types::time::{format_rfc3339, Precision};
use serde_json::{json, Map, Value};

use crate::template::{self, headers, Method, TemplateError};
use crate::units::{bytes_size, go_time_string, human_duration, human_size, human_size_prec};

/// The first 12 characters of an id, without its `sha256:` prefix.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

/// docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub use berth_types::gofmt::quote as go_quote;

pub const PS_DEFAULT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub fn ps_headers() -> std::collections::HashMap<String, String> {
    headers(&[
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Names", "NAMES"),
        ("Labels", "LABELS"),
        ("Label", "LABEL"),
        ("Mounts", "MOUNTS"),
        ("Networks", "NETWORKS"),
        ("State", "STATE"),
        ("LocalVolumes", "LOCAL VOLUMES"),
    ])
}

/// `{{.Label "key"}}` on a `ps` row: the value of that label, "" when absent.
fn label_method(row: &Value, key: &str) -> Value {
    let labels = row.get("Labels").and_then(Value::as_str).unwrap_or("");
    for pair in labels.split(',') {
        if let Some((k, v)) = pair.split_once('=') {
            if k == key {
                return Value::String(v.to_string());
            }
        }
    }
    Value::String(String::new())
}

pub const PS_METHODS: &[(&str, Method)] = &[("Label", label_method)];

fn display_ports(c: &ContainerSummary) -> String {
    let mut ports: Vec<_> = c.ports.iter().collect();
    ports.sort_by(|a, b| {
        (a.private_port, &a.kind, a.public_port, &a.ip).cmp(&(
            b.private_port,
            &b.kind,
            b.public_port,
            &b.ip,
        ))
    });
    ports
        .iter()
        .map(|p| {
            if p.public_port == 0 {
                format!("{}/{}", p.private_port, p.kind)
            } else {
                let ip = if p.ip.contains(':') {
                    format!("[{}]", p.ip)
                } else {
                    p.ip.clone()
                };
                format!("{ip}:{}->{}/{}", p.public_port, p.private_port, p.kind)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One `ps` row as templates see it.
pub fn ps_row(c: &ContainerSummary, trunc: bool, now: i64) -> Value {
    let id = if trunc { short_id(&c.id) } else { c.id.clone() };
    // docker shortens the image only when it is the image's id.
    let image = if trunc && !c.image_id.is_empty() && short_id(&c.image_id) == short_id(&c.image) {
        short_id(&c.image)
    } else {
        c.image.clone()
    };
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let names: Vec<String> = c
        .names
        .iter()
        .map(|n| n.strip_prefix('/').unwrap_or(n).to_string())
        // Link names (`/other/alias`) show only with --no-trunc.
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    let rw = human_size_prec(c.size_rw.unwrap_or(0) as f64, 3);
    let size = match c.size_root_fs {
        Some(root) if root > 0 => {
            format!("{rw} (virtual {})", human_size_prec(root as f64, 3))
        }
        _ => rw,
    };
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            if !m.name.is_empty() {
                if trunc {
                    ellipsis(&m.name, 15)
                } else {
                    m.name.clone()
                }
            } else if trunc {
                ellipsis(&m.source, 15)
            } else {
                m.source.clone()
            }
        })
        .collect();
    let networks: Vec<String> = c
        .network_settings
        .as_ref()
        .map(|n| n.networks.keys().cloned().collect())
        .unwrap_or_default();
    let local_volumes = c.mounts.iter().filter(|m| m.kind == "volume").count();
    json!({
        "ID": id,
        "Image": image,
        "Command": go_quote(&command),
        "CreatedAt": go_time_string(c.created),
        "RunningFor": format!("{} ago", human_duration(now - c.created)),
        "Ports": display_ports(c),
        "Status": c.status,
        "Size": size,
        "Names": names.join(","),
        "Labels": labels.join(","),
        "Mounts": mounts.join(","),
        "Networks": networks.join(","),
        "State": c.state,
        "LocalVolumes": local_volumes.to_string(),
        // Current docker lists the platform (null when the daemon does not say).
        "Platform": Value::Null,
    })
}

/// Renders `ps` rows with `format` (docker's default table when None).
pub fn render_ps(
    list: &[ContainerSummary],
    format: Option<&str>,
    quiet: bool,
    size: bool,
    trunc: bool,
    now: i64,
) -> Result<String, TemplateError> {
    let default = if size {
        format!("{PS_DEFAULT}\t{{{{.Size}}}}")
    } else {
        PS_DEFAULT.to_string()
    };
    let format = match format {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        Some("table") => default,
        _ if quiet => "{{.ID}}".into(),
        _ => default,
    };
    let rows: Vec<Value> = list.iter().map(|c| ps_row(c, trunc, now)).collect();
    if let Some(text) = json_rows(&format, &rows) {
        return Ok(text);
    }
    template::render_table_with(&format, &rows, &ps_headers(), PS_METHODS)
}

pub const IMAGES_DEFAULT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
pub const IMAGES_DIGESTS: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

pub fn images_headers() -> std::collections::HashMap<String, String> {
    headers(&[
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
    ])
}

/// `repo:tag` → (repo, tag); `repo@digest` → (repo, digest).
fn split_ref(r: &str, sep: char) -> Option<(String, String)> {
    // The separator after the last `/` (a registry's port has a colon too).
    let slash = r.rfind('/').map_or(0, |i| i + 1);
    let at = r[slash..].find(sep)? + slash;
    Some((r[..at].to_string(), r[at + 1..].to_string()))
}

/// The rows `images` prints for one image: one per tag (and per digest with
/// `--digests`), or `<none>` rows.
pub fn image_rows(img: &ImageSummary, digests: bool, trunc: bool, now: i64) -> Vec<Value> {
    let row = |repo: &str, tag: &str, digest: &str| {
        json!({
            "Repository": repo,
            "Tag": tag,
            "Digest": digest,
            "ID": if trunc { short_id(&img.id) } else { img.id.clone() },
            "CreatedSince": format!("{} ago", human_duration(now - img.created)),
            "CreatedAt": go_time_string(img.created),
            "Size": human_size_prec(img.size as f64, 3),
            "Containers": if img.containers < 0 { "N/A".to_string() } else { img.containers.to_string() },
            "SharedSize": if img.shared_size < 0 { "N/A".to_string() } else { human_size_prec(img.shared_size as f64, 3) },
            "UniqueSize": if img.shared_size < 0 { "N/A".to_string() } else { human_size_prec((img.size - img.shared_size) as f64, 3) },
                        // docker computes it from Size (VirtualSize is deprecated), precision 4.
            "VirtualSize": human_size(img.size as f64),
        })
    };
    let mut tags: Vec<(String, Vec<String>)> = Vec::new();
    for t in &img.repo_tags {
        if let Some((repo, tag)) = split_ref(t, ':') {
            match tags.iter_mut().find(|(r, _)| *r == repo) {
                Some((_, v)) => v.push(tag),
                None => tags.push((repo, vec![tag])),
            }
        }
    }
    let mut dgs: Vec<(String, Vec<String>)> = Vec::new();
    for d in &img.repo_digests {
        if let Some((repo, dg)) = split_ref(d, '@') {
            match dgs.iter_mut().find(|(r, _)| *r == repo) {
                Some((_, v)) => v.push(dg),
                None => dgs.push((repo, vec![dg])),
            }
        }
    }
    let mut rows = Vec::new();
    for (repo, repo_tags) in &tags {
        let pos = dgs.iter().position(|(r, _)| r == repo);
        let its = pos.map(|p| dgs.remove(p).1).unwrap_or_default();
        for tag in repo_tags {
            if its.is_empty() || !digests {
                rows.push(row(repo, tag, "<none>"));
            } else {
                for d in &its {
                    rows.push(row(repo, tag, d));
                }
            }
        }
    }
    for (repo, ds) in &dgs {
        if digests {
            for d in ds {
                rows.push(row(repo, "<none>", d));
            }
        } else {
            rows.push(row(repo, "<none>", ""));
        }
    }
    if img.repo_tags.is_empty() && img.repo_digests.is_empty() {
        rows.push(row("<none>", "<none>", "<none>"));
    }
    rows
}

pub fn render_images(
    list: &[ImageSummary],
    format: Option<&str>,
    quiet: bool,
    digests: bool,
    trunc: bool,
    now: i64,
) -> Result<String, TemplateError> {
    let default = if digests {
        IMAGES_DIGESTS
    } else {
        IMAGES_DEFAULT
    };
    let format = match format {
        Some(f) if !f.is_empty() && f != "table" => f,
        // One id per row, as docker prints them (an image with two tags twice).
        _ if quiet => "{{.ID}}",
        _ => default,
    };
    let rows: Vec<Value> = list
        .iter()
        .flat_map(|i| image_rows(i, digests, trunc, now))
        .collect();
    if let Some(text) = json_rows(format, &rows) {
        return Ok(text);
    }
    template::render_table(format, &rows, &images_headers())
}

pub const HISTORY_DEFAULT: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
/// `history -H=false`: dates as RFC 3339, sizes in bytes.
pub const HISTORY_NON_HUMAN: &str =
    "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

pub fn history_headers() -> std::collections::HashMap<String, String> {
    headers(&[
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ])
}

/// One `history` row as templates see it (docker's `historyContext`).
pub fn history_row(h: &ImageHistoryItem, human: bool, trunc: bool, now: i64) -> Value {
    let created_at = format_rfc3339(i128::from(h.created) * 1_000_000_000, Precision::Seconds);
    let created_by = h.created_by.replace('\t', " ");
    json!({
        "ID": if trunc { short_id(&h.id) } else { h.id.clone() },
        "CreatedSince": if human {
            format!("{} ago", human_duration(now - h.created))
        } else {
            created_at.clone()
        },
        "CreatedAt": created_at,
        "CreatedBy": if trunc { ellipsis(&created_by, 45) } else { created_by },
        "Size": if human { human_size_prec(h.size as f64, 3) } else { h.size.to_string() },
        "Comment": h.comment,
    })
}

/// `docker history`: the default table (human or not), ids only with `quiet`, or
/// the user's `--format` (which wins over `quiet`, as in docker).
pub fn render_history(
    items: &[ImageHistoryItem],
    format: Option<&str>,
    quiet: bool,
    human: bool,
    trunc: bool,
    now: i64,
) -> Result<String, TemplateError> {
    let format = match format {
        Some(f) if !f.is_empty() && f != "table" => f,
        _ if quiet => "{{.ID}}",
        _ if human => HISTORY_DEFAULT,
        _ => HISTORY_NON_HUMAN,
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|h| history_row(h, human, trunc, now))
        .collect();
    if let Some(text) = json_rows(format, &rows) {
        return Ok(text);
    }
    template::render_table(format, &rows, &history_headers())
}

pub const STATS_DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

pub fn stats_headers() -> std::collections::HashMap<String, String> {
    headers(&[
        ("ID", "CONTAINER ID"),
        ("Container", "CONTAINER"),
        ("Name", "NAME"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
    ])
}

/// CPU % as docker computes it: the container's share of the host's CPU time since
/// the previous sample, times the number of CPUs.
pub fn cpu_percent(s: &Stats) -> f64 {
    let cpu_delta =
        s.cpu_stats.cpu_usage.total_usage as f64 - s.precpu_stats.cpu_usage.total_usage as f64;
    let system_delta = s.cpu_stats.system_cpu_usage as f64 - s.precpu_stats.system_cpu_usage as f64;
    let mut cpus = s.cpu_stats.online_cpus as f64;
    if cpus == 0.0 {
        cpus = s.cpu_stats.cpu_usage.percpu_usage.len() as f64;
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * cpus * 100.0
    } else {
        0.0
    }
}

/// Memory in use without the page cache, as docker shows it (cgroup v1 and v2 keys).
pub fn mem_usage(s: &Stats) -> f64 {
    let usage = s.memory_stats.usage;
    let cache = s
        .memory_stats
        .stats
        .get("total_inactive_file")
        .or_else(|| s.memory_stats.stats.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    if cache < usage {
        (usage - cache) as f64
    } else {
        usage as f64
    }
}

/// One `stats` row as templates see it.
pub fn stats_row(s: &Stats, container: &str, trunc: bool) -> Value {
    let mem = mem_usage(s);
    let limit = s.memory_stats.limit as f64;
    let mem_perc = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0f64, 0f64);
    for n in s.networks.iter().flat_map(|m| m.values()) {
        rx += n.rx_bytes as f64;
        tx += n.tx_bytes as f64;
    }
    let (mut read, mut write) = (0f64, 0f64);
    for e in s.blkio_stats.io_service_bytes_recursive.iter().flatten() {
        match e.op.to_ascii_lowercase().as_str() {
            "read" => read += e.value as f64,
            "write" => write += e.value as f64,
            _ => {}
        }
    }
    let id = if trunc { short_id(&s.id) } else { s.id.clone() };
    json!({
        "ID": id,
        "Container": container,
        "Name": s.name.strip_prefix('/').unwrap_or(&s.name),
        "CPUPerc": format!("{:.2}%", cpu_percent(s)),
        "MemUsage": format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", human_size_prec(rx, 3), human_size_prec(tx, 3)),
        "BlockIO": format!("{} / {}", human_size_prec(read, 3), human_size_prec(write, 3)),
        "PIDs": s.pids_stats.current.to_string(),
    })
}

/// `{{json .}}` (or `json`) over list rows: docker marshals its row contexts with
/// `json.Marshal`, which escapes `<`, `>` and `&`; the template's `json` does not.
fn json_rows(format: &str, rows: &[Value]) -> Option<String> {
    let f = template::row_format(format);
    if f.trim() != "{{json .}}" && f.trim() != "json" {
        return None;
    }
    let mut out = String::new();
    for row in rows {
        let text = serde_json::to_string(row).expect("JSON values always serialise");
        out.push_str(
            &text
                .replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026")
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029"),
        );
        out.push('\n');
    }
    Some(out)
}

/// One event as `events` prints it without `--format`.
pub fn event_line(e: &EventMessage) -> String {
    let time = if e.time_nano != 0 {
        format_rfc3339(i128::from(e.time_nano), Precision::NanosFixed)
    } else {
        format_rfc3339(i128::from(e.time) * 1_000_000_000, Precision::NanosFixed)
    };
    let mut line = format!("{time} {} {} {}", e.kind, e.action, e.actor.id);
    if !e.actor.attributes.is_empty() {
        let attrs: Vec<String> = e
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        line.push_str(&format!(" ({})", attrs.join(", ")));
    }
    line
}

/// Go's `json.Indent` with `prefix` "" and `indent`: re-indents JSON text keeping its
/// key order and escapes; empty objects and arrays stay `{}` and `[]`.
pub fn indent_json(raw: &[u8], indent: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let text = String::from_utf8_lossy(raw);
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    let mut need_indent = false;
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if need_indent && c != ']' && c != '}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                out.push('"');
                while let Some(d) = chars.next() {
                    out.push(d);
                    if d == '\\' {
                        if let Some(e) = chars.next() {
                            out.push(e);
                        }
                    } else if d == '"' {
                        break;
                    }
                }
            }
            '{' | '[' => {
                out.push(c);
                need_indent = true;
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            '}' | ']' => {
                if need_indent {
                    // Empty: `{}` / `[]`.
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `inspect`'s output: the raw elements in a JSON array, indented 4 spaces.
pub fn inspect_array(elements: &[Vec<u8>]) -> String {
    let mut raw = Vec::from(&b"["[..]);
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            raw.push(b',');
        }
        raw.extend_from_slice(e);
    }
    raw.push(b']');
    indent_json(&raw, "    ")
}

/// Sizes for `system df`.
pub fn df_rows(df: &berth_api_types::system::SystemDf) -> Vec<Value> {
    let pct = |reclaimable: i64, total: i64| {
        if total > 0 {
            format!(
                "{} ({}%)",
                human_size(reclaimable as f64),
                reclaimable * 100 / total
            )
        } else {
            human_size(reclaimable as f64)
        }
    };
    let images_total = df.layers_size;
    let used: i64 = df
        .images
        .iter()
        .filter(|i| i.containers > 0 && i.virtual_size >= 0 && i.shared_size >= 0)
        .map(|i| i.virtual_size - i.shared_size)
        .sum();
    let active_images = df.images.iter().filter(|i| i.containers > 0).count();
    let ctr_size: i64 = df.containers.iter().filter_map(|c| c.size_rw).sum();
    let active = |c: &&berth_api_types::container::ContainerSummary| {
        c.state == "running" || c.state == "paused" || c.state == "restarting"
    };
    let ctr_active = df.containers.iter().filter(active).count();
    let ctr_reclaim: i64 = df
        .containers
        .iter()
        .filter(|c| !active(c))
        .filter_map(|c| c.size_rw)
        .sum();
    let vol_size: i64 = df
        .volumes
        .iter()
        .filter_map(|v| v.usage_data.as_ref())
        .filter(|u| u.size >= 0)
        .map(|u| u.size)
        .sum();
    let vol_active = df
        .volumes
        .iter()
        .filter(|v| v.usage_data.as_ref().is_some_and(|u| u.ref_count > 0))
        .count();
    let vol_reclaim: i64 = df
        .volumes
        .iter()
        .filter_map(|v| v.usage_data.as_ref())
        .filter(|u| u.ref_count == 0 && u.size >= 0)
        .map(|u| u.size)
        .sum();
    let bc_size: i64 = df
        .build_cache
        .iter()
        .filter(|b| !b.shared)
        .map(|b| b.size)
        .sum();
    let bc_reclaim: i64 = df
        .build_cache
        .iter()
        .filter(|b| !b.shared && !b.in_use)
        .map(|b| b.size)
        .sum();
    let row = |t: &str, total: usize, active: usize, size: i64, rec: String| {
        json!({"Type": t, "TotalCount": total.to_string(), "Active": active.to_string(),
               "Size": human_size(size as f64), "Reclaimable": rec})
    };
    vec![
        row(
            "Images",
            df.images.len(),
            active_images,
            images_total,
            pct(images_total - used, images_total),
        ),
        row(
            "Containers",
            df.containers.len(),
            ctr_active,
            ctr_size,
            pct(ctr_reclaim, ctr_size),
        ),
        row(
            "Local Volumes",
            df.volumes.len(),
            vol_active,
            vol_size,
            pct(vol_reclaim, vol_size),
        ),
        row(
            "Build Cache",
            df.build_cache.len(),
            df.build_cache.iter().filter(|b| b.in_use).count(),
            bc_size,
            human_size(bc_reclaim as f64),
        ),
    ]
}

pub const DF_DEFAULT: &str =
    "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

pub fn df_headers() -> std::collections::HashMap<String, String> {
    headers(&[
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ])
}

pub const VOLUMES_DEFAULT: &str = "table {{.Driver}}\t{{.Name}}";

pub fn volumes_headers() -> std::collections::HashMap<String, String> {
    headers(&[
        ("Name", "VOLUME NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Label", "LABEL"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
    ])
}

/// One `volume ls` row, with docker's field names (`Links` and `Size` are `N/A`
/// outside `system df`).
pub fn volume_row(v: &berth_api_types::volume::Volume) -> Value {
    let labels: Vec<String> = v
        .labels
        .iter()
        .map(|(k, val)| format!("{k}={val}"))
        .collect();
    let (links, size) = match &v.usage_data {
        Some(u) => (
            u.ref_count.to_string(),
            if u.size >= 0 {
                human_size(u.size as f64)
            } else {
                "N/A".into()
            },
        ),
        None => ("N/A".into(), "N/A".into()),
    };
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Scope": v.scope,
        "Mountpoint": v.mountpoint,
        "Labels": labels.join(","),
        "Links": links,
        "Size": size,
        "Group": "",
        "Availability": "N/A",
        "Status": "N/A",
    })
}

/// Renders `volume ls` (docker's default table, names only with `quiet`).
pub fn render_volumes(
    list: &[berth_api_types::volume::Volume],
    format: Option<&str>,
    quiet: bool,
) -> Result<String, TemplateError> {
    let format = match format {
        Some(f) if !f.is_empty() && f != "table" => f,
        _ if quiet => "{{.Name}}",
        _ => VOLUMES_DEFAULT,
    };
    let rows: Vec<Value> = list.iter().map(volume_row).collect();
    if let Some(text) = json_rows(format, &rows) {
        return Ok(text);
    }
    template::render_table_with(format, &rows, &volumes_headers(), PS_METHODS)
}

pub const NETWORKS_DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

pub fn networks_headers() -> std::collections::HashMap<String, String> {
    headers(&[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("Label", "LABEL"),
        ("CreatedAt", "CREATED AT"),
    ])
}

/// One `network ls` row, with docker's field names.
pub fn network_row(n: &berth_api_types::network::NetworkResource, trunc: bool) -> Value {
    let labels: Vec<String> = n
        .labels
        .iter()
        .map(|(k, val)| format!("{k}={val}"))
        .collect();
    // Go's time.String of a UTC time: `2026-12-05 22:47:36.746244504 +0000 UTC`.
    let created = n
        .created
        .strip_suffix('Z')
        .map(|t| format!("{} +0000 UTC", t.replacen('T', " ", 1)))
        .unwrap_or_else(|| n.created.clone());
    json!({
        "ID": if trunc { short_id(&n.id) } else { n.id.clone() },
        "Name": n.name,
        "Driver": n.driver,
        "Scope": n.scope,
        "IPv6": n.enable_ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "Labels": labels.join(","),
        "CreatedAt": created,
    })
}

/// Renders `network ls` (docker's default table, ids only with `quiet`).
pub fn render_networks(
    list: &[berth_api_types::network::NetworkResource],
    format: Option<&str>,
    quiet: bool,
    trunc: bool,
) -> Result<String, TemplateError> {
    let format = match format {
        Some(f) if !f.is_empty() && f != "table" => f,
        _ if quiet => "{{.ID}}",
        _ => NETWORKS_DEFAULT,
    };
    let rows: Vec<Value> = list.iter().map(|n| network_row(n, trunc)).collect();
    if let Some(text) = json_rows(format, &rows) {
        return Ok(text);
    }
    template::render_table_with(format, &rows, &networks_headers(), PS_METHODS)
}

/// `system df -v`: images, containers and volumes one by one, as docker lists them.
pub fn df_verbose(
    df: &berth_api_types::system::SystemDf,
    now: i64,
) -> Result<String, TemplateError> {
    let mut out = String::from("Images space usage:\n\n");
    let images: Vec<Value> = df
        .images
        .iter()
        .flat_map(|i| {
            image_rows(i, false, true, now)
                .into_iter()
                .map(move |mut row| {
                    let shared = if i.shared_size >= 0 { i.shared_size } else { 0 };
                    row["SharedSize"] = json!(human_size(shared as f64));
                    row["UniqueSize"] = json!(human_size((i.size - shared).max(0) as f64));
                    row["Containers"] = json!(i.containers.max(0).to_string());
                    row
                })
        })
        .collect();
    let mut h = images_headers();
    h.insert("SharedSize".into(), "SHARED SIZE".into());
    h.insert("UniqueSize".into(), "UNIQUE SIZE".into());
    h.insert("Containers".into(), "CONTAINERS".into());
    out.push_str(&template::render_table(
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        &images,
        &h,
    )?);
    out.push_str("\nContainers space usage:\n\n");
    let containers: Vec<Value> = df.containers.iter().map(|c| ps_row(c, true, now)).collect();
    out.push_str(&template::render_table(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
        &containers,
        &ps_headers(),
    )?);
    out.push_str("\nLocal Volumes space usage:\n\n");
    let volumes: Vec<Value> = df.volumes.iter().map(volume_row).collect();
    out.push_str(&template::render_table(
        "table {{.Name}}\t{{.Links}}\t{{.Size}}",
        &volumes,
        &volumes_headers(),
    )?);
    let bc: i64 = df
        .build_cache
        .iter()
        .filter(|b| !b.shared)
        .map(|b| b.size)
        .sum();
    out.push_str(&format!("\nBuild cache usage: {}\n", human_size(bc as f64)));
    Ok(out)
}

/// A JSON object of `pairs`, for templates.
pub fn object(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<Map<_, _>>(),
    )
}

/// `berth search`'s default table (docker 28's: the AUTOMATED column is gone).
pub const SEARCH_DEFAULT: &str =
    "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";

pub fn search_headers() -> std::collections::HashMap<String, String> {
    headers(&[
        ("Name", "NAME"),
        ("Description", "DESCRIPTION"),
        ("StarCount", "STARS"),
        ("IsOfficial", "OFFICIAL"),
        ("IsAutomated", "AUTOMATED"),
    ])
}

/// Renders `search` results: descriptions on one line, cut at 45 characters unless
/// `trunc` is off; `[OK]` for official (and automated) images.
pub fn render_search(
    results: &[berth_api_types::registry::ImageSearchResult],
    format: Option<&str>,
    trunc: bool,
) -> Result<String, TemplateError> {
    let format = match format {
        Some(f) if !f.is_empty() && f != "table" => f,
        _ => SEARCH_DEFAULT,
    };
    let ok = |b: bool| if b { "[OK]" } else { "" };
    let rows: Vec<Value> = results
        .iter()
        .map(|r| {
            let desc = r.description.replace('\n', " ");
            let desc = if trunc { ellipsis(&desc, 45) } else { desc };
            json!({
                "Name": r.name,
                "Description": desc,
                "StarCount": r.star_count.to_string(),
                "IsOfficial": ok(r.is_official),
                "IsAutomated": ok(r.is_automated),
            })
        })
        .collect();
    if let Some(text) = json_rows(format, &rows) {
        return Ok(text);
    }
    template::render_table(format, &rows, &search_headers())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api_types::container::{CpuStats, CpuUsage, MemoryStats};

    #[test]
    fn json_is_reindented_like_go_json_indent() {
        let raw = br#"{"a":"x{\"y\":[1]}","b":[],"c":{},"d":[1,{"e":null}]}"#;
        assert_eq!(
            indent_json(raw, "  "),
            "{\n  \"a\": \"x{\\\"y\\\":[1]}\",\n  \"b\": [],\n  \"c\": {},\n  \"d\": [\n    1,\n    {\n      \"e\": null\n    }\n  ]\n}"
        );
        assert_eq!(inspect_array(&[]), "[]");
    }

    #[test]
    fn history_rows_as_docker_shows_them() {
        let now = 1_795_363_200;
        let items = vec![
            ImageHistoryItem {
                id: format!("sha256:{}", "0123456789abcdef".repeat(4)),
                created: now - 3 * 86_400,
                created_by: "/bin/sh -c #(nop)\tCMD [\"sh\"]".into(),
                tags: vec!["busybox:latest".into()],
                size: 0,
                comment: String::new(),
            },
            ImageHistoryItem {
                id: "<missing>".into(),
                created: now - 3 * 86_400,
                created_by: "x".repeat(60),
                tags: Vec::new(),
                size: 4_260_000,
                comment: "imported".into(),
            },
        ];
        let t = render_history(&items, None, false, true, true, now).unwrap();
        print!("{t}");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        let cut = format!("{}…", "x".repeat(44));
        assert_eq!(
            lines[0].trim_end(),
            format!(
                "{:<15}{:<13}{:<48}{:<10}COMMENT",
                "IMAGE", "CREATED", "CREATED BY", "SIZE"
            )
        );
        assert_eq!(
            lines[1].trim_end(),
            format!(
                "{:<15}{:<13}{:<48}0B",
                "0123456789ab", "3 days ago", "/bin/sh -c #(nop) CMD [\"sh\"]"
            )
        );
        assert_eq!(
            lines[2],
            format!(
                "{:<15}{:<13}{}   {:<10}imported",
                "<missing>", "3 days ago", cut, "4.26MB"
            )
        );

        let q = render_history(&items, None, true, true, false, now).unwrap();
        assert_eq!(q, format!("{}\n<missing>\n", items[0].id));
        let raw = render_history(
            &items,
            Some("{{.CreatedSince}}|{{.CreatedAt}}|{{.Size}}|{{.CreatedBy}}"),
            true,
            false,
            false,
            now,
        )
        .unwrap();
        assert_eq!(
            raw.lines().nth(1).unwrap(),
            format!(
                "2026-11-19T16:00:00Z|2026-11-19T16:00:00Z|4260000|{}",
                "x".repeat(60)
            )
        );
        let non_human = render_history(&items, None, false, false, true, now).unwrap();
        assert!(
            non_human.starts_with("IMAGE          CREATED AT "),
            "{non_human}"
        );
        let j = render_history(&items, Some("{{json .}}"), false, true, true, now).unwrap();
        let v: Value = serde_json::from_str(j.lines().nth(1).unwrap()).unwrap();
        assert_eq!(v["ID"], "<missing>");
        assert_eq!(v["Comment"], "imported");
    }

    #[test]
    fn events_print_as_docker_prints_them() {
        let e: EventMessage = serde_json::from_str(
            r#"{"Type":"container","Action":"start","Actor":{"ID":"4f66ad9a0b2e","Attributes":{"name":"web","image":"busybox"}},"time":1795371781,"timeNano":1795371781123456789}"#,
        )
        .unwrap();
        assert_eq!(
            event_line(&e),
            "2026-11-22T18:23:01.123456789Z container start 4f66ad9a0b2e (image=busybox, name=web)"
        );
    }

    #[test]
    fn stats_cpu_and_memory_as_docker_computes_them() {
        let s = Stats {
            id: "4a5b6c7d8e9f0011".into(),
            name: "/web".into(),
            cpu_stats: CpuStats {
                cpu_usage: CpuUsage {
                    total_usage: 400_000_000,
                    ..Default::default()
                },
                system_cpu_usage: 20_000_000_000,
                online_cpus: 2,
                ..Default::default()
            },
            precpu_stats: CpuStats {
                cpu_usage: CpuUsage {
                    total_usage: 200_000_000,
                    ..Default::default()
                },
                system_cpu_usage: 18_000_000_000,
                online_cpus: 2,
                ..Default::default()
            },
            memory_stats: MemoryStats {
                usage: 12 * 1024 * 1024,
                limit: 1024 * 1024 * 1024,
                stats: [("inactive_file".to_string(), 2 * 1024 * 1024)].into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let row = stats_row(&s, "web", true);
        assert_eq!(row["CPUPerc"], "20.00%");
        assert_eq!(row["MemUsage"], "10MiB / 1GiB");
        assert_eq!(row["MemPerc"], "0.98%");
        assert_eq!(row["Name"], "web");
        assert_eq!(row["ID"], "4a5b6c7d8e9f");
        assert_eq!(row["NetIO"], "0B / 0B");
    }

    #[test]
    fn command_is_quoted_and_cut_to_20() {
        assert_eq!(
            ellipsis("sh -c 'while true; do sleep 1; done'", 20),
            "sh -c 'while true; …"
        );
        assert_eq!(ellipsis("short", 20), "short");
        assert_eq!(go_quote("a \"b\"\n"), "\"a \\\"b\\\"\\n\"");
    }
}
